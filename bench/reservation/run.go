package reservation

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gokdump/gokdump/lab"
	"github.com/gokdump/gokdump/lab/kernelpkg"
)

// Guest is one guest size of the search, with its starting bracket: Fail is assumed
// to fail and OK to save (the model's prediction lies between), Step is the
// granularity. Bigger guests take longer per trial under TCG, so they get a coarser
// step.
type Guest struct {
	Name      string
	MemoryMiB int
	Fail, OK  int
	Step      int
}

// Guests are the default searches: brackets around the minimum measured for a Debian
// 6.1 kernel and the default configuration on 2026-12-07 (112 MiB at every size,
// docs/reservation.md), so a run takes 3-5 trials per size; a search whose bound does
// not hold moves past it. 12 trials, 10-30 minutes under TCG in all.
var Guests = []Guest{
	{Name: "1g", MemoryMiB: 1024, Fail: 88, OK: 152, Step: 8},
	{Name: "4g", MemoryMiB: 4096, Fail: 88, OK: 152, Step: 8},
	{Name: "16g", MemoryMiB: 16384, Fail: 88, OK: 152, Step: 8},
	{Name: "64g", MemoryMiB: 65536, Fail: 88, OK: 152, Step: 8},
}

// Main is the command bench/cmd/gokdump-reservation.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("gokdump-reservation", flag.ContinueOnError)
	which := fl.String("guests", "1g,4g,16g,64g", "guest sizes to bisect (1g, 4g, 16g, 64g)")
	trials := fl.String("trials", "", "run these single trials instead, MEMMiB:CRASHMiB,... (e.g. 65536:256)")
	brackets := fl.String("bracket", "", "override brackets, NAME=FAIL:OK:STEP,... in MiB (e.g. 64g=128:256:32)")
	maxTrials := fl.Int("max-trials", 6, "trials per guest size at most")
	kernel := fl.String("kernel", "linux-image-amd64", "Debian kernel package of the guests")
	timeout := fl.Duration("timeout", 0, "bound of one trial's VM run (a capture that hangs fails by it; default by the guest's size, DefaultTimeout)")
	keep := fl.Bool("keep", false, "keep the work directories of saved trials too")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("usage: gokdump-reservation [-guests 1g,4g,16g,64g] [-trials MEM:CRASH,...]")
	}
	kdir, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		return err
	}
	work := filepath.Join(filepath.Dir(kdir), "reservation")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	pkg, err := kernelpkg.Resolve(ctx, *kernel)
	if err != nil {
		return err
	}
	k, err := kernelpkg.Get(ctx, kdir, pkg)
	if err != nil {
		return err
	}
	binDir, err := os.MkdirTemp(work, ".bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	bins, err := lab.BuildBinaries(ctx, binDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gokdump-reservation: %s; kernel %s; QEMU TCG; kdump.conf %q; work in %s\n",
		time.Now().UTC().Format(time.RFC3339), k.Release, KdumpConf, work)
	n := 0
	trial := func(mem, crash int) (Trial, error) {
		n++
		dir := filepath.Join(work, fmt.Sprintf("%s-%dm-%dm-%d", time.Now().UTC().Format("150405"), mem, crash, n))
		start := time.Now()
		t, err := RunTrial(ctx, TrialConfig{Kernel: k, Binaries: bins, MemoryMiB: mem, CrashKernelMiB: crash, Dir: dir, Keep: *keep, Timeout: *timeout})
		if err != nil {
			return t, err
		}
		fmt.Fprintf(stdout, "trial %s (%s): %s\n", trialLine(t), time.Since(start).Round(time.Second), trialDetail(t))
		return t, nil
	}
	if *trials != "" {
		var all []Trial
		for _, s := range strings.Split(*trials, ",") {
			m, c, ok := strings.Cut(s, ":")
			mem, err1 := strconv.Atoi(m)
			crash, err2 := strconv.Atoi(c)
			if !ok || err1 != nil || err2 != nil || mem <= 0 || crash <= 0 {
				return fmt.Errorf("-trials: %q is not MEMMiB:CRASHMiB", s)
			}
			t, err := trial(mem, crash)
			if err != nil {
				return err
			}
			all = append(all, t)
		}
		return WriteReport(stdout, nil, all)
	}
	guests, err := chooseGuests(*which, *brackets)
	if err != nil {
		return err
	}
	var searches []*Search
	for _, g := range guests {
		s := &Search{MemoryMiB: g.MemoryMiB, Fail: g.Fail, OK: g.OK, Step: g.Step, MaxTrials: *maxTrials}
		searches = append(searches, s)
		for {
			c, done := s.Next()
			if done {
				break
			}
			t, err := trial(g.MemoryMiB, c)
			if err != nil {
				return err
			}
			s.Record(t)
		}
		fmt.Fprintf(stdout, "%s guest: minimum reservation %s\n", g.Name, s)
	}
	return WriteReport(stdout, searches, nil)
}

