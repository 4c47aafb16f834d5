package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gokdump/gokdump/service"
)

func init() {
	register(&command{
		name:    "test",
		summary: "crash this machine on purpose to test the dump (kdumpctl test); status tells after the reboot",
		run:     runTest,
	})
}

// newCrasher is how "gokdump test" crashes the kernel; tests replace it with a fake.
var newCrasher = func(procRoot string) service.Crasher { return service.SysrqCrasher{ProcRoot: procRoot} }

func runTest(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "test", `[--yes] [start's options]
       gokdump test --vm [--kernel IMAGE] [--initrd IMAGE] [--crashkernel SIZE] [--memory MIB] [--qemu PROGRAM] [--accel kvm|tcg|auto] [--timeout D] [--keep]

Tests the dump for real, as kdumpctl test does: after a confirmation ("yes" typed on
standard input, or --yes) it checks that a capture kernel is loaded (exit 3 if not:
nothing is done), records a marker (STATE-DIR/test.json: the time and this boot's
id), syncs the file systems and crashes the kernel with sysrq-c. The capture kernel
then saves the dump and reboots as configured (final_action); after the reboot
"gokdump status" says whether that test dump was saved, and forgets the marker.

gokdump test --vm tests without crashing this machine: it boots this machine's
capture kernel and the exact capture initramfs "gokdump start" built (those start
loaded in this boot, else /boot/vmlinuz-RELEASE and STATE-DIR/initramfs-RELEASE.img)
in QEMU (qemu-system-x86_64; KVM when /dev/kvm can be opened, else TCG), first as a
first kernel that arms the capture kernel with kexec_file_load into a reservation of
this machine's crashkernel= size, with the capture command line start loads, and
crashes with sysrq-c. The capture kernel runs the image's own gokdump, which saves
the dump to a scratch virtual disk: the configuration's target is replaced by an
ext4 file system there, failure_action and final_action by poweroff, and the VM's
virtio disk drivers are added; everything else (the gokdump binary, modules,
collector, hooks) is the image's. The machine's real target is never touched. The
host reads the dump back without mounting (debugfs, from e2fsprogs) and opens it:
PASS with the dump's summary (exit 0), or FAIL with the reason and the end of the
VM's console (exit 1). Exit 2 when the test cannot run (QEMU or e2fsprogs missing,
no image, no reservation size). Its files are in a temporary directory (0700),
removed unless --keep. A test takes a few seconds under KVM, 2-4 minutes under TCG.`)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	vm := fs.Bool("vm", false, "test in a QEMU virtual machine instead, without crashing this machine")
	vf := addVMFlags(fs)
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *vm {
		if fs.NArg() > 0 {
			fmt.Fprintf(e.stderr, "gokdump test: unexpected arguments %q\n", fs.Args())
			return 2
		}
		return runTestVM(ctx, e, f, vf)
	}
	if vf.set(fs) {
		fmt.Fprintln(e.stderr, "gokdump test: --initrd, --qemu, --memory, --crashkernel, --accel, --timeout and --keep go with --vm")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "gokdump test: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if !*yes {
		fmt.Fprint(e.stdout, "gokdump test crashes this machine NOW (sysrq-c): running programs die, unsaved data is lost,\n"+
			"and the capture kernel saves a dump and reboots. Type \"yes\" to go on: ")
		if !confirmed(e.stdin) {
			fmt.Fprintln(e.stdout)
			fmt.Fprintln(e.stderr, "gokdump test: not confirmed; nothing done")
			return 1
		}
	}
	err := f.sys.CrashTest(newCrasher(f.sys.ProcRoot), time.Now())
	switch {
	case errors.Is(err, service.ErrNotArmed):
		fmt.Fprintf(e.stderr, "gokdump test: %v\n", err)
		return 3
	case err != nil:
		fmt.Fprintf(e.stderr, "gokdump test: %v\n", err)
		return 1
	}
	// Only a fake crasher returns.
	fmt.Fprintln(e.stdout, "crash requested")
	return 0
}

// confirmed reads one line (at most 64 bytes of it) and reports whether it is "yes".
func confirmed(r io.Reader) bool {
	if r == nil {
		return false
	}
	line, err := bufio.NewReaderSize(io.LimitReader(r, 64), 64).ReadString('\n')
	if err != nil && err != io.EOF {
		return false
	}
	return strings.TrimSpace(line) == "yes"
}

// printTestResult prints what became of a "gokdump test" crash (nothing when none
// was asked for).
func printTestResult(w io.Writer, r *service.TestResult) {
	if r == nil {
		return
	}
	at := r.Marker.Time.UTC().Format(time.DateTime + " UTC")
	switch {
	case r.Pending:
		fmt.Fprintf(w, "test crash: asked for at %s in this boot; not happened yet\n", at)
		return
	case r.Dump != nil:
		fmt.Fprintf(w, "test crash of %s: dump saved: %s (%s)\n", at, r.Dump.Dir, r.Dump.Result)
	case r.Unknown != "":
		fmt.Fprintf(w, "test crash of %s: cannot tell here whether the dump was saved: %s\n", at, r.Unknown)
	default:
		fmt.Fprintf(w, "test crash of %s: NO dump saved since (check the capture's console and the target)\n", at)
	}
	if r.ClearErr != nil {
		fmt.Fprintf(w, "test marker: not removed: %v\n", r.ClearErr)
	}
}
