package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRoots writes a minimal machine tree for the service commands and returns the
// flags that point them at it.
func fakeRoots(t *testing.T, conf string) (root string, flags []string) {
	t.Helper()
	root = t.TempDir()
	files := map[string]string{
		"proc/sys/kernel/osrelease":                  "6.1.0-t\n",
		"proc/cmdline":                               "root=/dev/vda1 crashkernel=256M\n",
		"proc/stat":                                  "btime 1700000000\n",
		"proc/self/mountinfo":                        "1 0 253:1 / / rw - ext4 /dev/vda1 rw\n",
		"sys/kernel/kexec_crash_loaded":              "0\n",
		"sys/kernel/kexec_crash_size":                "268435456\n",
		"lib/modules/6.1.0-t/modules.dep":            "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\nkernel/fs/jbd2/jbd2.ko:\n",
		"lib/modules/6.1.0-t/kernel/fs/ext4/ext4.ko": "ext4 module",
		"lib/modules/6.1.0-t/kernel/fs/jbd2/jbd2.ko": "jbd2 module",
		"boot/vmlinuz-6.1.0-t":                       strings.Repeat("k", 4096),
		"boot/config-6.1.0-t":                        "CONFIG_RD_GZIP=y\n",
		"bin/gokdump":                                "the binary",
		"etc/kdump.conf":                             conf,
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flags = []string{
		"--config", filepath.Join(root, "etc/kdump.conf"),
		"--proc", filepath.Join(root, "proc"), "--sys", filepath.Join(root, "sys"),
		"--dev", filepath.Join(root, "dev"), "--boot-dir", filepath.Join(root, "boot"),
		"--modules-dir", filepath.Join(root, "lib/modules"), "--state-dir", filepath.Join(root, "state"),
		"--binary", filepath.Join(root, "bin/gokdump"),
	}
	return root, flags
}

func TestInitramfsCommand(t *testing.T) {
	root, flags := fakeRoots(t, "ext4 /dev/vdz\nfinal_action poweroff\n")
	out1 := filepath.Join(root, "a.img")
	code, stdout, stderr := runCmd(t, append([]string{"initramfs", "-o", out1}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "gzip, kernel 6.1.0-t): 2 modules") || !strings.Contains(stderr, "/dev/vdz not found") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	out2 := filepath.Join(root, "b.img")
	if code, _, stderr := runCmd(t, append([]string{"initramfs", "-o", out2}, flags...)...); code != 0 {
		t.Fatalf("second build: %s", stderr)
	}
	a, _ := os.ReadFile(out1)
	b, _ := os.ReadFile(out2)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("two builds differ")
	}
	if _, err := os.Stat(out1 + ".json"); err != nil {
		t.Errorf("no manifest: %v", err)
	}
	if code, _, _ := runCmd(t, append([]string{"initramfs", "-o", out1, "--compress", "lz4"}, flags...)...); code != 2 {
		t.Errorf("bad compression: exit %d", code)
	}
	if code, _, _ := runCmd(t, append([]string{"initramfs"}, flags...)...); code != 2 {
		t.Errorf("no -o: exit %d", code)
	}
	// A bad configuration names its line.
	os.WriteFile(filepath.Join(root, "etc/kdump.conf"), []byte("path /x\nfinal_action shell\n"), 0o644)
	if code, _, stderr := runCmd(t, append([]string{"initramfs", "-o", out1}, flags...)...); code != 1 || !strings.Contains(stderr, "kdump.conf:2: final_action") {
		t.Errorf("bad config: exit %d %q", code, stderr)
	}
}

func TestStatusCommand(t *testing.T) {
	root, flags := fakeRoots(t, "path /var/crash\n")
	flags[1] = filepath.Join(root, "etc/kdump.conf")
	code, stdout, stderr := runCmd(t, append([]string{"status"}, flags...)...)
	if code != 3 || !strings.Contains(stdout, "reserved memory: 256 MiB") || !strings.Contains(stdout, "capture kernel: not loaded") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
	os.WriteFile(filepath.Join(root, "sys/kernel/kexec_crash_loaded"), []byte("1\n"), 0o644)
	code, stdout, _ = runCmd(t, append([]string{"status"}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "loaded (kdump is armed)") || !strings.Contains(stdout, "booted: 2023-11-14 22:13:20 UTC") {
		t.Errorf("armed: exit %d\n%s", code, stdout)
	}
	os.WriteFile(filepath.Join(root, "sys/kernel/kexec_crash_size"), []byte("0\n"), 0o644)
	code, stdout, _ = runCmd(t, append([]string{"status"}, flags...)...)
	if code != 3 || !strings.Contains(stdout, "reserved memory: none") {
		t.Errorf("no reservation: exit %d\n%s", code, stdout)
	}
}

func TestStartCommandErrors(t *testing.T) {
	root, flags := fakeRoots(t, "")
	os.WriteFile(filepath.Join(root, "sys/kernel/kexec_crash_size"), []byte("0\n"), 0o644)
	code, _, stderr := runCmd(t, append([]string{"start"}, flags...)...)
	if code != 1 || !strings.Contains(stderr, "crashkernel=256M but reserved nothing") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("root=/dev/vda1\n"), 0o644)
	code, _, stderr = runCmd(t, append([]string{"start"}, flags...)...)
	if code != 1 || !strings.Contains(stderr, "no memory is reserved") || !strings.Contains(stderr, "add crashkernel=256M") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestEstimateCommand(t *testing.T) {
	_, flags := fakeRoots(t, "ext4 /dev/vdz\n")
	code, stdout, stderr := runCmd(t, append([]string{"estimate"}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// A 4 KiB fake kernel and tiny image: 8 + 16 + 32 MiB and change, rounded to 64 MiB.
	for _, want := range []string{"recommended: crashkernel=64M", "currently reserved: 256 MiB: enough", "runtime         8.0 MiB",
		"by memory size: crashkernel=1G-64G:64M,64G-256G:80M,256G-1024G:128M,1024G-:320M"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestEstimateMemory: --memory recomputes the per-GiB part for another machine size;
// a value that is not a size is a usage error.
func TestEstimateMemory(t *testing.T) {
	_, flags := fakeRoots(t, "ext4 /dev/vdz\n")
	code, stdout, stderr := runCmd(t, append([]string{"estimate", "--memory", "1024G"}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// 56 MiB and change, and 1024 x 64 KiB: 120 MiB, rounded to 128.
	for _, want := range []string{"memory         64.0 MiB  64 KiB per GiB of 1024 GiB", "recommended: crashkernel=128M"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := runCmd(t, append([]string{"estimate", "--memory", "1G-:5M"}, flags...)...); code != 2 || !strings.Contains(stderr, "--memory") {
		t.Errorf("bad --memory: exit %d, %q", code, stderr)
	}
}

// TestCrashkernelRanges: without --size, crashkernel recommends by memory range from
// the estimate, and the estimate counts this machine's memory (MemTotal and the
// reservation: 62.0 + 0.25 GiB, rounded up to 63 GiB).
func TestCrashkernelRanges(t *testing.T) {
	root, flags := fakeRoots(t, "ext4 /dev/vdz\n")
	os.WriteFile(filepath.Join(root, "proc/meminfo"), []byte("MemTotal:       65000000 kB\nMemFree:        60000000 kB\n"), 0o644)
	code, stdout, stderr := runCmd(t, append([]string{"estimate"}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "64 KiB per GiB of 63 GiB") {
		t.Errorf("estimate: exit %d %q\n%s", code, stderr, stdout)
	}
	code, stdout, stderr = runCmd(t, append([]string{"crashkernel", "--root", root}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "recommended:  crashkernel=1G-64G:64M,64G-256G:80M,256G-1024G:128M,1024G-:320M (64 MiB for this machine's memory)") {
		t.Errorf("crashkernel: exit %d %q\n%s", code, stderr, stdout)
	}
}

// TestRawRefusedAtStart: a raw target that does not exist is refused by start (before
// anything is armed), by save-raw, and named in status, each with the line.
func TestRawRefusedAtStart(t *testing.T) {
	_, flags := fakeRoots(t, "raw /dev/does-not-exist\ncore_collector makedumpfile -F -l -d 31\n")
	for _, cmd := range []string{"start", "save-raw"} {
		code, _, stderr := runCmd(t, append([]string{cmd}, flags...)...)
		if code != 1 || !strings.Contains(stderr, "kdump.conf:1: raw /dev/does-not-exist: /dev/does-not-exist does not exist") {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, stderr)
		}
	}
	// A file system target is not save-raw's.
	_, flags = fakeRoots(t, "ext4 /dev/vdz\n")
	if code, _, stderr := runCmd(t, append([]string{"save-raw"}, flags...)...); code != 1 || !strings.Contains(stderr, "not raw") {
		t.Errorf("save-raw of an ext4 target: exit %d, stderr %q", code, stderr)
	}
}
