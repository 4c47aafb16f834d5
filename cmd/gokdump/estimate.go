package main

import (
	"context"
	"fmt"

	"github.com/gokdump/gokdump/service"
)

func init() {
	register(&command{
		name:    "estimate",
		summary: "recommend a crashkernel= size from the kernel, capture initramfs and module sizes",
		run:     runEstimate,
	})
}

func runEstimate(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "estimate", `[start's options]

Recommends how much memory to reserve for the capture kernel (crashkernel=) and
compares it with the current reservation. The sum is:

  kernel        memory the kernel needs to decompress and run (bzImage init_size)
  initramfs     the compressed capture initramfs, held while it is unpacked
  unpacked      its files in the capture kernel's root file system
  modules       the loaded copies of its kernel modules
  runtime       64 MiB: page tables, struct pages, slab, drivers (nr_cpus=1)
  collector     32 MiB: gokdump dump's bounded working set

rounded up to a multiple of 32 MiB.`)
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, data, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump estimate: %v\n", err)
		return 1
	}
	est, err := f.sys.Estimate(f.startOptions(cfg, data))
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump estimate: %v\n", err)
		return 1
	}
	printEstimate(e, est)
	return 0
}

func printEstimate(e *env, est *service.Estimate) {
	w := e.stdout
	row := func(name string, n int64, why string) {
		fmt.Fprintf(w, "  %-10s %8.1f MiB  %s\n", name, float64(n)/(1<<20), why)
	}
	row("kernel", est.Kernel, est.KernelFrom)
	row("initramfs", est.ImageCompressed, "the compressed capture initramfs")
	row("unpacked", est.ImageUnpacked, "its files, unpacked")
	row("modules", est.Modules, "loaded kernel modules")
	row("runtime", est.Base, "the capture kernel's own needs")
	row("collector", est.Collector, "gokdump dump's working set")
	row("total", est.Total, "")
	fmt.Fprintf(w, "recommended: %s\n", est.Crashkernel())
	switch {
	case est.Reserved == 0:
		fmt.Fprintf(w, "currently reserved: nothing: add %s to the kernel command line and reboot\n", est.Crashkernel())
	case est.Reserved < est.Recommended:
		fmt.Fprintf(w, "currently reserved: %s, %s less than recommended: the capture may run out of memory\n",
			mib(est.Reserved), mib(est.Recommended-est.Reserved))
	default:
		fmt.Fprintf(w, "currently reserved: %s: enough\n", mib(est.Reserved))
	}
}
