package target

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

func sshTarget(t *testing.T, srv *sshtest.Server) *SSH {
	key := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(key, srv.UserKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return &SSH{Addr: "127.0.0.1", Port: srv.Addr.Port, User: "root", KeyFile: key,
		HostKeys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))}, Wait: 5 * time.Second}
}

func mode(t *testing.T, p string) os.FileMode {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestSSHSFTP(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	s := sshTarget(t, srv)
	d, err := s.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Sequential() {
		t.Fatalf("no SFTP: %v", d.SFTPErr)
	}
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "var/crash")
	dir := filepath.Join(base, "host-2026-12-07-00:30:00")
	if err := d.MkdirAll(ctx, base); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir(ctx, dir); err == nil {
		t.Error("Mkdir of an existing directory succeeded")
	}
	f, err := d.Create(filepath.Join(dir, "vmcore-incomplete"))
	if err != nil {
		t.Fatal(err)
	}
	// Random access: the header last, as the kdump writer does.
	if _, err := f.WriteAt([]byte("pages"), 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("KDUMP   "), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename(ctx, filepath.Join(dir, "vmcore-incomplete"), filepath.Join(dir, "vmcore")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(ctx, filepath.Join(dir, "vmcore-dmesg.txt"), []byte("log\n")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "vmcore"))
	if err != nil || len(got) != 4101 || string(got[:8]) != "KDUMP   " || string(got[4096:]) != "pages" {
		t.Fatalf("%d bytes %v", len(got), err)
	}
	if m := mode(t, filepath.Join(dir, "vmcore")); m != 0o600 {
		t.Errorf("vmcore mode %o", m)
	}
	if m := mode(t, filepath.Join(dir, "vmcore-dmesg.txt")); m != 0o600 {
		t.Errorf("dmesg mode %o", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o", m)
	}
	if len(srv.Commands()) != 0 {
		t.Errorf("commands run with SFTP there: %q", srv.Commands())
	}
}

func TestSSHNoSFTP(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{NoSFTP: true, Path: "/usr/bin:/bin"})
	s := sshTarget(t, srv)
	d, err := s.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Sequential() {
		t.Fatal("SFTP used though refused")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "crash/h-2026-12-07-00:30:00")
	if err := d.MkdirAll(ctx, filepath.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	w, err := d.CreateStream(ctx, filepath.Join(dir, "vmcore.flat"))
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("flattened ", 100000)
	if _, err := io.Copy(w, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "vmcore.flat"))
	if string(got) != data {
		t.Fatalf("%d bytes on the server, want %d", len(got), len(data))
	}
	if m := mode(t, filepath.Join(dir, "vmcore.flat")); m != 0o600 {
		t.Errorf("mode %o", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o", m)
	}
	if ok, err := d.Reassemble(ctx, filepath.Join(dir, "vmcore.flat"), filepath.Join(dir, "vmcore")); ok || err != nil {
		t.Errorf("Reassemble without gokdump on the PATH: %v %v", ok, err)
	}
	// Paths that a shell would read are never sent.
	if _, err := d.CreateStream(ctx, dir+"/x;reboot"); err == nil {
		t.Error("a path with ; was sent to the server")
	}
	for _, c := range srv.Commands() {
		if strings.ContainsAny(c, "$`'\"|") {
			t.Errorf("command %q", c)
		}
	}
}

func TestSSHWrongHostKeyRefusedAtOnce(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	s := sshTarget(t, srv)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	pk, _ := ssh.NewPublicKey(other)
	s.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))}
	s.Wait = 30 * time.Second
	start := time.Now()
	_, err := s.Connect(context.Background())
	if !errors.Is(err, ErrHostKey) {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a host key mismatch was retried: %s", time.Since(start))
	}
}

func TestSSHUnknownUserKeyRefused(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	s := sshTarget(t, srv)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(s.KeyFile, pemEncode(blk), 0o600)
	if _, err := s.Connect(context.Background()); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatal(err)
	}
}

func TestSSHServerDownBounded(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	s := sshTarget(t, srv)
	s.Port = 1 // nothing listens there
	s.Wait = 700 * time.Millisecond
	start := time.Now()
	_, err := s.Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gave up after 700ms") {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestSafeRemotePath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/var/crash/host-2026-12-07-00:30:00/vmcore": true,
		"/var/crash/a b":   false,
		"/var/crash/$(x)":  false,
		"var/crash":        false,
		"/var/../etc":      false,
		"/var/crash/-rf":   false,
		"/var/crash/x;y":   false,
		"/var/crash/x\ny":  false,
		"/srv/dumps.d/h_1": true,
	} {
		if SafeRemotePath(p) != ok {
			t.Errorf("%q: %v", p, !ok)
		}
	}
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }
