package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gokdump/gokdump/lab/plan"
)

// The capture-kernel benchmark: one lab crash per CPU count, and in its capture kernel
// gokdump's collector and makedumpfile run in turn on the same /proc/vmcore, writing
// to an ext4 file system on a virtio disk and syncing (package lab, plan.CaptureBench;
// the guest side is lab/cmd/labinit). This file lists the jobs, reads the console
// lines the guest printed, and checks the capture-kernel targets of issue 14.

// CaptureConfigs are the configurations measured in the capture kernel.
var CaptureConfigs = []string{"-d 31 -l", "-d 31 -c", "-d 1 -c", "-d 1 -l"}

// CaptureJobs are the jobs of the capture kernel: gokdump's collector (`gokdump dump`,
// the binary at gokdump inside the capture initramfs, all CPUs) and makedumpfile
// (single-threaded, as kdump services run it), each configuration, errors-only
// messages.
func CaptureJobs(gokdump, makedumpfile string) []plan.BenchJob {
	var jobs []plan.BenchJob
	for _, cfg := range CaptureConfigs {
		f := strings.Fields(cfg)
		jobs = append(jobs,
			plan.BenchJob{Tool: Gokdump, Config: cfg,
				Argv: append(append([]string{gokdump, "dump", "--message-level", "4"}, f...), plan.BenchVmcore, plan.BenchOutput)},
			plan.BenchJob{Tool: Makedumpfile, Config: cfg,
				Argv: append(append([]string{makedumpfile, "--message-level", "4"}, f...), plan.BenchVmcore, plan.BenchOutput)})
	}
	return jobs
}

// CaptureRun is what one capture kernel measured.
type CaptureRun struct {
	CPUs    int                // CPUs the capture kernel ran with (nr_cpus=)
	Label   string             // e.g. "nr_cpus=1"
	Samples []plan.BenchSample // one per run, in the order they ran
	Reads   []plan.BenchRead   // the /proc/vmcore read probe
	Elapsed time.Duration      // wall time of the whole VM run
	Cmdline string             // the capture kernel's command line
	// MemTotalKiB and RestUsedKiB are the capture kernel's MemTotal and
	// MemTotal-MemAvailable before the first run (0 when not said).
	MemTotalKiB, RestUsedKiB int64
}

// ParseRest reads the capture kernel's memory at rest from its "bench cpus=..." line.
func ParseRest(lines []string) (cpus int, totalKiB, usedKiB int64, ok bool) {
	for _, l := range lines {
		if n, err := fmt.Sscanf(l, "bench cpus=%d meminfo-total-kib=%d mem-used-kib=%d", &cpus, &totalKiB, &usedKiB); err == nil && n == 3 {
			return cpus, totalKiB, usedKiB, true
		}
	}
	return 0, 0, 0, false
}

// WritePerCPUCost prints what the second CPU cost, from a run with 1 and one with 2
// CPUs: memory at rest and gokdump's high-water mark above rest per configuration.
func WritePerCPUCost(w io.Writer, runs []CaptureRun) {
	var one, two *CaptureRun
	for i := range runs {
		switch runs[i].CPUs {
		case 1:
			one = &runs[i]
		case 2:
			two = &runs[i]
		}
	}
	if one == nil || two == nil || one.RestUsedKiB == 0 || two.RestUsedKiB == 0 {
		return
	}
	fmt.Fprintf(w, "per-CPU cost (nr_cpus=2 minus nr_cpus=1): MemTotal %+.1f MiB, used at rest %+.1f MiB",
		float64(two.MemTotalKiB-one.MemTotalKiB)/1024, float64(two.RestUsedKiB-one.RestUsedKiB)/1024)
	for _, cfg := range CaptureConfigs {
		a, _, ok1 := captureMedian(*one, Gokdump, cfg)
		b, _, ok2 := captureMedian(*two, Gokdump, cfg)
		if ok1 && ok2 {
			fmt.Fprintf(w, "; gokdump %s high-water above rest %+.1f MiB", cfg,
				float64((b.MemPeakKiB-two.RestUsedKiB)-(a.MemPeakKiB-one.RestUsedKiB))/1024)
		}
	}
	fmt.Fprintln(w)
}

