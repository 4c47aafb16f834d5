package plan

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CaptureBench is the capture action of the capture-kernel benchmark (bench/, `make
// bench`): the first kernel arms as CaptureRawTar does but carries Bench.Files and
// the real gokdump (GokdumpPath) into the capture initramfs; the capture kernel mounts
// the ext4 file system on the DiskBenchOut disk and runs Bench.Jobs on /proc/vmcore,
// one untimed warm-up run of each tool of the first configuration, then Bench.Runs
// rounds, alternating the order of the tools from one round to the next,
// printing one BenchSampleEvent line per run, then measures reading /proc/vmcore
// (BenchReadEvent lines) when Bench.ReadProbe is set, and prints EventBenchDone.
const CaptureBench = "bench"

// DiskBenchOut is the serial of the bench's output disk (an ext4 file system the host
// made on it).
const DiskBenchOut = "gokdump-benchout"

// Console events of the capture-kernel benchmark; the JSON that follows the first two
// is a BenchSample or a BenchRead.
const (
	BenchSampleEvent = "bench-sample"
	BenchReadEvent   = "bench-read"
	EventBenchDone   = "bench-done"
)

// Placeholders in BenchJob.Argv.
const (
	BenchVmcore = "{vmcore}" // /proc/vmcore
	BenchOutput = "{out}"    // the run's output file on the output disk
)

// Bench is the capture kernel's benchmark.
type Bench struct {
	Jobs []BenchJob `json:"jobs"`
	// Runs is how many times each job runs (rounds; the order of the jobs of one
	// configuration is reversed every other round).
	Runs int `json:"runs"`
	// Files are programs and libraries of the first kernel's initramfs (package lab's
	// Config.HostFiles, resolved) that the capture initramfs carries at the same paths.
	Files []string `json:"files,omitempty"`
	// ReadProbe measures read(2) of several sizes and mmap(2) windows of /proc/vmcore.
	ReadProbe bool `json:"read_probe,omitempty"`
	// ReadProbeMiB bounds how much of /proc/vmcore each read method reads (0: all).
	ReadProbeMiB int `json:"read_probe_mib,omitempty"`
	// TimeoutSeconds bounds each run (default 1800).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// BenchJob is one tool with one configuration.
type BenchJob struct {
	Tool   string   `json:"tool"`
	Config string   `json:"config"`
	Argv   []string `json:"argv"` // absolute program path; BenchVmcore and BenchOutput are replaced
}

// BenchSample is what one run measured in the capture kernel.
type BenchSample struct {
	Tool   string `json:"tool"`
	Config string `json:"config"`
	Run    int    `json:"run"`
	WallNs int64  `json:"wall_ns"` // the child's wall time plus the fsync of its output
	CPUNs  int64  `json:"cpu_ns"`  // user + system time of the child (wait4's rusage)
	// MaxRSSKiB is the child's ru_maxrss.
	MaxRSSKiB int64 `json:"maxrss_kib"`
	// MemPeakKiB is the capture kernel's memory high-water mark during the run: the
	// largest MemTotal-MemAvailable sampled from /proc/meminfo (MemSource says how).
	MemPeakKiB int64  `json:"mem_peak_kib"`
	MemBaseKiB int64  `json:"mem_base_kib"` // MemTotal-MemAvailable just before the run
	MemSource  string `json:"mem_source"`
	Size       int64  `json:"size"` // bytes of the output file
	CPUs       int    `json:"cpus"` // CPUs online in the capture kernel
	Err        string `json:"err,omitempty"`
}

// BenchRead is one way of reading /proc/vmcore, measured in the capture kernel.
type BenchRead struct {
	Method string `json:"method"` // "read 4KiB", "mmap 4MiB windows", ...
	Bytes  int64  `json:"bytes"`
	WallNs int64  `json:"wall_ns"`
	CPUNs  int64  `json:"cpu_ns"` // this process's user + system time
	Err    string `json:"err,omitempty"`
}

func (b *Bench) validate() error {
	if len(b.Jobs) == 0 {
		return fmt.Errorf("bench: no jobs")
	}
	if b.Runs < 1 || b.Runs > 100 {
		return fmt.Errorf("bench: runs %d out of range [1, 100]", b.Runs)
	}
	if b.TimeoutSeconds < 0 || b.TimeoutSeconds > 7200 {
		return fmt.Errorf("bench: timeout_seconds %d out of range [0, 7200]", b.TimeoutSeconds)
	}
	for i, j := range b.Jobs {
		if j.Tool == "" || j.Config == "" || len(j.Argv) == 0 || !strings.HasPrefix(j.Argv[0], "/") {
			return fmt.Errorf("bench: job %d: needs a tool, a configuration and an absolute program", i)
		}
	}
	for _, f := range b.Files {
		if !strings.HasPrefix(f, "/") {
			return fmt.Errorf("bench: file %q is not absolute", f)
		}
	}
	return nil
}

// Timeout is a run's bound in seconds.
func (b *Bench) Timeout() int {
	if b.TimeoutSeconds == 0 {
		return 1800
	}
	return b.TimeoutSeconds
}

// BenchLine formats an event with its JSON value as a console line's text (after
// ConsolePrefix).
func BenchLine(event string, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return event + " " + string(data), nil
}

// ParseBenchLine decodes what ParseLine returned for a bench event into v; ok is false
// for any other line.
func ParseBenchLine(line, event string, v any) (ok bool, err error) {
	rest, found := strings.CutPrefix(line, event+" ")
	if !found {
		return false, nil
	}
	if err := json.Unmarshal([]byte(rest), v); err != nil {
		return true, fmt.Errorf("plan: %s line %q: %w", event, line, err)
	}
	return true, nil
}
