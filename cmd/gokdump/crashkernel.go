package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/crashkernel"
)

func init() {
	register(&command{
		name:    "crashkernel",
		summary: "show the capture kernel's memory reservation, recommend one, and --apply it to the boot loader",
		run:     runCrashkernel,
	})
}

func runCrashkernel(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "crashkernel", `[--apply | --auto] [--size SIZE] [--root DIR] [start's options]

Shows the crashkernel= option of the running kernel (/proc/cmdline), the memory
actually reserved (/sys/kernel/kexec_crash_size) and the machine's memory, and
recommends a crashkernel= value by memory range, "1G-4G:A,4G-16G:B,...", each SIZE
what "gokdump estimate" computes for the capture kernel and initramfs that "start"
would load and the largest machine of the range (the model grows by a fraction of a
MiB per GiB of memory; docs/reservation.md), or "1G-:SIZE" with --size. Machines
under 1 GiB get no reservation (it would take a quarter of their memory).

With --apply the recommendation is written to the boot loader configuration for the
next boot: on Debian and Ubuntu /etc/default/grub.d/gokdump-crashkernel.cfg (any other
crashkernel= of GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT is dropped) and
update-grub; on Fedora and RHEL grubby --update-kernel=ALL, or, without grubby, the
options line of each entry in /boot/loader/entries. It prints each change. With --root
the files under DIR are changed and the commands are printed, not run (run them in the
chroot).`)
	apply := fs.Bool("apply", false, "write the recommendation to the boot loader configuration")
	auto := fs.Bool("auto", false, "--apply if the configuration's auto_reset_crashkernel is yes (kernel-install hook)")
	size := fs.String("size", "", "reserve `SIZE` (e.g. 384M) instead of the estimate")
	root := fs.String("root", "/", "the system's root `directory` (its /proc, /sys, /etc and /boot)")
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cur, err := crashkernel.Current(*root)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump crashkernel: %v\n", err)
		return 1
	}
	if *auto && *apply {
		fmt.Fprintln(e.stderr, "gokdump crashkernel: --auto and --apply: give one (--auto applies only when auto_reset_crashkernel is yes)")
		return 2
	}
	var cfg *config.Config
	var data []byte
	if *auto || *size == "" {
		if cfg, data, err = f.load(); err != nil {
			fmt.Fprintf(e.stderr, "gokdump crashkernel: %v\n", err)
			return 1
		}
	}
	if *auto {
		if !cfg.AutoResetCrashkernel {
			fmt.Fprintf(e.stdout, "auto_reset_crashkernel no%s: the boot loader configuration is left as it is\n", lineRef(cfg))
			return 0
		}
		*apply = true
	}
	var need int64
	var rec string
	if *size != "" {
		n, ok := crashkernel.SizeFor(*size, 0)
		if !ok || n <= 0 || strings.ContainsAny(*size, ":-@,") {
			fmt.Fprintf(e.stderr, "gokdump crashkernel: --size %q: want a size such as 256M or 1G\n", *size)
			return 2
		}
		need = n
		rec = crashkernel.Recommend(need)
	} else {
		est, err := f.sys.Estimate(f.startOptions(cfg, data))
		if err != nil {
			fmt.Fprintf(e.stderr, "gokdump crashkernel: estimating the size (or give --size): %v\n", err)
			return 1
		}
		need = est.Recommended
		rec = crashkernel.RecommendRanges(est.For)
	}
	w := e.stdout
	switch {
	case cur.Option == "":
		fmt.Fprintln(w, "command line: no crashkernel= option")
	default:
		fmt.Fprintf(w, "command line: crashkernel=%s\n", cur.Option)
	}
	fmt.Fprintf(w, "reserved:     %s\n", mib(cur.Reserved))
	if cur.Memory > 0 {
		fmt.Fprintf(w, "memory:       %s\n", mib(cur.Memory))
	}
	if *size != "" {
		fmt.Fprintf(w, "recommended:  crashkernel=%s (%s on machines of 1 GiB and more)\n", rec, mib(need))
	} else {
		fmt.Fprintf(w, "recommended:  crashkernel=%s (%s for this machine's memory)\n", rec, mib(need))
	}
	if cur.Memory > 0 {
		switch got, ok := crashkernel.SizeFor(rec, cur.Memory); {
		case !ok:
			fmt.Fprintln(w, "on this machine: no reservation (less than 1 GiB of memory)")
		case cur.Reserved >= got:
			fmt.Fprintln(w, "on this machine: the current reservation is enough")
		default:
			fmt.Fprintf(w, "on this machine: %s more than reserved now\n", mib(got-cur.Reserved))
		}
	}
	if !*apply {
		return 0
	}
	run := crashkernel.Exec
	if filepath.Clean(*root) != "/" {
		run = func(argv []string) ([]byte, error) {
			return []byte(fmt.Sprintf("not run (--root %s): run it in the chroot", *root)), nil
		}
	}
	changes, err := crashkernel.Apply(*root, rec, run)
	for _, c := range changes {
		fmt.Fprintln(w, c)
		if out := strings.TrimSpace(c.Output); out != "" {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(out, "\n", "\n  "))
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump crashkernel: %v\n", err)
		return 1
	}
	fmt.Fprintf(w, "crashkernel=%s takes effect at the next boot\n", rec)
	return 0
}

// lineRef is " (FILE line N)" for the configuration's auto_reset_crashkernel line, or
// "" when the default applies.
func lineRef(c *config.Config) string {
	if n := c.Lines["auto_reset_crashkernel"]; n > 0 {
		return fmt.Sprintf(" (%s line %d)", c.File, n)
	}
	return ""
}
