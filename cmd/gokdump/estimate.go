package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/gokdump/gokdump/crashkernel"

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
	fs := newFlagSet(e, "estimate", `[--memory SIZE] [start's options]

Recommends how much memory to reserve for the capture kernel (crashkernel=) and
compares it with the current reservation. The model (docs/reservation.md), with
its constants measured in the lab by bisection of the smallest reservation that
still saved a dump of 1, 4, 16 and 64 GiB guests:

  kernel        memory the kernel needs to decompress and run (bzImage init_size)
  initramfs     the compressed capture initramfs, held while it is unpacked
  unpacked      its files in the capture kernel's root file system
  modules       the loaded copies of its kernel modules
  runtime        8 MiB: slab, drivers, file system buffers, page cache (fitted)
  collector     16 MiB: gokdump's bounded working set (peak RSS measured 16-17 MiB)
  margin        32 MiB: devices, a kernel log, writeback the lab does not have
  memory        64 KiB per GiB of the crashed machine (this one's, or --memory):
                the dump's bitmaps; the capture kernel keeps nothing per page

rounded up to a multiple of 16 MiB.`)
	memFlag := fs.String("memory", "", "recommend for a machine with `SIZE` of memory (e.g. 64G) instead of this one")
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
	if *memFlag != "" {
		n, ok := crashkernel.SizeFor(*memFlag, 0)
		if !ok || n <= 0 || strings.ContainsAny(*memFlag, ":-@,") {
			fmt.Fprintf(e.stderr, "gokdump estimate: --memory %q: want a size such as 64G\n", *memFlag)
			return 2
		}
		est.Memory = n
		*est = service.ComputeEstimateFrom(*est)
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
	row("runtime", est.Runtime, "the capture kernel's own needs")
	row("collector", est.Collector, "gokdump's working set")
	row("margin", est.Margin, "what the lab's guests did not have")
	row("memory", est.MemoryCost, fmt.Sprintf("%d KiB per GiB of %.0f GiB", est.PerGiB>>10, math.Ceil(float64(est.Memory)/(1<<30))))
	if est.Upload > 0 {
		row("upload", est.Upload, fmt.Sprintf("s3_capture's %s part, twice", mib(est.Upload/2)))
	}
	row("total", est.Total, "")
	fmt.Fprintf(w, "recommended: %s\n", est.Crashkernel())
	fmt.Fprintf(w, "by memory size: crashkernel=%s\n", crashkernel.RecommendRanges(est.For))
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