func chooseGuests(which, brackets string) ([]Guest, error) {
	over := map[string]Guest{}
	if brackets != "" {
		for _, b := range strings.Split(brackets, ",") {
			name, v, ok := strings.Cut(b, "=")
			f := strings.Split(v, ":")
			if !ok || len(f) != 3 {
				return nil, fmt.Errorf("-bracket: %q is not NAME=FAIL:OK:STEP", b)
			}
			var n [3]int
			for i := range f {
				x, err := strconv.Atoi(f[i])
				if err != nil || x <= 0 {
					return nil, fmt.Errorf("-bracket: %q is not NAME=FAIL:OK:STEP", b)
				}
				n[i] = x
			}
			if n[0] >= n[1] {
				return nil, fmt.Errorf("-bracket %q: FAIL must be below OK", b)
			}
			over[name] = Guest{Name: name, Fail: n[0], OK: n[1], Step: n[2]}
		}
	}
	var out []Guest
	for _, name := range strings.Split(which, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, g := range Guests {
			if g.Name == name {
				if o, ok := over[name]; ok {
					g.Fail, g.OK, g.Step = o.Fail, o.OK, o.Step
				}
				out, found = append(out, g), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-guests: unknown guest %q (have 1g, 4g, 16g, 64g)", name)
		}
	}
	return out, nil
}

func trialLine(t Trial) string {
	r := "saved"
	if !t.Saved {
		r = "FAILED"
	}
	return fmt.Sprintf("%d MiB guest, crashkernel=%dM: %s", t.MemoryMiB, t.CrashKernelMiB, r)
}

func trialDetail(t Trial) string {
	var parts []string
	if !t.Saved {
		parts = append(parts, t.Reason)
	}
	parts = append(parts, fmt.Sprintf("VM %s", t.VMTime.Round(time.Second)))
	if t.CaptureTime > 0 {
		parts = append(parts, fmt.Sprintf("capture %s", t.CaptureTime.Round(time.Second)))
	}
	if t.CaptureTotalKiB > 0 {
		parts = append(parts, fmt.Sprintf("capture kernel free %d/%d MiB", t.CaptureAvailKiB>>10, t.CaptureTotalKiB>>10))
	}
	if t.PeakRSS > 0 {
		parts = append(parts, fmt.Sprintf("collector peak RSS %.1f MiB", float64(t.PeakRSS)/(1<<20)))
	}
	if t.Console != "" {
		parts = append(parts, "console "+t.Console)
	}
	return strings.Join(parts, "; ")
}

// WriteReport prints every trial, each search's minimum, and the targets of issue 14
// this measures, with PASS or MISS.
func WriteReport(w io.Writer, searches []*Search, extra []Trial) error {
	all := append([]Trial(nil), extra...)
	for _, s := range searches {
		all = append(all, s.Trials...)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nguest MiB\tcrashkernel MiB\tresult\tVM s\tcapture s\tfree at boot MiB\tcollector RSS MiB\testimate MiB\t")
	for _, t := range all {
		r := "saved"
		if !t.Saved {
			r = "FAILED: " + t.Reason
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.0f\t%.0f\t%d\t%.1f\t%d\t\n", t.MemoryMiB, t.CrashKernelMiB, r,
			t.VMTime.Seconds(), t.CaptureTime.Seconds(), t.CaptureAvailKiB>>10, float64(t.PeakRSS)/(1<<20), t.RecommendedMiB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, s := range searches {
		fmt.Fprintf(w, "minimum reservation, %d MiB guest: %s\n", s.MemoryMiB, s)
	}
	for _, v := range Targets(searches, all) {
		fmt.Fprintln(w, v)
	}
	return nil
}

// Targets are issue 14's reservation and scale targets, judged on the trials: the
// collector's peak RSS <= 24 MiB at every guest size saved (1 to 64 GiB), and the
// minimum reservation of a 64 GiB guest <= 192 MiB.
func Targets(searches []*Search, trials []Trial) []string {
	var out []string
	var maxRSS int64
	sizes := map[int]bool{}
	for _, t := range trials {
		if t.Saved && t.PeakRSS > 0 {
			maxRSS = max(maxRSS, t.PeakRSS)
			sizes[t.MemoryMiB] = true
		}
	}
	switch {
	case len(sizes) == 0:
		out = append(out, "NOT MEASURED  collector peak RSS <= 24 MiB, flat from 1 to 64 GiB: no saved trial reported it")
	default:
		v := "PASS"
		if maxRSS > 24<<20 || !sizes[1024] || !sizes[65536] {
			v = "MISS"
		}
		out = append(out, fmt.Sprintf("%-4s  collector peak RSS <= 24 MiB, flat from 1 to 64 GiB: at most %.1f MiB over %d guest sizes (1 GiB %v, 64 GiB %v)",
			v, float64(maxRSS)/(1<<20), len(sizes), sizes[1024], sizes[65536]))
	}
	for _, s := range searches {
		if s.MemoryMiB != 65536 {
			continue
		}
		m, _, ok := s.Minimum()
		v := "PASS"
		if !ok || m > 192 {
			v = "MISS"
		}
		out = append(out, fmt.Sprintf("%-4s  minimum reservation for a 64 GiB guest <= 192 MiB: %s", v, s))
	}
	return out
}