// ParseCapture reads the bench lines of a lab run's console (Result.Console: the
// lines after the lab prefix). The guest prints each line twice (console and kernel
// log): a run is kept once, by tool, configuration and round.
func ParseCapture(lines []string) (samples []plan.BenchSample, reads []plan.BenchRead, cmdline string, err error) {
	seenS := map[string]bool{}
	seenR := map[string]bool{}
	for _, l := range lines {
		if c, ok := strings.CutPrefix(l, "capture-kernel cmdline="); ok {
			cmdline = c
			continue
		}
		var s plan.BenchSample
		if ok, perr := plan.ParseBenchLine(l, plan.BenchSampleEvent, &s); ok {
			if perr != nil {
				// A copy cut by kernel messages; the other copy may be whole.
				err = perr
				continue
			}
			k := fmt.Sprintf("%s|%s|%d", s.Tool, s.Config, s.Run)
			if !seenS[k] {
				seenS[k] = true
				samples = append(samples, s)
			}
			continue
		}
		var r plan.BenchRead
		if ok, perr := plan.ParseBenchLine(l, plan.BenchReadEvent, &r); ok {
			if perr != nil {
				err = perr
				continue
			}
			if !seenR[r.Method] {
				seenR[r.Method] = true
				reads = append(reads, r)
			}
		}
	}
	if len(samples) > 0 {
		err = nil // a cut copy does not matter once whole ones arrived
	}
	return samples, reads, cmdline, err
}

// captureMedian is the good sample of median wall time of tool with cfg in run r (the
// lower middle one of an even count), and how many good samples there were.
func captureMedian(r CaptureRun, tool, cfg string) (plan.BenchSample, []plan.BenchSample, bool) {
	var good []plan.BenchSample
	for _, s := range r.Samples {
		if s.Tool == tool && s.Config == cfg && s.Err == "" {
			good = append(good, s)
		}
	}
	if len(good) == 0 {
		return plan.BenchSample{}, nil, false
	}
	sorted := append([]plan.BenchSample(nil), good...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].WallNs < sorted[j].WallNs })
	return sorted[(len(sorted)-1)/2], good, true
}

// CaptureTarget is one capture-kernel target: gokdump's wall time with Config at most
// MaxWall times makedumpfile's, in a capture kernel with CPUs CPUs.
type CaptureTarget struct {
	CPUs    int
	Config  string
	MaxWall float64
}

// CaptureTargets are issue 14's: with nr_cpus=1 every configuration <= 1.0x
// makedumpfile's wall time and -d 31 -l <= 0.8x; with 2 CPUs -d 1 -c <= 0.35x.
var CaptureTargets = []CaptureTarget{
	{1, "-d 31 -l", 0.8}, {1, "-d 31 -c", 1.0}, {1, "-d 1 -c", 1.0}, {1, "-d 1 -l", 1.0},
	{2, "-d 1 -c", 0.35},
}

// EvaluateCapture checks the targets the runs cover.
func EvaluateCapture(runs []CaptureRun) []Verdict {
	var out []Verdict
	for _, tg := range CaptureTargets {
		for _, r := range runs {
			if r.CPUs != tg.CPUs {
				continue
			}
			ours, _, ok1 := captureMedian(r, Gokdump, tg.Config)
			theirs, _, ok2 := captureMedian(r, Makedumpfile, tg.Config)
			if !ok1 || !ok2 {
				if !anyRun(r, tg.Config) {
					continue
				}
				out = append(out, Verdict{Vmcore: r.Label, Target: tg.Config + " wall",
					Detail: "not measured (a run failed; see the table)"})
				continue
			}
			wr := ratio(float64(ours.WallNs), float64(theirs.WallNs))
			out = append(out, Verdict{Vmcore: r.Label, Target: tg.Config + " wall",
				Detail: fmt.Sprintf("%s (target <= %.2fx of makedumpfile: %.2fs vs %.2fs; cpu %.2fx)",
					verdictRatio(wr, tg.MaxWall), tg.MaxWall, sec(ours.WallNs), sec(theirs.WallNs), ratio(float64(ours.CPUNs), float64(theirs.CPUNs))),
				Pass: wr <= tg.MaxWall})
		}
	}
	return out
}

