package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/gokdump/gokdump/crashkernel"
	"github.com/gokdump/gokdump/vmtest"
)

// vmFlags are "gokdump test --vm"'s own options (start's --kernel, --kernel-version,
// --initramfs and the system paths apply too).
type vmFlags struct {
	initrd, qemu, crash, accel string
	memory                     int
	timeout                    time.Duration
	keep                       bool
}

func addVMFlags(fs *flag.FlagSet) *vmFlags {
	v := &vmFlags{}
	fs.StringVar(&v.initrd, "initrd", "", "--vm: the capture initramfs `image` to test (default: the one start loaded, else STATE-DIR/initramfs-RELEASE.img)")
	fs.StringVar(&v.qemu, "qemu", vmtest.DefaultQEMU, "--vm: the QEMU `program`")
	fs.StringVar(&v.crash, "crashkernel", "", "--vm: the reservation `size` to test (e.g. 256M; default: this machine's)")
	fs.StringVar(&v.accel, "accel", vmtest.AccelAuto, "--vm: the accelerator `mode`: kvm, tcg or auto (KVM when /dev/kvm can be opened)")
	fs.IntVar(&v.memory, "memory", 0, "--vm: guest memory in `MiB` (default: the reservation + 512, at least 768)")
	fs.DurationVar(&v.timeout, "timeout", vmtest.DefaultTimeout, "--vm: bound on the VM run (both kernels)")
	fs.BoolVar(&v.keep, "keep", false, "--vm: keep the work directory (console log, initrds, the dump)")
	return v
}

// set says whether any --vm option was given.
func (v *vmFlags) set(fs *flag.FlagSet) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "initrd", "qemu", "crashkernel", "accel", "memory", "timeout", "keep":
			given = true
		}
	})
	return given
}

// runTestVM is "gokdump test --vm": exit 0 on PASS, 1 on FAIL, 2 when the test cannot
// run.
func runTestVM(ctx context.Context, e *env, f *serviceFlags, v *vmFlags) int {
	cfg, _, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump test --vm: %v\n", err)
		return 2
	}
	o := vmtest.Options{
		System: &f.sys, Config: cfg, Release: f.releaseFor(cfg), Kernel: f.kernel, Initrd: v.initrd,
		QEMU: v.qemu, Accel: v.accel, MemoryMiB: v.memory, Timeout: v.timeout, Keep: v.keep, Log: e.stderr,
	}
	if o.Initrd == "" {
		o.Initrd = f.image
	}
	if v.crash != "" {
		if o.CrashKernel, err = crashkernel.ParseSize(v.crash); err != nil || o.CrashKernel < 16<<20 {
			fmt.Fprintf(e.stderr, "gokdump test --vm: --crashkernel %q: want a size such as 256M\n", v.crash)
			return 2
		}
	}
	if v.memory < 0 || v.timeout <= 0 {
		fmt.Fprintln(e.stderr, "gokdump test --vm: --memory and --timeout must be positive")
		return 2
	}
	res, err := vmtest.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump test --vm: cannot run the test: %v\n", err)
		return 2
	}
	w := e.stdout
	fmt.Fprintf(w, "kernel:  %s (%s)\n", res.Kernel, res.Release)
	fmt.Fprintf(w, "initrd:  %s\n", res.Initrd)
	fmt.Fprintf(w, "capture command line (in the VM): %s\n", res.Cmdline)
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "the VM ran %s (%s)\n", res.Elapsed.Round(time.Second), strings.ToUpper(res.Accel))
	if res.Dir != "" {
		fmt.Fprintf(w, "kept: %s\n", res.Dir)
	}
	if !res.Pass {
		fmt.Fprintf(w, "FAIL: %s\n", res.Reason)
		if res.Dump != nil && res.Dump.Status != nil {
			st := res.Dump.Status
			fmt.Fprintf(w, "capture status: %s, action %s", st.Result, st.Action)
			if st.Error != "" {
				fmt.Fprintf(w, ", error: %s", st.Error)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "console (last lines):\n%s\n", res.ConsoleTail)
		return 1
	}
	fmt.Fprintf(w, "PASS: the capture saved %s (%d bytes) and it opens\n", res.Dump.Dir[strings.LastIndex(res.Dump.Dir, "/")+1:]+"/"+res.Dump.File[strings.LastIndex(res.Dump.File, "/")+1:], res.Dump.Size)
	if res.Info != nil {
		res.Info.WriteText(w)
	}
	return 0
}
