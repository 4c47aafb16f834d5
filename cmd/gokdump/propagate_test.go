package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestPropagate(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "ssh/kdump_id")
	conf := filepath.Join(dir, "kdump.conf")
	os.WriteFile(conf, []byte("ssh kdump@dumps.example:2222\nsshkey "+key+"\n"), 0o600)
	// A stand-in ssh client: records its arguments and what it was given.
	fake := filepath.Join(dir, "fake-ssh")
	os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+dir+"/argv\ncat > "+dir+"/stdin\n"), 0o755)

	code, out, errs := runCmd(t, "propagate", "--config", conf, "--ssh", fake)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v", fi, err)
	}
	if fi, _ := os.Stat(filepath.Dir(key)); fi.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(key)
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil || signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("%v", err)
	}
	sent, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if string(sent) != string(ssh.MarshalAuthorizedKey(signer.PublicKey())) {
		t.Errorf("sent %q", sent)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	if want := "-p\n2222\n-l\nkdump\n--\ndumps.example\n" + authorizeCommand + "\n"; string(argv) != want {
		t.Errorf("argv %q\nwant %q", argv, want)
	}
	// A second run keeps the key.
	code, out, _ = runCmd(t, "propagate", "--config", conf, "--ssh", fake)
	if again, _ := os.ReadFile(key); code != 0 || string(again) != string(data) || !strings.Contains(out, "existing key") {
		t.Errorf("second run: %d %s", code, out)
	}
	// Not an ssh target.
	os.WriteFile(conf, []byte("path /var/crash\n"), 0o600)
	if code, _, errs := runCmd(t, "propagate", "--config", conf, "--ssh", fake); code != 1 || !strings.Contains(errs, "no ssh target") {
		t.Errorf("%d %s", code, errs)
	}
}
