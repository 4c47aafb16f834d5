package service

import (
	"os"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

// TestCheckDirectivesS3: the upload directives arm (they act in the first kernel);
// s3_capture yes is refused on its line, since the capture does not upload.
func TestCheckDirectivesS3(t *testing.T) {
	base := "s3_endpoint https://s3.example.net\ns3_bucket crashes\ns3_credentials /etc/gokdump/s3.cred\n"
	for _, tc := range []struct{ text, want string }{
		{base + "s3_capture no\n", ""},
		{base + "s3_capture yes\n", "kdump.conf:4: s3_capture yes: uploading from the capture kernel is not supported"},
	} {
		c, err := config.Parse(strings.NewReader(tc.text), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		err = CheckDirectives(c)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestUploadCredentialsWarning(t *testing.T) {
	dir := t.TempDir()
	cred := dir + "/s3.cred"
	parse := func() *config.Config {
		c, err := config.Parse(strings.NewReader("s3_endpoint https://s3.example.net\ns3_bucket crashes\ns3_credentials "+cred+"\n"), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if w := uploadCredentialsWarning(parse()); !strings.Contains(w, "kdump.conf:3: s3_credentials") || !strings.Contains(w, "no such file") {
		t.Errorf("missing file: %q", w)
	}
	os.WriteFile(cred, []byte("access_key=a\nsecret_key=b\n"), 0o644)
	if w := uploadCredentialsWarning(parse()); !strings.Contains(w, "mode 0644") {
		t.Errorf("0644: %q", w)
	}
	os.Chmod(cred, 0o600)
	if os.Getuid() == 0 {
		if w := uploadCredentialsWarning(parse()); w != "" {
			t.Errorf("0600 root file: %q", w)
		}
	}
}

// TestPlanLeavesCredentialsOut: with uploads configured, the capture initramfs holds
// the kdump.conf naming the credentials file but not the file itself.
func TestPlanLeavesCredentialsOut(t *testing.T) {
	m := newFakeMachine(t)
	m.write("etc/gokdump/s3.cred", "access_key=a\nsecret_key=b\n")
	cred := m.path("etc/gokdump/s3.cred")
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "path /var/crash\ns3_endpoint https://s3.example.net\ns3_bucket crashes\ns3_credentials "+cred),
		Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files {
		if f.Src == cred || strings.Contains(f.Dest, "s3.cred") {
			t.Errorf("the credentials file is in the image: %+v", f)
		}
	}
	if len(p.Files) == 0 {
		t.Fatal("a plan without files")
	}
}
