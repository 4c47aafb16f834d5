package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// Tool names in results. On all cores makedumpfile 1.7.2 runs single-threaded and with
// two threads, and its best of the two is the reference; on one core (Gokdump1) the
// reference is the better of makedumpfile 1.7.2 and 1.7.8, both single-threaded.
const (
	Gokdump         = "gokdump"
	Gokdump1        = "gokdump 1 worker"
	Makedumpfile    = "makedumpfile"
	MakedumpfileMT  = "makedumpfile --num-threads 2"
	Makedumpfile178 = "makedumpfile 1.7.8"
)

// Result is the measured runs of one tool with one configuration on one vmcore.
type Result struct {
	Vmcore  string // label of the vmcore, e.g. "1 GiB guest"
	Config  string // dump options, e.g. "-d 1 -c"
	Tool    string // Gokdump, Makedumpfile or MakedumpfileMT
	Samples []Sample
	Err     string // why the last run failed; no further runs were made
}

// Median is the result's median run.
func (r Result) Median() Sample {
	s, _ := Median(r.Samples)
	return s
}

// MedianCPU is the result's run of median CPU time (the lower middle one of an even
// count): what the one-worker targets compare, since on a busy machine the run of
// median wall time can be any of them by CPU time.
func (r Result) MedianCPU() Sample {
	s := append([]Sample(nil), r.Samples...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].CPU < s[j].CPU })
	if len(s) == 0 {
		return Sample{}
	}
	return s[(len(s)-1)/2]
}

// Target is one performance target: gokdump with Ours against makedumpfile's best with
// Theirs on the same vmcore.
type Target struct {
	Ours, Theirs string
	// MaxTime is the largest allowed ratio of our time to makedumpfile's best time.
	MaxTime float64
	// Size, when set, bounds our output size by makedumpfile's (of its best run):
	// SizeNoLarger allows equal, SizeSmaller does not.
	Size SizeRule
}

// OneWorkerTarget is a target of the cost per core (issue 14): gokdump with one worker
// against the better of makedumpfile 1.7.2 and 1.7.8 single-threaded with the same
// options on the same vmcore, by CPU time (user + system) and output size.
type OneWorkerTarget struct {
	Config string
	// MaxCPU is the largest allowed ratio of our CPU time to the smaller of the two
	// makedumpfiles' CPU times; 0: no CPU target.
	MaxCPU float64
	// Size bounds our output size by the smaller of the two makedumpfiles' outputs.
	Size SizeRule
}

// OneWorkerTargets are issue 14's targets for one worker: -l -d 31 <= 0.8x CPU, -d 1
// uncompressed <= 0.8x, -c -d 1 <= 0.6x (on every vmcore, kernel-heavy and stale-data
// memory alike), -z <= 1.0x with output <= 1.0x, -c output <= 1.0x.
var OneWorkerTargets = []OneWorkerTarget{
	{Config: "-d 31 -l", MaxCPU: 0.8},
	{Config: "-d 1", MaxCPU: 0.8},
	{Config: "-d 1 -c", MaxCPU: 0.6, Size: SizeNoLarger},
	{Config: "-d 31 -z", MaxCPU: 1.0, Size: SizeNoLarger},
	{Config: "-d 31 -c", Size: SizeNoLarger},
}

// SizeRule says how our output size must compare with makedumpfile's.
type SizeRule int

const (
	SizeAny SizeRule = iota
	SizeNoLarger
	SizeSmaller
)

// Targets are the collector's targets on a 2-core machine (issue 3).
var Targets = []Target{
	{Ours: "-d 1 -c", Theirs: "-d 1 -c", MaxTime: 0.35, Size: SizeNoLarger},
	{Ours: "-d 1 -l", Theirs: "-d 1 -l", MaxTime: 0.6},
	{Ours: "-d 31 -l", Theirs: "-d 31 -l", MaxTime: 1.0},
	{Ours: "-d 31 -z", Theirs: "-d 31 -c", MaxTime: 0.5, Size: SizeSmaller},
}

// Memory targets: our peak RSS on any vmcore, and how much it may grow from the
// smallest to the largest vmcore.
const (
	MaxRSSBytes    = 24 << 20
	MaxGrowthBytes = 2 << 20
)

// Verdict is one target checked on one vmcore (or, for memory growth, across them).
type Verdict struct {
	Vmcore string
	Target string
	Detail string
	Pass   bool
}

