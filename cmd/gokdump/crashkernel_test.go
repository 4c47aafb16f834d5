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

// TestCrashkernelAuto: --auto (the kernel-install hook's call) writes the boot loader
// configuration when kdump.conf's auto_reset_crashkernel is yes or absent (the
// default), and changes nothing when it is no.
func TestCrashkernelAuto(t *testing.T) {
	dropIn := "etc/default/grub.d/gokdump-crashkernel.cfg"
	for _, tc := range []struct {
		name, conf string
		applied    bool
	}{
		{"yes", "auto_reset_crashkernel yes\npath /var/crash\n", true},
		{"default", "path /var/crash\n", true},
		{"no", "path /var/crash\nauto_reset_crashkernel no\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range map[string]string{
				"proc/cmdline":                "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n",
				"proc/meminfo":                "MemTotal:        4030000 kB\n",
				"etc/default/grub":            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n",
				"usr/sbin/update-grub":        "#!/bin/sh\nexit 1\n",
				"sys/kernel/kexec_crash_size": "0\n",
				"etc/kdump.conf":              tc.conf,
			} {
				p := filepath.Join(root, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(data), 0o755)
			}
			conf := filepath.Join(root, "etc/kdump.conf")
			code, out, stderr := runAs(t, "gokdump", nil, "crashkernel", "--auto", "--root", root, "--size", "320M", "--config", conf)
			b, err := os.ReadFile(filepath.Join(root, dropIn))
			if code != 0 {
				t.Fatalf("exit %d: %q %q", code, out, stderr)
			}
			if tc.applied {
				if err != nil || !strings.Contains(string(b), "crashkernel=1G-:320M\"") || !strings.Contains(out, "wrote /"+dropIn) {
					t.Errorf("not applied: %v %q; out %q", err, b, out)
				}
				return
			}
			if err == nil {
				t.Errorf("auto_reset_crashkernel no, yet %s was written:\n%s", dropIn, b)
			}
			if !strings.Contains(out, "auto_reset_crashkernel no ("+conf+" line 2): the boot loader configuration is left as it is") {
				t.Errorf("out %q", out)
			}
		})
	}
	if code, _, stderr := runAs(t, "gokdump", nil, "crashkernel", "--auto", "--apply", "--size", "320M"); code != 2 || !strings.Contains(stderr, "--auto and --apply") {
		t.Errorf("--auto --apply: %d %q", code, stderr)
	}
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "bad.conf"), []byte("auto_reset_crashkernel maybe\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "proc"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("ro\n"), 0o644)
	if code, _, stderr := runAs(t, "gokdump", nil, "crashkernel", "--auto", "--root", root, "--size", "320M", "--config", filepath.Join(root, "bad.conf")); code != 1 || !strings.Contains(stderr, "bad.conf") {
		t.Errorf("bad config: %d %q", code, stderr)
	}
}
