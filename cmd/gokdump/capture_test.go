package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/target"
)

func parseConf(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse(strings.NewReader(text), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCaptureCollector(t *testing.T) {
	for _, tc := range []struct {
		conf   string
		codec  compress.Codec
		format collector.Format
		levels []mm.DumpLevel
		limit  int64
	}{
		{"", compress.LZO, collector.KdumpCompressed, []mm.DumpLevel{31}, 0},
		{"core_collector makedumpfile -c -d 1,31 -L 10M --num-threads 1", compress.Zlib, collector.KdumpCompressed, []mm.DumpLevel{1, 31}, 10 << 20},
		{"core_collector makedumpfile -E -d 17", compress.None, collector.ELF, []mm.DumpLevel{17}, 0},
		{"core_collector makedumpfile -zd31 --message-level 1", compress.Zstd, collector.KdumpCompressed, []mm.DumpLevel{31}, 0},
	} {
		c, err := captureCollector(parseConf(t, tc.conf).Collector)
		if err != nil {
			t.Errorf("%q: %v", tc.conf, err)
			continue
		}
		if c.Options.Codec != tc.codec || c.Options.Format != tc.format || !reflect.DeepEqual(c.Levels, tc.levels) || c.Options.SizeLimit != tc.limit {
			t.Errorf("%q: codec %v format %v levels %v limit %d", tc.conf, c.Options.Codec, c.Options.Format, c.Levels, c.Options.SizeLimit)
		}
		if c.Args[0] != "makedumpfile" {
			t.Errorf("%q: args %q do not start with the program", tc.conf, c.Args)
		}
	}
	if _, err := captureCollector(config.Collector{Program: "makedumpfile", Args: []string{"-F", "-l"}}); err == nil || !strings.Contains(err.Error(), "-F") {
		t.Errorf("-F: %v", err)
	}
	if _, err := captureCollector(config.Collector{Program: "makedumpfile", Args: []string{"--bogus"}}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("--bogus: %v", err)
	}
}

func TestCaptureTarget(t *testing.T) {
	tg, err := captureTarget(parseConf(t, "ext4 LABEL=gokdump-dumps\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := tg.(*target.Local)
	if !ok || l.FSType != "ext4" || l.Device != (target.Device{Label: "gokdump-dumps"}) || l.Wait != captureTargetWait {
		t.Errorf("ext4 LABEL=: %#v", tg)
	}
	// The builder's device wins (for the root file system it is the only source).
	info := &service.CaptureInfo{Device: service.DumpDevice{FSType: "xfs", Name: "vda1", Spec: "UUID=0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff"}}
	tg, err = captureTarget(parseConf(t, "path /var/crash\n"), info)
	if err != nil {
		t.Fatal(err)
	}
	if l := tg.(*target.Local); l.FSType != "xfs" || l.Device.UUID != "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff" {
		t.Errorf("rootfs: %#v", l)
	}
	for _, conf := range []string{"path /var/crash\n", "ssh kdump@example.org\nsshkey /root/.ssh/kdump_id_rsa\ncore_collector makedumpfile -F -l -d 31\n", "raw /dev/vdc\ncore_collector makedumpfile -F -l -d 31\n"} {
		if tg, err := captureTarget(parseConf(t, conf), nil); err == nil {
			t.Errorf("%q: %v, want an error", conf, tg)
		}
	}
}

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
