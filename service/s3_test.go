package service

import (
	"os"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

// TestCheckDirectivesS3: the upload directives arm, s3_capture yes too (what it needs
// is checked when the image is planned).
func TestCheckDirectivesS3(t *testing.T) {
	base := "s3_endpoint https://s3.example.net\ns3_bucket crashes\ns3_credentials /etc/gokdump/s3.cred\n"
	for _, text := range []string{base + "s3_capture no\n", base + "s3_capture yes\n"} {
		c, err := config.Parse(strings.NewReader(text), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckDirectives(c); err != nil {
			t.Errorf("%q: %v", text, err)
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

// TestPlanS3Capture: s3_capture yes puts the credentials into the image (mode 0600)
// and records the bucket; a credentials file others can read is refused with the
// line, as start must not arm a capture that cannot upload.
func TestPlanS3Capture(t *testing.T) {
	m, _, _ := networked(t)
	m.write("etc/gokdump/s3.cred", "access_key=a\nsecret_key=b\n")
	cred := m.path("etc/gokdump/s3.cred")
	os.Chmod(cred, 0o600)
	conf := "path /var/crash\ns3_endpoint http://10.0.2.100:8333\ns3_allow_http yes\ns3_bucket crashes\ns3_credentials " + cred + "\ns3_capture yes"
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, conf), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range p.Files {
		if f.Src == cred {
			found = f.Dest == S3CredentialsPath && f.Mode == 0o600
		}
	}
	r := p.Info.Remote
	if !found || r == nil || r.S3 == nil || r.S3.Bucket != "crashes" || r.S3.Port != 8333 || r.S3.Credentials != "/"+S3CredentialsPath || r.Network == nil {
		t.Fatalf("plan: credentials in the image %v, remote %+v", found, r)
	}
	os.Chmod(cred, 0o644)
	_, err = m.Plan(BuildOptions{Config: mustConfig(t, conf), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), ":6: s3_capture yes: the capture reads s3_credentials") {
		t.Errorf("credentials file 0644: %v", err)
	}
}
