// Command gokdump-bench is `make bench`: it measures `gokdump dump` side by side with
// Debian's makedumpfile on real lab vmcores of a 1 GiB and a 6 GiB guest, and prints
// wall time, CPU time, peak RSS and output size of each, and each performance target of
// the collector with PASS or MISS. A MISS is reported, not an error: the exit status is
// non-zero only when something could not be measured.
//
//	go run ./bench/cmd/gokdump-bench [-runs 3] [-vmcores 1g,6g] [-cache DIR] [-gokdump BIN]
//	go run ./bench/cmd/gokdump-bench -prepare   # only make the vmcores
//	go run ./bench/cmd/gokdump-bench -only capture [-capture-cpus 1,2] [-capture-runs 3]
//
// The capture-kernel part (after the host part, or alone with -only capture) crashes a
// 1 GiB Debian 6.1 lab guest once per -capture-cpus entry; its capture kernel (nr_cpus
// as given, QEMU TCG with a host thread per vCPU) runs gokdump's collector and
// makedumpfile in turn on /proc/vmcore, writing to ext4 on a virtio disk, and measures
// reading /proc/vmcore with read(2) and mmap(2) windows (package bench, capture.go).
//
// The vmcores are made once with the real-crash lab (package lab) and kept in
// .cache/bench/<name>/vmcore (git-ignored), so later runs skip the crash. Making the
// 6 GiB one needs about 15 GB of free disk; the bench checks before it starts a guest.
// Run it as root from inside the repository, on a machine as idle as you can make it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gokdump/gokdump/bench"
	"github.com/gokdump/gokdump/lab"
	"github.com/gokdump/gokdump/lab/kernelpkg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gokdump-bench:", err)
		os.Exit(1)
	}
}

// guest is one lab vmcore of the bench.
type guest struct {
	name, label       string
	memoryMiB         int
	pageCacheMiB      int
	anonMiB           int
	freeBytesToCreate int64 // disk the crash needs: the vmcore disk image and the extracted vmcore
}

var guests = []guest{
	{name: "1g", label: "1 GiB", memoryMiB: 1024, pageCacheMiB: 128, anonMiB: 128, freeBytesToCreate: 4 << 30},
	// A bigger machine also holds more data: 1 GiB of page cache and 1 GiB of
	// anonymous memory, the rest mostly free.
	{name: "6g", label: "6 GiB", memoryMiB: 6144, pageCacheMiB: 1024, anonMiB: 1024, freeBytesToCreate: 15 << 30},
}

// crashKernelMiB is the capture reservation of both guests.
const crashKernelMiB = 256

