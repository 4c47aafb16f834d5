// Command gokdump-bench is `make bench`: it measures `gokdump dump` side by side with
// Debian's makedumpfile on real lab vmcores of a 1 GiB and a 6 GiB guest and of a 2 GiB
// guest whose free pages hold stale data, and prints wall time, CPU time, peak RSS and
// output size of each, and each performance target of the collector with PASS or MISS:
// on all cores against makedumpfile 1.7.2, and with one worker (GOMAXPROCS=1) against
// makedumpfile 1.7.2 and Debian unstable's 1.7.8, single-threaded. A MISS is reported,
// not an error: the exit status is non-zero only when something could not be measured.
//
//	go run ./bench/cmd/gokdump-bench [-runs 3] [-vmcores 1g,stale,6g] [-sets all,1worker] [-cache DIR] [-gokdump BIN]
//	go run ./bench/cmd/gokdump-bench -prepare   # only make the vmcores
//	go run ./bench/cmd/gokdump-bench -sections serve [-serve-records 100000]
//	go run ./bench/cmd/gokdump-bench -sections capture [-capture-cpus 1,2] [-capture-runs 3]
//
// The serve section (no VM) fills a directory crash store with generated records
// (package fleetgen), builds gokdump serve's index of it and loads its pages on
// 127.0.0.1: index build time, index memory, and each page's median load time with
// PASS or MISS against 200 ms.
//
// The capture section (after the dump section) crashes a 1 GiB Debian 6.1 lab guest
// once per -capture-cpus entry; its capture kernel (nr_cpus as given, QEMU TCG with a
// host thread per vCPU) runs gokdump's collector and makedumpfile in turn on
// /proc/vmcore, writing to ext4 on a virtio disk, and measures reading /proc/vmcore
// with read(2) and mmap(2) windows (package bench, capture.go).
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
	staleMiB          int
	freeBytesToCreate int64 // disk the crash needs: the vmcore disk image and the extracted vmcore
}

var guests = []guest{
	{name: "1g", label: "1 GiB", memoryMiB: 1024, pageCacheMiB: 128, anonMiB: 128, freeBytesToCreate: 4 << 30},
	// A bigger machine also holds more data: 1 GiB of page cache and 1 GiB of
	// anonymous memory, the rest mostly free.
	{name: "6g", label: "6 GiB", memoryMiB: 6144, pageCacheMiB: 1024, anonMiB: 1024, freeBytesToCreate: 15 << 30},
	// Memory that was used and freed (issue 14): 1280 MiB filled with stale data, half
	// text and half incompressible bytes, then freed before the usual workload, so
	// that -d 1 dumps meet it.
	{name: "stale", label: "2 GiB stale", memoryMiB: 2048, pageCacheMiB: 64, anonMiB: 64, staleMiB: 1280, freeBytesToCreate: 6 << 30},
}

// crashKernelMiB is the capture reservation of both guests.
const crashKernelMiB = 256

