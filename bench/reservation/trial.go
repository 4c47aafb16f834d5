// Package reservation measures, in the real-crash lab, how much memory the capture
// kernel needs: it crashes Debian lab guests of a given size that arm with the real
// "gokdump start" (the default configuration: default core_collector, the capture
// initramfs start builds) and are captured by the real gokdump, with a given
// crashkernel= reservation, and finds by bisection the smallest reservation at which
// the capture still saves a complete dump that opens. The numbers it prints are what
// the constants of service.Estimate's model are fitted to (docs/reservation.md).
//
// It is part of `make bench` (behind BENCH_RESERVATION=1; the command is
// bench/cmd/gokdump-reservation), a report and never a test; nothing in the product
// links it.
//
//	t, err := reservation.RunTrial(ctx, reservation.TrialConfig{Kernel: k, Binaries: b, MemoryMiB: 16384, CrashKernelMiB: 160, Dir: dir})
//	// t.Saved, t.Reason, t.CaptureTime, t.CaptureAvailKiB, t.PeakRSS
//
// A trial fails (Saved false) whatever the way: start refused to arm or could not
// load the capture kernel into the reservation, the capture kernel did not boot, ran
// out of memory (the OOM killer, a panic) or hung (the VM's timeout), or the dump on
// the target is missing, incomplete or does not open. Reason says which, from the
// lab's error and the console (Classify), so a capture that dies without a word is
// still classified.
package reservation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/lab"
	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// dumpLabel is the label of the dump target's file system.
const dumpLabel = "gokdump-dumps"

// sysrqPanic is the panic line of the guests' crash (sysrq-c), which the dump's own
// kernel log must hold.
const sysrqPanic = "Kernel panic - not syncing: sysrq triggered crash"

// KdumpConf is the guests' configuration: gokdump's defaults (core_collector, actions)
// with the dump saved to a second virtio disk.
const KdumpConf = "ext4 LABEL=" + dumpLabel + "\npath /var/crash\n"

// TrialConfig is one trial: a guest of MemoryMiB crashed with crashkernel=CrashKernelMiB.
type TrialConfig struct {
	Kernel *kernelpkg.Kernel
	lab.Binaries
	MemoryMiB      int
	CrashKernelMiB int
	// Dir is the trial's work directory (made; removed after a saved dump unless Keep).
	Dir  string
	Keep bool
	// Timeout bounds the VM run (boot, arm, crash, capture); it is what classifies a
	// capture that hangs.
	Timeout time.Duration
}

// Trial is what one trial measured.
type Trial struct {
	MemoryMiB      int
	CrashKernelMiB int
	Saved          bool   // a complete dump on the target that opens
	Reason         string // why not (Saved false), one short phrase
	// VMTime is the whole VM run; CaptureTime the capture service's own time (the
	// status file's start to end; 0 when there is none).
	VMTime, CaptureTime time.Duration
	// CaptureAvailKiB and CaptureTotalKiB are the capture kernel's "Memory:
	// AVAILK/TOTALK available" boot line: free memory when it starts (0: not seen).
	CaptureAvailKiB, CaptureTotalKiB int64
	// PeakRSS is the collector's peak resident set from the status file (0: none).
	PeakRSS   int64
	DumpBytes int64
	// RecommendedMiB is what "gokdump estimate" recommended in the guest before the
	// crash (0: not seen).
	RecommendedMiB int
	// Console is the console log, kept only with TrialConfig.Keep or a failure.
	Console string
}

// DefaultTimeout bounds a trial's VM run by the guest's size: a saved capture takes
// about 70 s for a 1 GiB and 4 minutes for a 64 GiB guest under TCG here (boot, arm,
// crash, capture); a capture out of memory panics and ends the VM at once (panic=10,
// -no-reboot), so only a capture that hangs waits for this.
func DefaultTimeout(memoryMiB int) time.Duration {
	return 5*time.Minute + time.Duration(memoryMiB>>10)*5*time.Second
}

