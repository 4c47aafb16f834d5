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

Tests the dump for real, as kdumpctl test does: after a confirmation ("yes" typed on
standard input, or --yes) it checks that a capture kernel is loaded (exit 3 if not:
nothing is done), records a marker (STATE-DIR/test.json: the time and this boot's
id), syncs the file systems and crashes the kernel with sysrq-c. The capture kernel
then saves the dump and reboots as configured (final_action); after the reboot
"gokdump status" says whether that test dump was saved, and forgets the marker.

--vm (boot this machine's capture kernel and initramfs in QEMU without crashing the
machine) is not implemented yet: exit 2.`)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	vm := fs.Bool("vm", false, "test in a virtual machine instead (not implemented yet)")
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *vm {
		fmt.Fprintln(e.stderr, "gokdump test: --vm is not implemented yet; to test the capture without crashing this machine, "+
			"use the lab (go test ./lab in the source tree boots real kernels in QEMU and crashes them); "+
			"\"gokdump test\" without --vm crashes this machine for real")
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
