package fleet

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

func TestParseCredentials(t *testing.T) {
	good, err := ParseCredentials(strings.NewReader("# fleet bucket\n\naccess_key = AK1\nsecret_key=s3cr/et+=x\nsession_token=tok\n"), "cred")
	if err != nil {
		t.Fatal(err)
	}
	if good != (Credentials{AccessKey: "AK1", SecretKey: "s3cr/et+=x", SessionToken: "tok"}) {
		t.Errorf("got %+v", good)
	}
	if s := good.String(); strings.Contains(s, "s3cr") {
		t.Errorf("String shows the secret: %q", s)
	}
	for _, tc := range []struct{ text, want string }{
		{"access_key=A\n", "cred: needs both"},
		{"access_key=A\nsecret_key=B\naccess_key=C\n", "cred:3: access_key given twice (first on line 1)"},
		{"access_key=A\nsecret\n", "cred:2: want key=value"},
		{"access_key=A\nsecret_key=\n", "cred:2: secret_key: empty value"},
		{"access_key=A\nsecret_key=a b\n", "cred:2: secret_key: the value must be printable ASCII"},
		{"region=x\n", "cred:1: unknown key \"region\""},
		{strings.Repeat("#", MaxCredentialsSize+1), "larger than"},
	} {
		_, err := ParseCredentials(strings.NewReader(tc.text), "cred")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "a b") {
			t.Errorf("%q: the error shows the secret: %v", tc.text, err)
		}
	}
}

// TestLoadCredentialsMode: a credentials file others can read, or that root does not
// own, is refused with its name; a 0600 file of root's is read.
func TestLoadCredentialsMode(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to own the file (CI runs as root)")
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "s3.cred")
	if err := os.WriteFile(name, []byte("access_key=A\nsecret_key=B\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := LoadCredentials(name); err != nil || c.AccessKey != "A" {
		t.Fatalf("0600 root file: %+v %v", c, err)
	}
	os.Chmod(name, 0o640)
	_, err := LoadCredentials(name)
	if !errors.Is(err, ErrCredentialsMode) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "0640") {
		t.Errorf("0640: got %v", err)
	}
	os.Chmod(name, 0o600)
	os.Chown(name, 65534, 0)
	_, err = LoadCredentials(name)
	if !errors.Is(err, ErrCredentialsMode) || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("owned by 65534: got %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(name, link)
	if _, err := LoadCredentials(link); err == nil {
		t.Error("a symlink was followed")
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParseCredentials: any text gives credentials or an error naming the file,
// never a panic, and an error never carries a secret_key value.
func FuzzParseCredentials(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentials(strings.NewReader(string(data)), "cred")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cred") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if c.AccessKey == "" || c.SecretKey == "" {
			t.Fatalf("accepted without both keys: %+v", c)
		}
		if strings.Contains(c.String(), c.SecretKey) && !strings.Contains(c.AccessKey, c.SecretKey) {
			t.Fatalf("String shows the secret")
		}
	})
}

var updateSeeds = flag.Bool("update", false, "rewrite testdata/fuzz seeds")

func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]any{
		"good":    {[]byte("access_key=AKIAEXAMPLE\nsecret_key=wJalrXUtnFEMI/K7MDENG\n")},
		"token":   {[]byte("# c\naccess_key = A\nsecret_key=B\nsession_token=T==\n")},
		"dup":     {[]byte("access_key=A\naccess_key=B\n")},
		"garbage": {[]byte("\x00\xff=\n=\n==\n")},
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzParseCredentials": seeds}, *updateSeeds,
		"go test ./fleet -run TestFuzzSeeds -update")
}