// Evaluate checks every target that the results cover. vmcores lists the vmcore labels
// from the smallest to the largest (memory growth is measured between the first and
// the last).
func Evaluate(results []Result, vmcores []string) []Verdict {
	var out []Verdict
	find := func(vm, cfg, tool string) (Sample, bool) {
		for _, r := range results {
			if r.Vmcore == vm && r.Config == cfg && r.Tool == tool && len(r.Samples) > 0 {
				return r.Median(), true
			}
		}
		return Sample{}, false
	}
	for _, vm := range vmcores {
		for _, tg := range Targets {
			ours, ok := find(vm, tg.Ours, Gokdump)
			if !ok {
				continue
			}
			best, bestTool, ok := bestOf(find, vm, tg.Theirs)
			if !ok {
				continue
			}
			tr := ratio(ours.Wall.Seconds(), best.Wall.Seconds())
			sr := ratio(float64(ours.Size), float64(best.Size))
			pass := tr <= tg.MaxTime
			detail := fmt.Sprintf("time %s (target <= %.2fx of %s %s: %.2fs vs %.2fs)",
				verdictRatio(tr, tg.MaxTime), tg.MaxTime, bestTool, tg.Theirs, ours.Wall.Seconds(), best.Wall.Seconds())
			switch tg.Size {
			case SizeNoLarger:
				pass = pass && ours.Size <= best.Size
				detail += fmt.Sprintf("; size %.3fx (target <= 1)", sr)
			case SizeSmaller:
				pass = pass && ours.Size < best.Size
				detail += fmt.Sprintf("; size %.3fx (target < 1)", sr)
			default:
				detail += fmt.Sprintf("; size %.3fx", sr)
			}
			name := tg.Ours
			if tg.Ours != tg.Theirs {
				name += " vs makedumpfile " + tg.Theirs
			}
			out = append(out, Verdict{Vmcore: vm, Target: name, Detail: detail, Pass: pass})
		}
		findCPU := func(vm, cfg, tool string) (Sample, bool) {
			for _, r := range results {
				if r.Vmcore == vm && r.Config == cfg && r.Tool == tool && len(r.Samples) > 0 {
					return r.MedianCPU(), true
				}
			}
			return Sample{}, false
		}
		for _, tg := range OneWorkerTargets {
			if v, ok := evaluateOneWorker(findCPU, vm, tg); ok {
				out = append(out, v)
			}
		}
		if peak := oursPeak(results, vm); peak > 0 {
			out = append(out, Verdict{Vmcore: vm, Target: "peak RSS",
				Detail: fmt.Sprintf("%.1f MiB over all configurations (target <= %d MiB)", mib(peak), MaxRSSBytes>>20),
				Pass:   peak <= MaxRSSBytes})
		}
	}
	if len(vmcores) >= 2 {
		lo, hi := oursPeak(results, vmcores[0]), oursPeak(results, vmcores[len(vmcores)-1])
		if lo > 0 && hi > 0 {
			out = append(out, Verdict{Vmcore: vmcores[0] + " -> " + vmcores[len(vmcores)-1], Target: "RSS growth",
				Detail: fmt.Sprintf("%+.1f MiB (%.1f -> %.1f MiB; target < %d MiB)", mib(hi-lo), mib(lo), mib(hi), MaxGrowthBytes>>20),
				Pass:   hi-lo < MaxGrowthBytes})
		}
	}
	return out
}

// evaluateOneWorker checks tg on vm, when the results hold our one-worker run and at
// least one single-threaded makedumpfile run of its configuration.
func evaluateOneWorker(find func(vm, cfg, tool string) (Sample, bool), vm string, tg OneWorkerTarget) (Verdict, bool) {
	ours, ok := find(vm, tg.Config, Gokdump1)
	if !ok {
		return Verdict{}, false
	}
	var cpu, size Sample
	var cpuTool, sizeTool string
	for _, tool := range []string{Makedumpfile, Makedumpfile178} {
		s, ok := find(vm, tg.Config, tool)
		if !ok {
			continue
		}
		if cpuTool == "" || s.CPU < cpu.CPU {
			cpu, cpuTool = s, tool
		}
		if sizeTool == "" || s.Size < size.Size {
			size, sizeTool = s, tool
		}
	}
	if cpuTool == "" {
		return Verdict{}, false
	}
	pass := true
	var parts []string
	if tg.MaxCPU > 0 {
		r := ratio(ours.CPU.Seconds(), cpu.CPU.Seconds())
		pass = r <= tg.MaxCPU
		parts = append(parts, fmt.Sprintf("cpu %s (target <= %.2fx of %s: %.2fs vs %.2fs)",
			verdictRatio(r, tg.MaxCPU), tg.MaxCPU, cpuTool, ours.CPU.Seconds(), cpu.CPU.Seconds()))
	}
	sr := ratio(float64(ours.Size), float64(size.Size))
	switch tg.Size {
	case SizeNoLarger:
		pass = pass && ours.Size <= size.Size
		parts = append(parts, fmt.Sprintf("size %.3fx (target <= 1 of %s)", sr, sizeTool))
	case SizeSmaller:
		pass = pass && ours.Size < size.Size
		parts = append(parts, fmt.Sprintf("size %.3fx (target < 1 of %s)", sr, sizeTool))
	default:
		parts = append(parts, fmt.Sprintf("size %.3fx of %s", sr, sizeTool))
	}
	name := "1 worker " + tg.Config
	if tg.MaxCPU == 0 {
		name += " size"
	}
	return Verdict{Vmcore: vm, Target: name, Detail: strings.Join(parts, "; "), Pass: pass}, true
}

