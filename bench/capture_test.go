package bench

import (
	"strings"
	"testing"

	"github.com/gokdump/gokdump/lab/plan"
)

func sampleLine(t *testing.T, s plan.BenchSample) string {
	t.Helper()
	l, err := plan.BenchLine(plan.BenchSampleEvent, s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestParseCapture: each run is kept once although the guest prints it twice, a copy
// cut by kernel messages is skipped, and the read probe and command line are found.
func TestParseCapture(t *testing.T) {
	a := plan.BenchSample{Tool: Gokdump, Config: "-d 31 -l", Run: 1, WallNs: 2e9, CPUNs: 1e9, Size: 100}
	b := plan.BenchSample{Tool: Makedumpfile, Config: "-d 31 -l", Run: 1, WallNs: 4e9, CPUNs: 3e9, Size: 110}
	r, _ := plan.BenchLine(plan.BenchReadEvent, plan.BenchRead{Method: "pread 4 KiB", Bytes: 1 << 20, WallNs: 1e9})
	la := sampleLine(t, a)
	lines := []string{"capture-kernel cmdline=elfcorehdr=0x1 nr_cpus=1", la, la[:len(la)-10], sampleLine(t, b), la, r, r}
	samples, reads, cmdline, err := ParseCapture(lines)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || samples[0] != a || samples[1] != b {
		t.Errorf("samples %+v", samples)
	}
	if len(reads) != 1 || reads[0].Method != "pread 4 KiB" {
		t.Errorf("reads %+v", reads)
	}
	if cmdline != "elfcorehdr=0x1 nr_cpus=1" {
		t.Errorf("cmdline %q", cmdline)
	}
	if _, _, _, err := ParseCapture([]string{la[:len(la)-10]}); err == nil {
		t.Error("only a cut line: no error")
	}
}

func TestEvaluateCapture(t *testing.T) {
	s := func(tool, cfg string, run int, wall float64) plan.BenchSample {
		return plan.BenchSample{Tool: tool, Config: cfg, Run: run, WallNs: int64(wall * 1e9), CPUNs: int64(wall * 1e9)}
	}
	one := CaptureRun{CPUs: 1, Label: "nr_cpus=1", Samples: []plan.BenchSample{
		// -d 31 -l: medians 3 vs 4 = 0.75x (PASS at 0.8); the 9 s outlier is not the median.
		s(Gokdump, "-d 31 -l", 1, 3), s(Gokdump, "-d 31 -l", 2, 9), s(Gokdump, "-d 31 -l", 3, 2.9),
		s(Makedumpfile, "-d 31 -l", 1, 4), s(Makedumpfile, "-d 31 -l", 2, 4), s(Makedumpfile, "-d 31 -l", 3, 4),
		// -d 31 -c: 1.1x: MISS.
		s(Gokdump, "-d 31 -c", 1, 11), s(Makedumpfile, "-d 31 -c", 1, 10),
		// -d 1 -c: gokdump failed: not measured, MISS.
		{Tool: Gokdump, Config: "-d 1 -c", Run: 1, Err: "exit status 1"}, s(Makedumpfile, "-d 1 -c", 1, 10),
	}}
	two := CaptureRun{CPUs: 2, Label: "nr_cpus=2", Samples: []plan.BenchSample{
		s(Gokdump, "-d 1 -c", 1, 3), s(Makedumpfile, "-d 1 -c", 1, 10),
	}}
	v := EvaluateCapture([]CaptureRun{one, two})
	got := map[string]bool{}
	for _, x := range v {
		got[x.Vmcore+" "+x.Target] = x.Pass
	}
	want := map[string]bool{
		"nr_cpus=1 -d 31 -l wall": true, "nr_cpus=1 -d 31 -c wall": false, "nr_cpus=1 -d 1 -c wall": false,
		"nr_cpus=2 -d 1 -c wall": true,
	}
	for k, p := range want {
		if gp, ok := got[k]; !ok || gp != p {
			t.Errorf("%s: pass %v (present %v), want %v; all %+v", k, gp, ok, p, v)
		}
	}
	if _, ok := got["nr_cpus=1 -d 1 -l wall"]; ok {
		t.Error("a configuration with no runs at all was judged")
	}
	var b strings.Builder
	if err := WriteCaptureTable(&b, []CaptureRun{one, two}, v); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"0.75x", "MISS  nr_cpus=1", "PASS  nr_cpus=2", "failed: nr_cpus=1, gokdump -d 1 -c run 1: exit status 1"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}
}

func TestCaptureJobs(t *testing.T) {
	jobs := CaptureJobs("/usr/sbin/gokdump", "/usr/bin/makedumpfile")
	if len(jobs) != 2*len(CaptureConfigs) {
		t.Fatalf("%d jobs", len(jobs))
	}
	p := &plan.Plan{Release: "r", Crash: plan.CrashSysrq, Capture: plan.CaptureBench, Bench: &plan.Bench{Jobs: jobs, Runs: 3}}
	if _, err := p.Marshal(); err != nil {
		t.Fatal(err)
	}
	j := jobs[1]
	if j.Tool != Makedumpfile || strings.Join(j.Argv, " ") != "/usr/bin/makedumpfile --message-level 4 -d 31 -l {vmcore} {out}" {
		t.Errorf("job %+v", j)
	}
}

func TestPerCPUCost(t *testing.T) {
	lines := []string{"capture-kernel cmdline=x", "bench cpus=2 meminfo-total-kib=204800 mem-used-kib=52224"}
	cpus, total, used, ok := ParseRest(lines)
	if !ok || cpus != 2 || total != 204800 || used != 52224 {
		t.Fatalf("ParseRest = %d %d %d %v", cpus, total, used, ok)
	}
	s := func(peak int64) []plan.BenchSample {
		return []plan.BenchSample{{Tool: Gokdump, Config: "-d 1 -c", Run: 1, WallNs: 1, MemPeakKiB: peak}}
	}
	runs := []CaptureRun{
		{CPUs: 1, MemTotalKiB: 206848, RestUsedKiB: 50176, Samples: s(50176 + 10240)},
		{CPUs: 2, MemTotalKiB: 204800, RestUsedKiB: 52224, Samples: s(52224 + 13312)},
	}
	var b strings.Builder
	WritePerCPUCost(&b, runs)
	want := "per-CPU cost (nr_cpus=2 minus nr_cpus=1): MemTotal -2.0 MiB, used at rest +2.0 MiB; gokdump -d 1 -c high-water above rest +3.0 MiB\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}