// anyRun says whether r has a sample (good or failed) of cfg.
func anyRun(r CaptureRun, cfg string) bool {
	for _, s := range r.Samples {
		if s.Config == cfg {
			return true
		}
	}
	return false
}

func sec(ns int64) float64 { return float64(ns) / 1e9 }

// WriteCaptureTable prints each capture kernel's medians side by side with ratios
// (gokdump / makedumpfile), the read probe and the verdicts.
func WriteCaptureTable(w io.Writer, runs []CaptureRun, verdicts []Verdict) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "capture kernel\tconfig\ttool\truns\twall s (median)\twall min-max\tcpu s\tmem high-water MiB\trss MiB\toutput MiB\twall ratio\tcpu ratio\tmem ratio\tsize ratio\t")
	for _, r := range runs {
		for _, cfg := range CaptureConfigs {
			var mdf plan.BenchSample
			var haveMdf bool
			for _, tool := range []string{Makedumpfile, Gokdump} {
				m, good, ok := captureMedian(r, tool, cfg)
				if !ok {
					msg := "no run"
					for _, s := range r.Samples {
						if s.Tool == tool && s.Config == cfg && s.Err != "" {
							msg = "failed"
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t0\t%s\t\t\t\t\t\t\t\t\t\t\n", r.Label, cfg, tool, msg)
					continue
				}
				lo, hi := m.WallNs, m.WallNs
				var peak int64
				for _, s := range good {
					lo, hi = min(lo, s.WallNs), max(hi, s.WallNs)
					peak = max(peak, s.MemPeakKiB)
				}
				ratios := "\t\t\t\t"
				if tool == Gokdump && haveMdf {
					ratios = fmt.Sprintf("%.2fx\t%.2fx\t%.2fx\t%.3fx\t",
						ratio(float64(m.WallNs), float64(mdf.WallNs)), ratio(float64(m.CPUNs), float64(mdf.CPUNs)),
						ratio(float64(m.MemPeakKiB), float64(mdf.MemPeakKiB)), ratio(float64(m.Size), float64(mdf.Size)))
				}
				if tool == Makedumpfile {
					mdf, haveMdf = m, true
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%.2f-%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%s\n",
					r.Label, cfg, tool, len(good), sec(m.WallNs), sec(lo), sec(hi), sec(m.CPUNs),
					float64(m.MemPeakKiB)/1024, float64(m.MaxRSSKiB)/1024, float64(m.Size)/(1<<20), ratios)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range runs {
		for _, s := range r.Samples {
			if s.Err != "" {
				fmt.Fprintf(w, "failed: %s, %s %s run %d: %s\n", r.Label, s.Tool, s.Config, s.Run, s.Err)
			}
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "capture kernel\treading /proc/vmcore\tMiB\twall s\tMiB/s\tcpu s\t")
	for _, r := range runs {
		for _, rd := range r.Reads {
			if rd.Err != "" {
				fmt.Fprintf(tw, "%s\t%s\t%.0f\tfailed: %s\t\t\t\n", r.Label, rd.Method, float64(rd.Bytes)/(1<<20), rd.Err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.0f\t%.2f\t\n", r.Label, rd.Method, float64(rd.Bytes)/(1<<20),
				sec(rd.WallNs), ratio(float64(rd.Bytes)/(1<<20), sec(rd.WallNs)), sec(rd.CPUNs))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, v := range verdicts {
		mark := "PASS"
		if !v.Pass {
			mark = "MISS"
		}
		if _, err := fmt.Fprintf(w, "%s  %-12s %-16s %s\n", mark, v.Vmcore, v.Target, v.Detail); err != nil {
			return err
		}
	}
	return nil
}
