// Package bench measures gokdump's collector side by side with makedumpfile on the same
// vmcores: wall time, CPU time, peak resident memory and output size of each run, and
// checks the ratios against the performance targets of the collector (issue 3). The
// command bench/cmd/gokdump-bench (`make bench`) makes the lab vmcores, runs both tools
// and prints the table; it is a report, never a test that fails a build.
//
// The capture-kernel benchmark (capture.go) measures the same tools where the dump is
// really taken: in the capture kernel of a lab crash, on /proc/vmcore, with nr_cpus=1
// and 2, writing to a virtio disk (CaptureJobs, ParseCapture, EvaluateCapture against
// CaptureTargets, WriteCaptureTable), and how fast /proc/vmcore reads by read(2) and
// by mmap(2) windows there.
//
// Method: each vmcore is read once before its runs so both tools find it in the page
// cache; each configuration runs every tool Runs times, round-robin (so a change in the
// machine's load hits all tools alike), and the median run is reported (makedumpfile
// with --num-threads 2 runs once only when that run is over twice as slow as its
// single-threaded one: it cannot be its best). A second set of runs measures the cost
// per core that a capture kernel with one CPU sees (issue 14): gokdump with one
// compression worker and GOMAXPROCS=1 against makedumpfile 1.7.2 (Debian bookworm) and
// 1.7.8 (Debian unstable), both single-threaded, compared by CPU time. The time of a
// run is the child's wall time plus an fsync of its output by the harness: gokdump
// syncs its output before it exits and makedumpfile does not, so this is the time until
// the dump is on disk for both, and its CPU time is the child's plus the CPU time of
// that fsync (the writeback of what the child left dirty, which gokdump does itself).
// Peak memory is the child's ru_maxrss from wait4.
//
//	s, err := bench.Measure(ctx, bench.Command{Argv: []string{"makedumpfile", "-l", "-d", "31", vmcore, out}, Output: out})
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"time"
)

// Command is one measured run of a tool.
type Command struct {
	Argv   []string // program and arguments
	Output string   // the file the run writes (removed before the run, sized and synced after)
	Env    []string // added to the bench's environment, e.g. GOMAXPROCS=1
}

// Sample is what one run measured.
type Sample struct {
	Wall    time.Duration // child's wall time plus the fsync of its output
	CPU     time.Duration // user + system time of the child, plus SyncCPU
	SyncCPU time.Duration // CPU time of the harness's fsync of the output
	// User is the user part of the child's CPU time: the rest is the kernel's work for
	// it (copies from and into the page cache, allocating and reclaiming pages for the
	// output), which weighs the same for both tools and swings with the host's memory.
	User    time.Duration
	MaxRSS  int64 // peak resident set of the child, bytes (ru_maxrss)
	Size    int64 // bytes of the output file
	Command Command
}

// Measure runs c once: it removes c.Output, starts the child, waits for it, syncs the
// output and reports the sample. A non-zero exit is an error carrying the child's
// standard error.
func Measure(ctx context.Context, c Command) (Sample, error) {
	if len(c.Argv) == 0 || c.Output == "" {
		return Sample{}, errors.New("bench: a command needs Argv and Output")
	}
	if err := os.Remove(c.Output); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Sample{}, fmt.Errorf("bench: %w", err)
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		return Sample{}, fmt.Errorf("bench: %q: %v\n%s", c.Argv, err, lastBytes(stderr.Bytes(), 2000))
	}
	// The fsync's CPU time is the writeback of what the child left dirty: a tool that
	// syncs its output has paid it already, one that does not has it paid here.
	runtime.LockOSThread()
	before := threadCPU()
	size, err := syncFile(c.Output)
	syncCPU := threadCPU() - before
	runtime.UnlockOSThread()
	if err != nil {
		return Sample{}, err
	}
	s := Sample{Wall: time.Since(start), Size: size, Command: c, SyncCPU: max(syncCPU, 0)}
	s.MaxRSS, s.CPU, s.User = usage(cmd.ProcessState)
	s.CPU += s.SyncCPU
	return s, nil
}

// syncFile fsyncs path and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("bench: the run wrote no output: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return st.Size(), nil
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Median returns the sample of median wall time (the lower middle one of an even
// count), so time, memory and size all come from one real run.
func Median(samples []Sample) (Sample, error) {
	if len(samples) == 0 {
		return Sample{}, errors.New("bench: no samples")
	}
	s := append([]Sample(nil), samples...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Wall < s[j].Wall })
	return s[(len(s)-1)/2], nil
}

// MaxRSS is the largest peak resident set among samples.
func MaxRSS(samples []Sample) int64 {
	var m int64
	for _, s := range samples {
		m = max(m, s.MaxRSS)
	}
	return m
}