// outputsFree is the disk the measured runs need for one output at a time (the largest,
// -d 1 of the 6 GiB vmcore, is about 1 GB) with room to spare.
const outputsFree = 4 << 30

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("gokdump-bench", flag.ContinueOnError)
	runs := fl.Int("runs", 3, "runs of each tool and configuration (the median is reported)")
	which := fl.String("vmcores", "1g,6g", "vmcores to measure, smallest first: 1g, 6g")
	cacheFlag := fl.String("cache", "", "where the vmcores are kept (default .cache/bench in the repository, or $GOKDUMP_CACHE/bench)")
	gokdumpFlag := fl.String("gokdump", "", "gokdump binary to measure (default: build ./cmd/gokdump, static)")
	mdfFlag := fl.String("makedumpfile", "makedumpfile", "makedumpfile binary")
	kernel := fl.String("kernel", "linux-image-amd64", "Debian kernel package of the lab guests")
	prepare := fl.Bool("prepare", false, "only make (or find) the vmcores, measure nothing")
	only := fl.String("only", "", "run only one part: host (vmcores in the page cache) or capture (in a lab capture kernel)")
	captureCPUs := fl.String("capture-cpus", "1,2", "capture kernels to measure, by nr_cpus (a lab crash each)")
	captureRuns := fl.Int("capture-runs", 3, "runs of each tool and configuration in the capture kernel")
	captureMem := fl.Int("capture-memory", 1024, "memory of the capture benchmark's guest, MiB")
	captureRead := fl.Int("capture-read-mib", 512, "MiB of /proc/vmcore each read method reads in the capture kernel (0: all, -1: no read probe)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *only != "" && *only != "host" && *only != "capture" {
		return fmt.Errorf("-only: %q is not host or capture", *only)
	}
	cpus, err := parseCPUs(*captureCPUs)
	if err != nil {
		return err
	}
	if fl.NArg() != 0 || *runs < 1 {
		return fmt.Errorf("usage: gokdump-bench [-runs N] [-vmcores 1g,6g] [-cache DIR] [-gokdump BIN]")
	}
	var chosen []guest
	for _, n := range strings.Split(*which, ",") {
		g, ok := findGuest(n)
		if !ok {
			return fmt.Errorf("-vmcores: unknown vmcore %q (have 1g, 6g)", n)
		}
		chosen = append(chosen, g)
	}
	cache, err := cacheDir(*cacheFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	mdf, err := exec.LookPath(*mdfFlag)
	if err != nil {
		return fmt.Errorf("makedumpfile is needed (apt-get install -y makedumpfile; `make deps`): %w", err)
	}
	// The lab guests need the guest program even when -gokdump names the binary to
	// measure (which then goes into the guests too).
	binDir, err := os.MkdirTemp(cache, ".bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	bins, err := lab.BuildBinaries(ctx, binDir)
	if err != nil {
		return err
	}
	if *gokdumpFlag != "" {
		bins.Gokdump = *gokdumpFlag
	}
	gokdump := bins.Gokdump

	if *only == "capture" {
		return runCapture(ctx, stdout, captureOptions{cpus: cpus, runs: *captureRuns, memoryMiB: *captureMem,
			readMiB: *captureRead, kernel: *kernel, mdf: mdf, cache: cache, bins: bins})
	}
	fmt.Fprintf(stdout, "gokdump-bench: %s, %d CPUs; gokdump %s; %s\n", time.Now().UTC().Format(time.RFC3339),
		runtime.NumCPU(), version(ctx, gokdump, "dump", "-v"), version(ctx, mdf, "-v"))
	fmt.Fprintf(stdout, "load average at start: %s\n", loadAvg())
	fmt.Fprintf(stdout, "method: vmcore read once into the page cache; %d runs per tool and configuration, round-robin; median by wall time\n"+
		"        (makedumpfile --num-threads 2 runs once if that is over 2x its single-threaded time);\n"+
		"        time = child's wall time + fsync of its output by the bench; peak RSS = the child's ru_maxrss\n", *runs)

	var results []bench.Result
	var labels []string
	for _, g := range chosen {
		vmcore, err := ensureVmcore(ctx, stdout, cache, *kernel, bins, g)
		if err != nil {
			return err
		}
		st, err := os.Stat(vmcore)
		if err != nil {
			return err
		}
		if *prepare {
			fmt.Fprintf(stdout, "%s guest: %s (%.0f MiB)\n", g.label, vmcore, float64(st.Size())/(1<<20))
			continue
		}
		outDir := filepath.Join(cache, "out")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
		if free, err := freeBytes(outDir); err == nil && free < outputsFree {
			return fmt.Errorf("%s: %.1f GB free, the runs need %.1f GB", outDir, float64(free)/1e9, float64(outputsFree)/1e9)
		}
		label := g.label
		fmt.Fprintf(stdout, "\n== %s guest: %s (%.0f MiB); warming the page cache\n", label, vmcore, float64(st.Size())/(1<<20))
		if err := warm(vmcore); err != nil {
			return err
		}
		res, err := bench.Run(ctx, bench.Jobs(label, vmcore, gokdump, mdf, outDir), *runs, stdout)
		if err != nil {
			return err
		}
		results = append(results, res...)
		labels = append(labels, label)
	}
	if *prepare {
		return nil
	}
	verdicts := bench.Evaluate(results, labels)
	fmt.Fprintf(stdout, "\nload average at end: %s\n\n", loadAvg())
	if err := bench.WriteTable(stdout, results, verdicts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s (a MISS is reported, not an error)\n", bench.Summary(verdicts))
	if *only == "host" {
		return nil
	}
	return runCapture(ctx, stdout, captureOptions{cpus: cpus, runs: *captureRuns, memoryMiB: *captureMem,
		readMiB: *captureRead, kernel: *kernel, mdf: mdf, cache: cache, bins: bins})
}

func findGuest(name string) (guest, bool) {
	for _, g := range guests {
		if g.name == strings.TrimSpace(name) {
			return g, true
		}
	}
	return guest{}, false
}

// cacheDir is -cache, else $GOKDUMP_CACHE/bench, else .cache/bench in the repository.
func cacheDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	kernels, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(kernels), "bench"), nil
}

// ensureVmcore returns cache/<name>/vmcore, crashing a lab guest to make it the first
// time (after checking there is disk for it).
func ensureVmcore(ctx context.Context, stdout io.Writer, cache, kernel string, bins lab.Binaries, g guest) (string, error) {
	dst := filepath.Join(cache, g.name, "vmcore")
	if _, err := os.Stat(dst); err == nil {
		fmt.Fprintf(stdout, "\n%s guest: using the cached %s\n", g.label, dst)
		return dst, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	free, err := freeBytes(cache)
	if err != nil {
		fmt.Fprintf(stdout, "not checking free disk space: %v\n", err)
	} else if free < g.freeBytesToCreate {
		return "", fmt.Errorf("%s: %.1f GB free; making the %s vmcore needs %.1f GB", cache, float64(free)/1e9, g.label, float64(g.freeBytesToCreate)/1e9)
	}
	kernels, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		return "", err
	}
	pkg, err := kernelpkg.Resolve(ctx, kernel)
	if err != nil {
		return "", err
	}
	k, err := kernelpkg.Get(ctx, kernels, pkg)
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(cache, ".crash-"+g.name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(stdout, "\n%s guest: crashing %s in QEMU (TCG, %d MiB, crashkernel %d MiB); console in %s\n",
		g.label, k.Release, g.memoryMiB, crashKernelMiB, filepath.Join(work, "console.log"))
	res, err := lab.Crash(ctx, lab.Config{
		Kernel: k, Binaries: bins, Dir: work, CPU: "max", KASLR: true,
		MemoryMiB: g.memoryMiB, CrashKernelMiB: crashKernelMiB, PageCacheMiB: g.pageCacheMiB, AnonMiB: g.anonMiB,
		Timeout: 60 * time.Minute,
	})
	if err != nil {
		if res != nil {
			fmt.Fprintf(stdout, "console tail:\n%s\n", lab.ConsoleTail(res.ConsoleLog, 40))
		}
		return "", err
	}
	fmt.Fprintf(stdout, "%s guest: crashed and captured in %s\n", g.label, res.Elapsed.Round(time.Second))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(res.Vmcore, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// warm reads path once so the runs find it in the page cache.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
	return err
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min)"
}

// version is the first line a binary prints for its version flag.
func version(ctx context.Context, bin string, args ...string) string {
	out, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return filepath.Base(bin)
	}
	return line
}
