package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kdump.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	good := writeConf(t, "ext4 LABEL=crash\ncore_collector makedumpfile -z -d 31\n")
	code, out, errs := runCmd(t, "config", "check", "--file-only", good)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"OK", "ext4 LABEL=crash\n", "core_collector makedumpfile -z -d 31\n", "path /var/crash\n", "failure_action reboot\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Collector options are checked by the dump parser, reported on their line.
	bad := writeConf(t, "# x\nssh a@b\ncore_collector makedumpfile -l -d 31\nbogus\n")
	code, _, errs = runCmd(t, "config", "check", "--config", bad)
	if code != 1 || !strings.Contains(errs, bad+":4: unknown directive") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	bad = writeConf(t, "ssh a@b\ncore_collector makedumpfile -l -d 99\n")
	code, _, errs = runCmd(t, "config", "check", bad)
	if code != 1 || !strings.Contains(errs, bad+":2: core_collector: dump level") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}

	// The environment variable names the file when no flag or operand does.
	t.Setenv("GOKDUMP_CONFIG", good)
	if code, out, _ := runCmd(t, "config", "check", "--file-only"); code != 0 || !strings.Contains(out, "LABEL=crash") {
		t.Errorf("GOKDUMP_CONFIG: exit %d, %s", code, out)
	}
	// A file named explicitly must exist.
	t.Setenv("GOKDUMP_CONFIG", filepath.Join(t.TempDir(), "none"))
	if code, _, errs := runCmd(t, "config", "check"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing explicit file: exit %d, %s", code, errs)
	}
	if code, _, _ := runCmd(t, "config"); code != 2 {
		t.Errorf("config without check: exit %d", code)
	}
}

func TestLoadConfigMissingDefault(t *testing.T) {
	c, err := loadConfig(filepath.Join(t.TempDir(), "kdump.conf"), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != config.DefaultDumpPath || c.Collector.Program != "makedumpfile" {
		t.Errorf("defaults: %+v", c)
	}
}

// TestConfigCheckCapture: config check with --file-only lets through the directives
// the capture carries out (raw, ssh, nfs and dump_to_rootfs included). (The machine
// checks of ssh and nfs targets, which resolve the server and look at the network,
// are service's tests: TestPlanNetworkRefusals.)
func TestConfigCheckCapture(t *testing.T) {
	for _, conf := range []string{"path /x\nssh kdump@h\nsshkey /root/k\ncore_collector makedumpfile -F -l\n", "nfs h:/export\nkdump_dhcp 1\n",
		"raw /dev/vdc\ncore_collector makedumpfile -F -l\n", "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n", "xfs LABEL=x\nfailure_action shell\nkeep_dumps 3\n"} {
		if code, _, errs := runCmd(t, "config", "check", "--file-only", writeConf(t, conf)); code != 0 {
			t.Errorf("%q: exit %d, %s", conf, code, errs)
		}
	}
}

// TestConfigCheckMachine: without --file-only, config check runs start's preflight on
// the machine: the modules of the release to arm must be there.
func TestConfigCheckMachine(t *testing.T) {
	_, flags := fakeRoots(t, "ext4 /dev/vdz\n")
	code, out, errs := runCmd(t, append([]string{"config", "check"}, flags...)...)
	if code != 0 || !strings.Contains(out, "OK") || !strings.Contains(errs, "/dev/vdz not found") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = runCmd(t, append([]string{"config", "check", "--kernel-version", "6.9.0-other"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "cannot be armed") || !strings.Contains(errs, "6.9.0-other") {
		t.Errorf("another release without modules: exit %d, stderr %q", code, errs)
	}
	// Fedora's KDUMP_KERNELVER names the release too.
	t.Setenv("KDUMP_KERNELVER", "6.9.0-env")
	code, _, errs = runCmd(t, append([]string{"config", "check"}, flags...)...)
	if code != 1 || !strings.Contains(errs, "6.9.0-env") {
		t.Errorf("KDUMP_KERNELVER: exit %d, stderr %q", code, errs)
	}
}