// RunTrial runs one trial. Errors of the harness itself (no disk, QEMU missing) come
// back as an error; everything the guest did is in the Trial.
func RunTrial(ctx context.Context, c TrialConfig) (Trial, error) {
	t := Trial{MemoryMiB: c.MemoryMiB, CrashKernelMiB: c.CrashKernelMiB}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return t, err
	}
	disk := filepath.Join(c.Dir, "dumps.img")
	if err := lab.MakeExt4(ctx, disk, 1024, dumpLabel); err != nil {
		return t, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout(c.MemoryMiB)
	}
	res, err := lab.Crash(ctx, lab.Config{
		Kernel: c.Kernel, Binaries: c.Binaries, Dir: c.Dir, CPU: "max", KASLR: true,
		MemoryMiB: c.MemoryMiB, CrashKernelMiB: c.CrashKernelMiB,
		Modules:    []string{"ext4", "crc32c_generic"},
		ExtraDisks: []lab.Disk{{Path: disk, Serial: dumpLabel}},
		Service:    &lab.Service{KdumpConf: KdumpConf},
		// The model's recommendation for this very guest, on the console for the
		// report (Recommendation): what the search checks the model against.
		AfterArm:  []plan.Command{{Argv: []string{plan.GokdumpPath, "estimate", "--kernel", "/boot/vmlinuz"}, MayFail: true}},
		Timeout:   timeout,
		NoReserve: true,
	})
	if ctx.Err() != nil {
		return t, ctx.Err()
	}
	var con string
	if res != nil {
		t.VMTime = res.Elapsed
		if b, rerr := os.ReadFile(res.ConsoleLog); rerr == nil {
			con = string(b)
		}
		t.Console = res.ConsoleLog
	}
	t.CaptureAvailKiB, t.CaptureTotalKiB = CaptureMemory(con)
	t.RecommendedMiB = Recommendation(con)
	defer func() {
		if t.Saved && !c.Keep {
			os.RemoveAll(c.Dir)
			t.Console = ""
		}
	}()
	if err != nil {
		t.Reason = Classify(con, err)
		return t, nil
	}
	if err := checkTarget(ctx, &t, disk, filepath.Join(c.Dir, "out")); err != nil {
		t.Reason = Classify(con, err)
		return t, nil
	}
	t.Saved = true
	return t, nil
}