// bestOf is makedumpfile's faster median of its single- and two-thread runs.
func bestOf(find func(vm, cfg, tool string) (Sample, bool), vm, cfg string) (Sample, string, bool) {
	var best Sample
	var bestTool string
	for _, tool := range []string{Makedumpfile, MakedumpfileMT} {
		if s, ok := find(vm, cfg, tool); ok && (bestTool == "" || s.Wall < best.Wall) {
			best, bestTool = s, tool
		}
	}
	return best, bestTool, bestTool != ""
}

// oursPeak is gokdump's largest peak RSS over every run on vm.
func oursPeak(results []Result, vm string) int64 {
	var m int64
	for _, r := range results {
		if r.Vmcore == vm && r.Tool == Gokdump {
			m = max(m, MaxRSS(r.Samples))
		}
	}
	return m
}

// verdictRatio prints a ratio as "0.74x", with a third decimal when two would round it
// onto its target ("0.802x" against 0.80x): a MISS must not read as the target met.
func verdictRatio(r, target float64) string {
	s := fmt.Sprintf("%.2f", r)
	if s == fmt.Sprintf("%.2f", target) && r != target {
		s = fmt.Sprintf("%.3f", r)
	}
	return s + "x"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.Inf(1)
	}
	return a / b
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// WriteTable prints the results (medians, with the spread of wall times) grouped by
// vmcore and configuration, then the verdicts, PASS or MISS.
func WriteTable(w io.Writer, results []Result, verdicts []Verdict) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "vmcore\tconfig\ttool\truns\twall s (median)\twall s (min-max)\tcpu s\tcpu s (median)\tuser s\tpeak RSS MiB\toutput MiB\t")
	for _, r := range results {
		if len(r.Samples) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t0\tfailed\t\t\t\t\t\t\t\n", r.Vmcore, r.Config, r.Tool)
			continue
		}
		m := r.Median()
		lo, hi := m.Wall, m.Wall
		for _, s := range r.Samples {
			lo, hi = min(lo, s.Wall), max(hi, s.Wall)
		}
		mc := r.MedianCPU()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%.2f-%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t\n",
			r.Vmcore, r.Config, r.Tool, len(r.Samples), m.Wall.Seconds(), lo.Seconds(), hi.Seconds(), m.CPU.Seconds(), mc.CPU.Seconds(), mc.User.Seconds(), mib(MaxRSS(r.Samples)), mib(m.Size))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.Err != "" {
			msg, _, _ := strings.Cut(r.Err, "\n")
			fmt.Fprintf(w, "failed after %d good runs: %s %s on %s: %s\n", len(r.Samples), r.Tool, r.Config, r.Vmcore, msg)
		}
	}
	fmt.Fprintln(w)
	for _, v := range verdicts {
		mark := "PASS"
		if !v.Pass {
			mark = "MISS"
		}
		if _, err := fmt.Fprintf(w, "%s  %-12s %-32s %s\n", mark, v.Vmcore, v.Target, v.Detail); err != nil {
			return err
		}
	}
	return nil
}

// Summary counts the verdicts that passed, as "3/10 targets met".
func Summary(verdicts []Verdict) string {
	n := 0
	for _, v := range verdicts {
		if v.Pass {
			n++
		}
	}
	return fmt.Sprintf("%d/%d targets met", n, len(verdicts))
}

// String is the command line, quoted where a shell would need it.
func (c Command) String() string {
	var b strings.Builder
	for i, a := range c.Argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}
