package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/bench"
	"github.com/gokdump/gokdump/lab"
	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/lab/plan"
)

// captureOptions are the flags of the capture-kernel benchmark.
type captureOptions struct {
	cpus      []int // a crash per entry: the capture kernel's nr_cpus
	runs      int
	memoryMiB int
	readMiB   int
	kernel    string
	mdf       string // host makedumpfile, carried into the capture initramfs
	cache     string
	bins      lab.Binaries
}

func parseCPUs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 2 {
			return nil, fmt.Errorf("-capture-cpus: %q is not 1 or 2", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runCapture is the capture-kernel benchmark: for each CPU count, one lab crash of a
// Debian 6.1 guest whose capture kernel runs gokdump's collector and makedumpfile in
// turn on /proc/vmcore (package bench, CaptureJobs), then the report.
func runCapture(ctx context.Context, stdout io.Writer, o captureOptions) error {
	mdf, err := filepath.EvalSymlinks(o.mdf)
	if err != nil {
		return fmt.Errorf("makedumpfile: %w", err)
	}
	kernels, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		return err
	}
	pkg, err := kernelpkg.Resolve(ctx, o.kernel)
	if err != nil {
		return err
	}
	k, err := kernelpkg.Get(ctx, kernels, pkg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n== capture-kernel benchmark: %s guest of %d MiB, crashkernel %d MiB, %d runs per tool and configuration\n",
		k.Release, o.memoryMiB, crashKernelMiB, o.runs)
	fmt.Fprintf(stdout, "method: in the capture kernel, gokdump dump (all CPUs) and %s (single-threaded, %s) run in turn on /proc/vmcore,\n"+
		"        order alternating every round, after one untimed warm-up run of each (the first run in a fresh capture kernel\n"+
		"        pays QEMU's translation of the kernel code both use), writing to ext4 on a virtio disk; time = child wall + fsync of its output;\n"+
		"        cpu = the child's rusage; mem high-water = largest MemTotal-MemAvailable sampled every 20 ms during the run\n"+
		"        (the capture command line has cgroup_disable=memory, so there is no memory.peak); QEMU TCG thread=multi\n"+
		"        (a host thread per vCPU, so 2 vCPUs really run in parallel) on a shared %d-core host\n",
		mdf, version(ctx, mdf, "-v"), nCPU())
	var runs []bench.CaptureRun
	for _, cpus := range o.cpus {
		work, err := os.MkdirTemp(o.cache, ".capture-")
		if err != nil {
			return err
		}
		label := fmt.Sprintf("nr_cpus=%d", cpus)
		fmt.Fprintf(stdout, "%s: crashing the guest (console in %s)\n", label, filepath.Join(work, "console.log"))
		start := time.Now()
		res, err := lab.Crash(ctx, lab.Config{
			Kernel: k, Binaries: o.bins, Dir: work, CPU: "max", KASLR: true,
			MemoryMiB: o.memoryMiB, CPUs: 2, CrashKernelMiB: crashKernelMiB,
			CaptureExtra:   []string{"nr_cpus=" + strconv.Itoa(cpus)},
			Modules:        []string{"crc32c_generic", "ext4"},
			HostFiles:      []string{mdf},
			MultiThreadTCG: true,
			Bench: &plan.Bench{
				Jobs: bench.CaptureJobs(plan.GokdumpPath, mdf), Runs: o.runs,
				ReadProbe: o.readMiB >= 0, ReadProbeMiB: max(o.readMiB, 0),
			},
			Timeout: 4 * time.Hour,
		})
		if err != nil {
			if res != nil {
				fmt.Fprintf(stdout, "console tail:\n%s\n", lab.ConsoleTail(res.ConsoleLog, 40))
			}
			return err
		}
		samples, reads, cmdline, err := bench.ParseCapture(res.Console)
		if err != nil {
			return err
		}
		for _, s := range samples {
			fmt.Fprintf(stdout, "  [%d] %-12s %-9s %7.2fs cpu %7.2fs mem %6.1f MiB out %8.1f MiB%s\n", s.Run, s.Tool, s.Config,
				float64(s.WallNs)/1e9, float64(s.CPUNs)/1e9, float64(s.MemPeakKiB)/1024, float64(s.Size)/(1<<20), errSuffix(s.Err))
		}
		run := bench.CaptureRun{CPUs: cpus, Label: label, Samples: samples, Reads: reads,
			Elapsed: time.Since(start), Cmdline: cmdline}
		if n, total, used, ok := bench.ParseRest(res.Console); ok {
			run.MemTotalKiB, run.RestUsedKiB = total, used
			fmt.Fprintf(stdout, "%s: %d CPUs online, MemTotal %.1f MiB, used at rest %.1f MiB\n", label, n, float64(total)/1024, float64(used)/1024)
		}
		runs = append(runs, run)
		fmt.Fprintf(stdout, "%s: done in %s; capture command line: %s\n", label, time.Since(start).Round(time.Second), cmdline)
		os.RemoveAll(work)
	}
	fmt.Fprintln(stdout)
	v := bench.EvaluateCapture(runs)
	if err := bench.WriteCaptureTable(stdout, runs, v); err != nil {
		return err
	}
	bench.WritePerCPUCost(stdout, runs)
	fmt.Fprintf(stdout, "\ncapture kernel: %s (a MISS is reported, not an error)\n", bench.Summary(v))
	return nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " FAILED: " + e
}

func nCPU() int { return runtime.NumCPU() }
