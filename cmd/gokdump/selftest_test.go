package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/service"
)

type cmdFakeCrasher struct{ crashed *int }

func (cmdFakeCrasher) Sync()          {}
func (c cmdFakeCrasher) Crash() error { *c.crashed++; return nil }

func runTestCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := commands["test"].run(context.Background(), &env{stdout: &o, stderr: &e, stdin: strings.NewReader(stdin)}, args)
	return code, o.String(), e.String()
}

// TestTestCommand: "gokdump test" asks for "yes", refuses when nothing is armed,
// crashes through the (here fake) crasher after writing the marker, and "status"
// after a reboot (another boot id) reports the dump saved since and forgets the
// marker. --vm's options without --vm are refused (exit 2).
func TestTestCommand(t *testing.T) {
	crashed := 0
	old := newCrasher
	newCrasher = func(string) service.Crasher { return cmdFakeCrasher{&crashed} }
	defer func() { newCrasher = old }()

	root, flags := fakeRoots(t, "path "+"/srv/crash\n")
	dumps := filepath.Join(root, "srv/crash")
	os.WriteFile(filepath.Join(root, "etc/kdump.conf"), []byte("path "+dumps+"\n"), 0o644)
	write := func(rel, data string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o644)
	}
	write("proc/sys/kernel/random/boot_id", "aaaaaaaa-0000-4000-8000-000000000001\n")
	marker := filepath.Join(root, "state/test.json")

	if code, _, stderr := runTestCmd(t, "", append([]string{"--keep"}, flags...)...); code != 2 || !strings.Contains(stderr, "go with --vm") || crashed != 0 {
		t.Errorf("--keep without --vm: %d %q", code, stderr)
	}
	for _, in := range []string{"", "no\n", "y\n", "YES please\n", strings.Repeat("x", 100) + "yes\n"} {
		code, _, stderr := runTestCmd(t, in, flags...)
		if code != 1 || !strings.Contains(stderr, "not confirmed") || crashed != 0 {
			t.Errorf("stdin %q: %d %q, crashed %d", in, code, stderr, crashed)
		}
	}
	// Not armed (kexec_crash_loaded 0): exit 3, no marker, no crash.
	code, _, stderr := runTestCmd(t, "", append([]string{"--yes"}, flags...)...)
	if code != 3 || !strings.Contains(stderr, "no capture kernel is loaded") || crashed != 0 {
		t.Errorf("unarmed: %d %q crashed %d", code, stderr, crashed)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("marker written while unarmed")
	}
	write("sys/kernel/kexec_crash_loaded", "1\n")
	code, _, stderr = runTestCmd(t, "yes\n", flags...)
	if code != 0 || crashed != 1 {
		t.Fatalf("armed, confirmed: %d %q crashed %d", code, stderr, crashed)
	}
	if st, err := os.Stat(marker); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("marker: %v", err)
	}
	// Same boot: status says pending and keeps the marker.
	code, stdout, stderr := runCmd(t, append([]string{"status"}, flags...)...)
	if !strings.Contains(stdout, "test crash: asked for at ") || !strings.Contains(stdout, "not happened yet") {
		t.Errorf("pending: %d %q %q", code, stdout, stderr)
	}
	// After the reboot (new boot id) with a dump saved now: reported once.
	write("proc/sys/kernel/random/boot_id", "aaaaaaaa-0000-4000-8000-000000000002\n")
	write("srv/crash/127.0.0.1-2099-01-01-00:00:00/vmcore", "dump")
	code, stdout, _ = runCmd(t, append([]string{"status"}, flags...)...)
	if !strings.Contains(stdout, "dump saved: "+filepath.Join(dumps, "127.0.0.1-2099-01-01-00:00:00")+" (complete)") {
		t.Errorf("after reboot: %d %q", code, stdout)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("marker kept after being reported")
	}
	code, stdout, _ = runCmd(t, append([]string{"status"}, flags...)...)
	if strings.Contains(stdout, "test crash") {
		t.Errorf("reported twice: %q", stdout)
	}
	// A test crash that saved nothing says so.
	os.RemoveAll(filepath.Join(root, "srv/crash"))
	write("proc/sys/kernel/random/boot_id", "aaaaaaaa-0000-4000-8000-000000000003\n")
	if code, _, stderr := runTestCmd(t, "", append([]string{"--yes"}, flags...)...); code != 0 {
		t.Fatalf("second test: %d %q", code, stderr)
	}
	write("proc/sys/kernel/random/boot_id", "aaaaaaaa-0000-4000-8000-000000000004\n")
	code, stdout, _ = runCmd(t, append([]string{"status"}, flags...)...)
	if !strings.Contains(stdout, "NO dump saved since") {
		t.Errorf("nothing saved: %d %q", code, stdout)
	}
}

// TestTestVMCommand: what keeps "gokdump test --vm" from running is exit 2 with the
// reason: no image, a bad size, QEMU missing (named).
func TestTestVMCommand(t *testing.T) {
	root, flags := fakeRoots(t, "ext4 /dev/vdz\nfinal_action poweroff\n")
	code, _, stderr := runTestCmd(t, "", append([]string{"--vm"}, flags...)...)
	if code != 2 || !strings.Contains(stderr, "cannot run the test: the capture initramfs") || !strings.Contains(stderr, "gokdump start builds it") {
		t.Errorf("no image: %d %q", code, stderr)
	}
	img := filepath.Join(root, "state/initramfs-6.1.0-t.img")
	if code, _, stderr := runCmd(t, append([]string{"initramfs", "-o", img}, flags...)...); code != 0 {
		t.Fatalf("initramfs: %d %s", code, stderr)
	}
	code, _, stderr = runTestCmd(t, "", append([]string{"--vm", "--crashkernel", "banana"}, flags...)...)
	if code != 2 || !strings.Contains(stderr, `--crashkernel "banana"`) {
		t.Errorf("bad size: %d %q", code, stderr)
	}
	code, _, stderr = runTestCmd(t, "", append([]string{"--vm", "--qemu", "gokdump-no-such-qemu"}, flags...)...)
	if code != 2 || !strings.Contains(stderr, "gokdump-no-such-qemu is not installed") || !strings.Contains(stderr, "qemu-system-x86") {
		t.Errorf("no QEMU: %d %q", code, stderr)
	}
	// Without a reservation on the machine and no --crashkernel: the size is asked for.
	os.WriteFile(filepath.Join(root, "sys/kernel/kexec_crash_size"), []byte("0\n"), 0o644)
	code, _, stderr = runTestCmd(t, "", append([]string{"--vm"}, flags...)...)
	if code != 2 || !strings.Contains(stderr, "--crashkernel SIZE") {
		t.Errorf("no reservation: %d %q", code, stderr)
	}
}
