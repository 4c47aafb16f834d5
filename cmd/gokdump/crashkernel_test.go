package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrashkernelCommand: the report and --apply into a Debian-like root (the command
// is printed, not run, under --root).
func TestCrashkernelCommand(t *testing.T) {
	root := t.TempDir()
	for name, data := range map[string]string{
		"proc/cmdline":                "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n",
		"proc/meminfo":                "MemTotal:        4030000 kB\n",
		"etc/default/grub":            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n",
		"usr/sbin/update-grub":        "#!/bin/sh\nexit 1\n",
		"sys/kernel/kexec_crash_size": "0\n",
	} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o755)
	}
	code, out, stderr := runAs(t, "gokdump", nil, "crashkernel", "--root", root, "--size", "320M")
	if code != 0 || !strings.Contains(out, "command line: no crashkernel= option") ||
		!strings.Contains(out, "recommended:  crashkernel=1G-:320M") || !strings.Contains(out, "on this machine: 320 MiB more than reserved now") {
		t.Errorf("report: %d %q %q", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/default/grub.d")); err == nil {
		t.Error("wrote without --apply")
	}
	code, out, stderr = runAs(t, "gokdump", nil, "crashkernel", "--root", root, "--size", "320M", "--apply")
	if code != 0 || !strings.Contains(out, "wrote /etc/default/grub.d/gokdump-crashkernel.cfg\n") ||
		!strings.Contains(out, "ran /usr/sbin/update-grub\n  not run (--root") || !strings.Contains(out, "takes effect at the next boot") {
		t.Errorf("--apply: %d %q %q", code, out, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/default/grub.d/gokdump-crashkernel.cfg")); !strings.Contains(string(b), "crashkernel=1G-:320M\"") {
		t.Errorf("drop-in:\n%s", b)
	}
	if code, _, stderr := runAs(t, "gokdump", nil, "crashkernel", "--root", root, "--size", "1G-:5M"); code != 2 || !strings.Contains(stderr, "--size") {
		t.Errorf("bad --size: %d %q", code, stderr)
	}
}
