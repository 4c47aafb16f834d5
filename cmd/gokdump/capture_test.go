package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpdir"
)

func TestList(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "crashbox-2026-11-26-07:08:09")
	os.Mkdir(d, 0o700)
	os.WriteFile(filepath.Join(d, dumpdir.DumpFile), make([]byte, 3<<20), 0o600)
	os.WriteFile(filepath.Join(d, dumpdir.StatusFile), []byte(`{"version":1,"result":"complete","start":"2026-11-26T07:08:09Z","host":"crashbox","panic":"Kernel panic - not syncing: sysrq triggered crash"}`), 0o600)

	code, out, errs := runCmd(t, "list", "--dir", dir)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"TIME (UTC)", "2026-11-26 07:08:09", "complete", "3.0 MiB", d + "/vmcore", "Kernel panic - not syncing: sysrq triggered crash"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCmd(t, "list", "--dir", dir, "--json")
	var got []listEntry
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(got) != 1 || got[0].Result != dumpdir.Complete || got[0].Size != 3<<20 || got[0].Host != "crashbox" || got[0].Status == nil {
		t.Errorf("--json: %+v", got)
	}

	// The configured path on the root file system; nothing saved yet is not an error.
	conf := filepath.Join(t.TempDir(), "kdump.conf")
	os.WriteFile(conf, []byte("path "+dir+"/none\n"), 0o600)
	code, out, errs = runCmd(t, "list", "--config", conf)
	if code != 0 || !strings.Contains(out, "no dumps in "+dir+"/none") {
		t.Errorf("empty: exit %d %q %q", code, out, errs)
	}
	os.WriteFile(conf, []byte("ssh kdump@example.org\ncore_collector makedumpfile -F -l -d 31\n"), 0o600)
	if code, _, errs = runCmd(t, "list", "--config", conf); code != 1 || !strings.Contains(errs, "--dir") {
		t.Errorf("ssh target: exit %d %q", code, errs)
	}
}

// TestListMissingDir: a --dir that does not exist is a mistake to report (exit 1),
// not an empty list; the configured path not made yet is (TestList).
func TestListMissingDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	code, out, errs := runCmd(t, "list", "--dir", missing)
	if code != 1 || out != "" || !strings.Contains(errs, missing) || !strings.Contains(errs, "does not exist") {
		t.Errorf("list --dir %s: exit %d, stdout %q, stderr %q; want exit 1 saying it does not exist", missing, code, out, errs)
	}
	if code, _, errs := runCmd(t, "list", "--dir", missing, "--json"); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Errorf("list --json --dir %s: exit %d, stderr %q", missing, code, errs)
	}
}
