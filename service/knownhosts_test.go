package service

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func newHostKey(t testing.TB) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func hashed(name string) string {
	salt := []byte("0123456789abcdefghij")
	m := hmac.New(sha1.New, salt)
	m.Write([]byte(name))
	return "|1|" + base64.StdEncoding.EncodeToString(salt) + "|" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestKnownHostKeys(t *testing.T) {
	dir := t.TempDir()
	a, b, c, d, e, rv := newHostKey(t), newHostKey(t), newHostKey(t), newHostKey(t), newHostKey(t), newHostKey(t)
	user := filepath.Join(dir, "known_hosts")
	system := filepath.Join(dir, "ssh_known_hosts")
	os.WriteFile(user, []byte(strings.Join([]string{
		"# comment",
		"",
		"dumps.example,10.0.2.100 " + a,
		"[dumps.example]:2222 " + b,
		hashed("10.0.2.100") + " " + c,
		"*.example,!dumps.example " + d,
		"other.example " + e,
		"@revoked * " + rv,
		"dumps.example " + rv,
		"@cert-authority *.example " + e,
		"dumps.example not-a-key-type AAAA",
	}, "\n")+"\n"), 0o600)
	os.WriteFile(system, []byte("dump?.exam* "+e+"\n"), 0o644)
	keys, err := KnownHostKeys([]string{user, system, filepath.Join(dir, "missing")}, 22, "dumps.example", "10.0.2.100")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.From)
	}
	// a (line 3), c hashed (5), e by wildcard from the system file; not b (other
	// port), d (negated), the revoked key, nor the CA line.
	want := user + ":3 " + user + ":5 " + system + ":1"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %s\nwant %s", strings.Join(got, " "), want)
	}
	if keys[0].Key != a || keys[1].Key != c || keys[2].Key != e {
		t.Error("keys differ")
	}
	keys, err = KnownHostKeys([]string{user}, 2222, "dumps.example", "10.0.2.100")
	if err != nil || len(keys) != 1 || keys[0].Key != b {
		t.Fatalf("port 2222: %v %v", keys, err)
	}
	_, err = KnownHostKeys([]string{user}, 22, "unknown.invalid", "192.0.2.1")
	if !errors.Is(err, ErrNoHostKey) || !strings.Contains(err.Error(), "no trust on first use") {
		t.Fatal(err)
	}
}

func FuzzKnownHosts(f *testing.F) {
	f.Add([]byte("dumps.example,10.0.2.100 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHiRKvTR0NHYSBRhk6tZlGAsTzWnW5NHlzhE2TspfB5Z\n"), "dumps.example")
	f.Add([]byte("|1|MDEyMzQ1Njc4OWFiY2RlZmdoaWo=|AAAA *.ex?mple ssh-rsa AAAA\n@revoked * x\n"), "a.example")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		keys, _, err := parseKnownHosts(strings.NewReader(string(data)), "fuzz", 22, []string{name})
		if err != nil {
			return
		}
		for _, k := range keys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key)); err != nil {
				t.Fatalf("returned key %q does not parse: %v", k.Key, err)
			}
		}
	})
}