// checkTarget reads the dump directory on the target disk: one directory holding a
// complete vmcore that opens and a status file saying complete.
func checkTarget(ctx context.Context, t *Trial, disk, out string) error {
	ents, err := lab.Ext4List(ctx, disk, "/var/crash")
	if err != nil {
		return fmt.Errorf("no dump directory: %w", err)
	}
	if len(ents) != 1 || !ents[0].IsDir() {
		return fmt.Errorf("no dump directory (/var/crash holds %d entries)", len(ents))
	}
	d := ents[0].Name
	if err := lab.Ext4Extract(ctx, disk, path.Join("/var/crash", d), out); err != nil {
		return err
	}
	dir := filepath.Join(out, d)
	st, err := dumpdir.ReadStatus(dir)
	if err != nil {
		return fmt.Errorf("no status file: %w", err)
	}
	t.CaptureTime = st.End.Sub(st.Start)
	t.DumpBytes = st.DumpBytes
	var cs struct {
		PeakRSS int64 `json:"peak_rss_bytes"`
	}
	if len(st.Collector) > 0 && json.Unmarshal(st.Collector, &cs) == nil {
		t.PeakRSS = cs.PeakRSS
	}
	if st.Result != dumpdir.Complete || st.Dump != dumpdir.DumpFile {
		return fmt.Errorf("status %s: %s", st.Result, st.Error)
	}
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpFile))
	if err != nil {
		return fmt.Errorf("the dump does not open: %w", err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Incomplete() {
		return fmt.Errorf("the dump is %s, incomplete %v", f.Format, f.Incomplete())
	}
	log, err := printk.ReadFile(f)
	if err != nil {
		return fmt.Errorf("the dump's kernel log does not read: %w", err)
	}
	var text strings.Builder
	log.WriteText(&text)
	if !strings.Contains(text.String(), sysrqPanic) {
		return fmt.Errorf("the dump's kernel log lacks %q", sysrqPanic)
	}
	return nil
}

// memLine is the kernel's boot line with its free memory (mm/mm_init.c mem_init_print_info).
var memLine = regexp.MustCompile(`Memory: (\d+)K/(\d+)K available`)

// CaptureMemory returns the capture kernel's "Memory: AVAILK/TOTALK available": the
// second such line of a console log that holds both kernels' boots (0, 0 if there is
// none).
func CaptureMemory(console string) (availKiB, totalKiB int64) {
	m := memLine.FindAllStringSubmatch(console, -1)
	if len(m) < 2 {
		return 0, 0
	}
	a, _ := strconv.ParseInt(m[1][1], 10, 64)
	b, _ := strconv.ParseInt(m[1][2], 10, 64)
	return a, b
}

// recLine is "gokdump estimate"'s recommendation line.
var recLine = regexp.MustCompile(`recommended: crashkernel=(\d+)([MG])`)

// Recommendation returns the crashkernel= size in MiB "gokdump estimate" printed on the
// console (0 if it did not).
func Recommendation(console string) int {
	m := recLine.FindStringSubmatch(console)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "G" {
		n <<= 10
	}
	return n
}

// Classify says in a short phrase why a trial did not save a dump, from the console
// log of both kernels and the harness's error: the capture kernel's own words when it
// left some (out of memory, a panic), else what the lab saw (not armed, killed by the
// timeout), else err.
func Classify(console string, err error) string {
	first, capture, booted := splitBoots(console)
	switch {
	case strings.Contains(capture, "Out of memory") || strings.Contains(capture, "invoked oom-killer") ||
		strings.Contains(capture, "oom-kill:"):
		return "capture: out of memory " + oomStage(capture)
	case strings.Contains(capture, "Initramfs unpacking failed"):
		return "capture: initramfs unpacking failed"
	case strings.Contains(capture, "Kernel panic - not syncing:"):
		return "capture: " + lineOf(capture, "Kernel panic - not syncing:")
	case strings.Contains(capture, "gokdump: capture failed:"):
		return "capture: " + lineOf(capture, "gokdump: capture failed:")
	case strings.Contains(capture, "gokdump: saving the dump failed:"):
		return "capture: " + lineOf(capture, "gokdump: saving the dump failed:")
	case strings.Contains(capture, "gokdump: the dump is incomplete"):
		return "capture: " + lineOf(capture, "gokdump: the dump is incomplete")
	}
	if !booted && strings.Contains(first, "GOKDUMP-LAB error:") {
		return "not armed: " + lineOf(first, "GOKDUMP-LAB error:")
	}
	if !booted && strings.Contains(first, "Kernel panic - not syncing:") && !strings.Contains(first, "sysrq triggered crash") {
		return "first kernel: " + lineOf(first, "Kernel panic - not syncing:")
	}
	if err != nil && strings.Contains(err.Error(), "QEMU killed") {
		if booted {
			return "capture: no result before the timeout (hung or silently stopped)"
		}
		return "timeout before the capture kernel booted"
	}
	if booted && err != nil {
		return "capture: " + oneLine(err.Error())
	}
	if !booted && strings.Contains(first, "sysrq triggered crash") {
		return "capture kernel did not start (the crash did not reach it)"
	}
	if err != nil {
		return oneLine(err.Error())
	}
	return "no dump"
}

// oomStage says when the capture kernel ran out of memory: before /init ran (booting,
// unpacking the initramfs), in gokdump before it collected, or while it collected.
func oomStage(capture string) string {
	i := len(capture)
	for _, m := range []string{"Out of memory", "invoked oom-killer", "oom-kill:"} {
		if j := strings.Index(capture, m); j >= 0 && j < i {
			i = j
		}
	}
	before := capture[:i]
	switch {
	case strings.Contains(before, "gokdump: collecting"):
		return "while collecting (OOM killer)"
	case strings.Contains(before, "Run /init as init process") || strings.Contains(before, "gokdump:"):
		return "in /init before collecting (OOM killer)"
	}
	return "while booting or unpacking the initramfs (OOM killer)"
}

// splitBoots splits a console log at the capture kernel's "Linux version" line.
func splitBoots(console string) (first, capture string, booted bool) {
	const banner = "Linux version "
	i := strings.Index(console, banner)
	if i < 0 {
		return console, "", false
	}
	j := strings.Index(console[i+len(banner):], banner)
	if j < 0 {
		return console, "", false
	}
	j += i + len(banner)
	return console[:j], console[j:], true
}

// lineOf returns the rest of the line of console from the first occurrence of marker,
// trimmed to 160 bytes.
func lineOf(console, marker string) string {
	i := strings.Index(console, marker)
	if i < 0 {
		return ""
	}
	s := console[i:]
	if k := strings.IndexAny(s, "\r\n"); k >= 0 {
		s = s[:k]
	}
	return oneLine(s)
}

func oneLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