// outputsFree is the disk the measured runs need for one output at a time (the largest,
// -d 1 of the 6 GiB vmcore, is about 1 GB) with room to spare.
const outputsFree = 4 << 30

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("gokdump-bench", flag.ContinueOnError)
	runs := fl.Int("runs", 3, "runs of each tool and configuration (the median is reported)")
	which := fl.String("vmcores", "1g,stale,6g", "vmcores to measure, smallest first: 1g, stale, 6g")
	setsFlag := fl.String("sets", "all,1worker", "groups of runs: all (gokdump on all CPUs against makedumpfile 1.7.2) and 1worker (one worker against makedumpfile 1.7.2 and 1.7.8)")
	cacheFlag := fl.String("cache", "", "where the vmcores are kept (default .cache/bench in the repository, or $GOKDUMP_CACHE/bench)")
	gokdumpFlag := fl.String("gokdump", "", "gokdump binary to measure (default: build ./cmd/gokdump, static)")
	mdfFlag := fl.String("makedumpfile", "makedumpfile", "makedumpfile binary")
	kernel := fl.String("kernel", "linux-image-amd64", "Debian kernel package of the lab guests")
	prepare := fl.Bool("prepare", false, "only make (or find) the vmcores, measure nothing")
	sections := fl.String("sections", "dump,capture,serve", "what to measure: dump (gokdump dump vs makedumpfile on vmcores in the page cache), capture (both in a lab capture kernel on /proc/vmcore), serve (gokdump serve over generated crash records)")
	serveRecords := fl.Int("serve-records", 100_000, "crash records the serve section generates")
	serveRuns := fl.Int("serve-runs", 7, "timed loads of each page in the serve section (after 3 untimed)")
	captureCPUs := fl.String("capture-cpus", "1,2", "capture kernels to measure, by nr_cpus (a lab crash each)")
	captureRuns := fl.Int("capture-runs", 3, "runs of each tool and configuration in the capture kernel")
	captureMem := fl.Int("capture-memory", 1024, "memory of the capture benchmark's guest, MiB")
	captureRead := fl.Int("capture-read-mib", 512, "MiB of /proc/vmcore each read method reads in the capture kernel (0: all, -1: no read probe)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	doDump, doCapture, doServe := false, false, false
	for _, s := range strings.Split(*sections, ",") {
		switch strings.TrimSpace(s) {
		case "dump":
			doDump = true
		case "capture":
			doCapture = true
		case "serve":
			doServe = true
		default:
			return fmt.Errorf("-sections: unknown section %q (have dump, capture, serve)", s)
		}
	}
	cpus, err := parseCPUs(*captureCPUs)
	if err != nil {
		return err
	}
	if *prepare {
		doCapture, doServe = false, false
	}
	if fl.NArg() != 0 || *runs < 1 {
		return fmt.Errorf("usage: gokdump-bench [-runs N] [-vmcores 1g,stale,6g] [-sets all,1worker] [-cache DIR] [-gokdump BIN]")
	}
	var sets bench.Sets
	for _, s := range strings.Split(*setsFlag, ",") {
		switch strings.TrimSpace(s) {
		case "all":
			sets.AllCores = true
		case "1worker":
			sets.OneWorker = true
		default:
			return fmt.Errorf("-sets: unknown set %q (have all, 1worker)", s)
		}
	}
	var chosen []guest
	for _, n := range strings.Split(*which, ",") {
		g, ok := findGuest(n)
		if !ok {
			return fmt.Errorf("-vmcores: unknown vmcore %q (have 1g, stale, 6g)", n)
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
	if doDump || doCapture {
		co := captureOptions{cpus: cpus, runs: *captureRuns, memoryMiB: *captureMem, readMiB: *captureRead, kernel: *kernel, cache: cache}
		if err := runDump(ctx, stdout, cache, chosen, sets, *runs, *gokdumpFlag, *mdfFlag, *kernel, *prepare, doDump, doCapture, co); err != nil {
			return err
		}
	}
	if doServe {
		return runServe(ctx, stdout, cache, *serveRecords, *serveRuns)
	}
	return nil
}

// runDump is the dump section: gokdump dump against makedumpfile on lab vmcores.
// With doCapture it runs the capture section after it (or alone, without doHost):
// both need the lab's binaries and makedumpfile.
func runDump(ctx context.Context, stdout io.Writer, cache string, chosen []guest, sets bench.Sets, runs int, gokdumpFlag, mdfFlag, kernel string, prepare, doHost, doCapture bool, co captureOptions) error {
	mdf, err := exec.LookPath(mdfFlag)
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
	if gokdumpFlag != "" {
		bins.Gokdump = gokdumpFlag
	}
	tools := bench.Tools{Gokdump: bins.Gokdump, Makedumpfile: mdf}
	co.mdf, co.bins = mdf, bins
	mdf178 := "not measured"
	if doHost && sets.OneWorker && !prepare {
		tools.Makedumpfile178, err = sidMakedumpfile(ctx, stdout, cache)
		if err != nil {
			return fmt.Errorf("makedumpfile 1.7.8 (Debian unstable) for the one-worker runs: %w", err)
		}
		mdf178 = version(ctx, tools.Makedumpfile178[0], append(tools.Makedumpfile178[1:], "-v")...)
	}

	if !doHost {
		return runCapture(ctx, stdout, co)
	}
	fmt.Fprintf(stdout, "gokdump-bench: %s, %d CPUs; gokdump %s; %s; %s\n", time.Now().UTC().Format(time.RFC3339),
		runtime.NumCPU(), version(ctx, tools.Gokdump, "dump", "-v"), version(ctx, mdf, "-v"), mdf178)
	fmt.Fprintf(stdout, "load average at start: %s\n", loadAvg())
	fmt.Fprintf(stdout, "method: vmcore read once into the page cache; %d runs per tool and configuration, round-robin; median by wall time\n"+
		"        (makedumpfile --num-threads 2 runs once if that is over 2x its single-threaded time);\n"+
		"        time = child's wall time + fsync of its output by the bench; peak RSS = the child's ru_maxrss;\n"+
		"        one worker: gokdump --num-threads 1 with GOMAXPROCS=1, makedumpfile 1.7.2 and 1.7.8 single-threaded, compared by CPU time\n", runs)

	var results []bench.Result
	var labels []string
	for _, g := range chosen {
		vmcore, err := ensureVmcore(ctx, stdout, cache, kernel, bins, g)
		if err != nil {
			return err
		}
		st, err := os.Stat(vmcore)
		if err != nil {
			return err
		}
		if prepare {
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
		res, err := bench.Run(ctx, bench.Jobs(label, vmcore, tools, outDir, sets), runs, stdout)
		if err != nil {
			return err
		}
		results = append(results, res...)
		labels = append(labels, label)
	}
	if prepare {
		return nil
	}
	verdicts := bench.Evaluate(results, labels)
	fmt.Fprintf(stdout, "\nload average at end: %s\n\n", loadAvg())
	if err := bench.WriteTable(stdout, results, verdicts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s (a MISS is reported, not an error)\n", bench.Summary(verdicts))
	if !doCapture {
		return nil
	}
	return runCapture(ctx, stdout, co)
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
		MemoryMiB: g.memoryMiB, CrashKernelMiB: crashKernelMiB, PageCacheMiB: g.pageCacheMiB, AnonMiB: g.anonMiB, StaleMiB: g.staleMiB,
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

// runServe is the serve section: gokdump serve over generated crash records in a
// directory store under cache (removed afterwards). The S3 store plugs in here as
// bench.ServeConfig.Store when a bucket is configured.
func runServe(ctx context.Context, stdout io.Writer, cache string, records, runs int) error {
	st, cleanup, err := bench.TempStore(cache)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(stdout, "\n== gokdump serve: %d generated crash records in the directory store %s; load average %s\n", records, st.Root, loadAvg())
	const warmup = 3
	rep, err := bench.Serve(ctx, bench.ServeConfig{Store: st, Records: records, Runs: runs, Warmup: warmup}, stdout)
	if err != nil {
		return err
	}
	if err := bench.WriteServeReport(stdout, rep, runs, warmup); err != nil {
		return err
	}
	pass, miss := bench.ServeVerdicts(rep)
	fmt.Fprintf(stdout, "\nserve: %d PASS, %d MISS (a MISS is reported, not an error)\n", pass, miss)
	return nil
}
