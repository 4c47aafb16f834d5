package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/synth"
)

// TestUploadCommand: without s3_endpoint or --store there is nothing to do (exit 0);
// with --store a saved dump goes to the directory store, and a second run finds it
// there; a credentials file others can read stops the run with its line and name.
func TestUploadCommand(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "kdump.conf")
	os.WriteFile(empty, nil, 0o600)
	if code, out, _ := runCmd(t, "upload", "--config", empty); code != 0 || !strings.Contains(out, "uploads are not configured") {
		t.Errorf("not configured: exit %d, %q", code, out)
	}
	if code, out, _ := runCmd(t, "upload", "--config", empty, "--quiet"); code != 0 || out != "" {
		t.Errorf("--quiet: exit %d, %q", code, out)
	}

	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dumps := filepath.Join(dir, "crash")
	os.Mkdir(dumps, 0o700)
	d, err := dumpdir.Create(dumps, "web-7", time.Unix(cfg.CrashTime+30, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, dumpdir.DumpFile), c.Image, 0o600)
	store := filepath.Join(dir, "store")
	code, out, errOut := runCmd(t, "upload", "--config", empty, "--dir", dumps, "--store", store)
	if code != 0 || !strings.Contains(out, "1 uploaded to "+store+" (1 whole, 0 sampled)") {
		t.Fatalf("upload: exit %d\n%s%s", code, out, errOut)
	}
	n := 0
	fleet.Dir{Root: store}.List(t.Context(), "crashes/", func(oi fleet.ObjectInfo) error { n++; return nil })
	if n != 2 { // meta.json and vmcore (no log, no status file)
		t.Errorf("%d objects in the store, want 2", n)
	}
	if code, out, _ := runCmd(t, "upload", "--config", empty, "--dir", dumps, "--store", store); code != 0 || !strings.Contains(out, "1 already there") {
		t.Errorf("second run: exit %d, %q", code, out)
	}

	cred := filepath.Join(dir, "s3.cred")
	os.WriteFile(cred, []byte("access_key=a\nsecret_key=b\n"), 0o644)
	conf := filepath.Join(dir, "s3.conf")
	os.WriteFile(conf, []byte("s3_endpoint http://127.0.0.1:1\ns3_bucket crashes\ns3_credentials "+cred+"\n"), 0o600)
	code, _, errOut = runCmd(t, "upload", "--config", conf, "--dir", dumps)
	if code != 1 || !strings.Contains(errOut, conf+":3: s3_credentials") || !strings.Contains(errOut, cred) {
		t.Errorf("credentials file 0644: exit %d, %q", code, errOut)
	}
}
