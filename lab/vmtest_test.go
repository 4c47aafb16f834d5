package lab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// "gokdump test --vm" run for real on the host, as a user runs it, against a Debian
// kernel: the capture initramfs is made by gokdump's own image builder ("gokdump
// initramfs", what "gokdump start" builds) for that kernel's module tree, and the
// test boots that kernel with that image in QEMU (TCG), arms, crashes and checks the
// dump the capture saved.

// vmTestMachine is the machine "gokdump test --vm" is told about: the Debian kernel's
// trees, a kdump.conf, and a /proc whose cmdline is an installed Debian machine's (the
// capture command line is made from it, as start makes it). Its /sys and /dev are
// empty: the target is not present here, as on a machine whose dump disk is elsewhere.
type vmTestMachine struct {
	bin, conf, image, release, kernel string
	flags                             []string
}

func newVMTestMachine(t *testing.T, kernel string) *vmTestMachine {
	t.Helper()
	testenv.NeedTool(t, QEMU, "qemu-system-x86")
	testenv.NeedTool(t, "mkfs.ext4", "e2fsprogs")
	testenv.NeedTool(t, "debugfs", "e2fsprogs")
	k := testenv.KernelPackage(t, kernel)
	root := t.TempDir()
	for _, d := range []string{"proc", "sys", "dev", "state"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	m := &vmTestMachine{
		bin: guestGokdump(t), conf: filepath.Join(root, "kdump.conf"), image: filepath.Join(root, "state", "initramfs.img"),
		release: k.Release, kernel: k.Image,
	}
	if err := os.WriteFile(filepath.Join(root, "proc/cmdline"),
		[]byte("BOOT_IMAGE=/boot/vmlinuz-"+k.Release+" root=UUID=0b5c2a4e-3f6e-4d2a-9f1e-1a2b3c4d5e6f ro quiet crashkernel=256M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.conf, []byte("ext4 LABEL=gokdump-dumps\npath /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\nfailure_action reboot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.flags = []string{"--config", m.conf, "--kernel-version", k.Release, "--modules-dir", filepath.Dir(k.ModuleDir),
		"--boot-dir", filepath.Join(k.Dir, "boot"), "--proc", filepath.Join(root, "proc"), "--sys", filepath.Join(root, "sys"),
		"--dev", filepath.Join(root, "dev"), "--state-dir", filepath.Join(root, "state")}
	out, err := exec.Command(m.bin, append([]string{"initramfs", "-o", m.image, "--binary", m.bin}, m.flags...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gokdump initramfs: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
	return m
}

// testVM runs "gokdump test --vm" with args, holding one of the lab's VM slots, and
// returns its exit code, standard output and how long it ran (once it had a slot).
func (m *vmTestMachine) testVM(t *testing.T, args ...string) (int, string, time.Duration) {
	t.Helper()
	vmSlots <- struct{}{}
	defer func() { <-vmSlots }()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	argv := append([]string{"test", "--vm", "--kernel", m.kernel, "--initrd", m.image, "--accel", "tcg", "--timeout", "12m"}, m.flags...)
	cmd := exec.CommandContext(ctx, m.bin, append(argv, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("gokdump test --vm: exit %d after %s\nstdout:\n%s\nstderr:\n%s", code, took.Round(time.Second), stdout.String(), stderr.String())
	return code, stdout.String(), took
}

// TestVMTest: gokdump test --vm passes on Debian's 6.1 and 6.12 kernels with an image
// gokdump built for them, and the dump it reports is a complete level-31 dump of that
// kernel whose log holds the sysrq crash.
func TestVMTest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	for _, kernel := range []string{testenv.Kernel61, testenv.Kernel612} {
		t.Run(kernel, func(t *testing.T) {
			t.Parallel()
			m := newVMTestMachine(t, kernel)
			code, out, _ := m.testVM(t, "--crashkernel", "256M", "--keep")
			kept := regexp.MustCompile(`(?m)^kept: (.+)$`).FindStringSubmatch(out)
			if kept != nil {
				t.Cleanup(func() { os.RemoveAll(kept[1]) })
			}
			if code != 0 || !strings.Contains(out, "\nPASS: the capture saved ") {
				t.Fatalf("exit %d, want 0 and PASS", code)
			}
			for _, want := range []string{
				"note: the target ext4 LABEL=gokdump-dumps is replaced by an ext4 scratch disk",
				"note: failure_action reboot is replaced by poweroff",
				// The capture command line is made from the machine's, as start makes it.
				"root=UUID=0b5c2a4e-3f6e-4d2a-9f1e-1a2b3c4d5e6f ro irqpoll nr_cpus=1",
				m.release, // info's kernel release
				sysrqPanic,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the output lacks %q", want)
				}
			}
			if cl := regexp.MustCompile(`(?m)^capture command line \(in the VM\): (.+)$`).FindStringSubmatch(out); cl == nil ||
				strings.Contains(cl[1], "crashkernel=") || strings.Contains(cl[1], "quiet") || !strings.Contains(cl[1], "console=ttyS0") {
				t.Errorf("capture command line %q: want the machine's without crashkernel= and quiet, on ttyS0", cl)
			}
			if kept == nil {
				t.Fatal("no kept directory named")
			}
			dumps, err := dumpdir.List(filepath.Join(kept[1], "out", "crash"))
			if err != nil || len(dumps) != 1 {
				t.Fatalf("dumps in the kept directory: %v %v", dumps, err)
			}
			f, err := vmcore.Open(dumps[0].File)
			if err != nil {
				t.Fatalf("the reported dump does not open: %v", err)
			}
			defer f.Close()
			if f.Format != vmcore.FormatKdump || f.Incomplete() || f.Kdump.DumpLevel() != 31 {
				t.Errorf("dump: format %s, incomplete %v, level %d", f.Format, f.Incomplete(), f.Kdump.DumpLevel())
			}
			log, err := printk.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			log.WriteText(&text)
			if !strings.Contains(text.String(), sysrqPanic) {
				t.Errorf("the dump's kernel log lacks %q", sysrqPanic)
			}
			if st := dumps[0].Status; st == nil || st.Result != dumpdir.Complete || st.KernelRelease != m.release || st.Action != "poweroff" {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestVMTestReservationTooSmall: a reservation the capture kernel and image do not fit
// in is a FAIL (exit 1) that says the first kernel could not arm, in one short boot,
// not a hang.
func TestVMTestReservationTooSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a QEMU guest; not in -short")
	}
	t.Parallel()
	m := newVMTestMachine(t, testenv.Kernel61)
	code, out, took := m.testVM(t, "--crashkernel", "24M")
	if code != 1 || !strings.Contains(out, "\nFAIL: the first kernel failed: vmtest: arming the capture kernel: kexec: load capture kernel") ||
		!strings.Contains(out, "reserved with crashkernel=") || !strings.Contains(out, "console (last lines):") {
		t.Errorf("exit %d, want 1 and a FAIL naming the reservation", code)
	}
	if strings.Contains(out, "PASS") {
		t.Error("PASS printed")
	}
	if took > 5*time.Minute {
		t.Errorf("took %s for one boot", took)
	}
}
