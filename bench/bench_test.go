package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/fleet"
)

// TestMeasure runs a real child that allocates and writes a known amount and checks the
// sample: size of the output, a peak RSS at least what the child touched, a wall time.
func TestMeasure(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("the test needs a POSIX shell: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The child copies 3 MiB through a 32 MiB buffer it fills (dd's bs), so its RSS
	// must reach more than 32 MiB.
	s, err := Measure(context.Background(), Command{
		Argv:   []string{sh, "-c", `dd if=/dev/zero of="$1" bs=32M count=1 iflag=fullblock 2>/dev/null && truncate -s 3M "$1"`, "sh", out},
		Output: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Size != 3<<20 {
		t.Errorf("size %d, want %d", s.Size, 3<<20)
	}
	if s.MaxRSS < 32<<20 {
		t.Errorf("peak RSS %d bytes, want at least the 32 MiB buffer", s.MaxRSS)
	}
	if s.Wall <= 0 || s.Wall > time.Minute {
		t.Errorf("wall time %v", s.Wall)
	}
	// Zeroing and copying 32 MiB is mostly the kernel's work (dd reads /dev/zero):
	// the user part is some of the CPU time, never more.
	if s.User < 0 || s.User > s.CPU || s.CPU-s.User <= 0 {
		t.Errorf("user %v of cpu %v: want a part of it, the kernel's part above 0", s.User, s.CPU)
	}
}

func TestMeasureErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Measure(context.Background(), Command{Argv: []string{"sh", "-c", "echo broken >&2; exit 3"}, Output: filepath.Join(dir, "x")}); err == nil ||
		!strings.Contains(err.Error(), "broken") {
		t.Errorf("failing child: err %v, want one carrying its stderr", err)
	}
	if _, err := Measure(context.Background(), Command{Argv: []string{"true"}, Output: filepath.Join(dir, "never")}); err == nil {
		t.Error("a child that writes no output was measured without error")
	}
	if _, err := Measure(context.Background(), Command{}); err == nil {
		t.Error("an empty command was measured")
	}
}

func TestMedian(t *testing.T) {
	s := func(sec, rss int64) Sample { return Sample{Wall: time.Duration(sec) * time.Second, MaxRSS: rss} }
	m, err := Median([]Sample{s(5, 1), s(1, 2), s(3, 3)})
	if err != nil || m.Wall != 3*time.Second || m.MaxRSS != 3 {
		t.Errorf("median of 5,1,3 s: %+v %v, want the 3 s run", m, err)
	}
	if m, _ := Median([]Sample{s(4, 1), s(2, 2)}); m.Wall != 2*time.Second {
		t.Errorf("median of two: %v, want the lower one", m.Wall)
	}
	if _, err := Median(nil); err == nil {
		t.Error("median of nothing")
	}
	// By CPU time the median run is another one than by wall time.
	r := Result{Samples: []Sample{{Wall: 1, CPU: 9}, {Wall: 2, CPU: 1}, {Wall: 3, CPU: 5}}}
	if m := r.MedianCPU(); m.CPU != 5 || r.Median().CPU != 1 {
		t.Errorf("MedianCPU %v, Median's cpu %v: want 5 and 1", m.CPU, r.Median().CPU)
	}
	if got := MaxRSS([]Sample{s(1, 7), s(1, 9), s(1, 8)}); got != 9 {
		t.Errorf("MaxRSS %d, want 9", got)
	}
}

func result(vm, cfg, tool string, wallSec float64, size, rss int64) Result {
	return Result{Vmcore: vm, Config: cfg, Tool: tool, Samples: []Sample{{
		Wall: time.Duration(wallSec * float64(time.Second)), Size: size, MaxRSS: rss,
	}}}
}

func TestEvaluate(t *testing.T) {
	const mib = 1 << 20
	results := []Result{
		// -d 1 -c: makedumpfile's best is its 2-thread run (10 s); ours 3 s and smaller: PASS.
		result("small", "-d 1 -c", Gokdump, 3, 100, 20*mib),
		result("small", "-d 1 -c", Makedumpfile, 20, 101, 50*mib),
		result("small", "-d 1 -c", MakedumpfileMT, 10, 101, 60*mib),
		// -d 1 -l: ours 0.7x: MISS.
		result("small", "-d 1 -l", Gokdump, 7, 100, 20*mib),
		result("small", "-d 1 -l", Makedumpfile, 10, 100, 50*mib),
		// -d 31 -z against makedumpfile -d 31 -c: fast enough but not smaller: MISS.
		result("small", "-d 31 -z", Gokdump, 1, 50, 20*mib),
		result("small", "-d 31 -c", Makedumpfile, 4, 50, 50*mib),
		// the big vmcore: RSS 25 MiB (over 24) and 5 MiB more than on the small one.
		result("big", "-d 31 -l", Gokdump, 10, 100, 25*mib),
		result("big", "-d 31 -l", Makedumpfile, 10, 100, 50*mib),
	}
	got := map[string]bool{}
	for _, v := range Evaluate(results, []string{"small", "big"}) {
		got[v.Vmcore+" "+v.Target] = v.Pass
	}
	want := map[string]bool{
		"small -d 1 -c": true,
		"small -d 1 -l": false,
		"small -d 31 -z vs makedumpfile -d 31 -c": false,
		"small peak RSS":          true,
		"big -d 31 -l":            true,
		"big peak RSS":            false,
		"small -> big RSS growth": false,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: pass %v (present %v), want %v", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("verdicts %v, want exactly %d", got, len(want))
	}
	var buf bytes.Buffer
	vs := Evaluate(results, []string{"small", "big"})
	if err := WriteTable(&buf, results, vs); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"MISS  big", "PASS  small", "time 0.30x", "makedumpfile --num-threads 2"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, buf.String())
		}
	}
	if s := Summary(vs); s != "3/7 targets met" {
		t.Errorf("summary %q", s)
	}
}

func cpuResult(vm, cfg, tool string, cpuSec float64, size int64) Result {
	return Result{Vmcore: vm, Config: cfg, Tool: tool, Samples: []Sample{{
		Wall: time.Second, CPU: time.Duration(cpuSec * float64(time.Second)), Size: size,
	}}}
}

// TestEvaluateOneWorker checks the one-worker targets: by CPU time against the better
// of the two makedumpfiles, the size against the smaller output of the two.
func TestEvaluateOneWorker(t *testing.T) {
	results := []Result{
		// -d 31 -l: 1.7.8 is the faster (2 s): ours 1.5 s is 0.75x: PASS.
		cpuResult("v", "-d 31 -l", Gokdump1, 1.5, 100),
		cpuResult("v", "-d 31 -l", Makedumpfile, 3, 100),
		cpuResult("v", "-d 31 -l", Makedumpfile178, 2, 100),
		// -d 1: 0.9x of 1.7.2: MISS.
		cpuResult("v", "-d 1", Gokdump1, 0.9, 100),
		cpuResult("v", "-d 1", Makedumpfile, 1, 100),
		// -d 1 -c: 0.5x but larger than 1.7.8's output: MISS.
		cpuResult("v", "-d 1 -c", Gokdump1, 5, 100),
		cpuResult("v", "-d 1 -c", Makedumpfile, 10, 101),
		cpuResult("v", "-d 1 -c", Makedumpfile178, 11, 99),
		// -d 31 -z against 1.7.8 alone: equal time and size: PASS.
		cpuResult("v", "-d 31 -z", Gokdump1, 2, 50),
		cpuResult("v", "-d 31 -z", Makedumpfile178, 2, 50),
		// -d 31 -c: only the size counts: PASS however slow.
		cpuResult("v", "-d 31 -c", Gokdump1, 20, 50),
		cpuResult("v", "-d 31 -c", Makedumpfile, 2, 51),
	}
	want := map[string]bool{
		"1 worker -d 31 -l": true, "1 worker -d 1": false, "1 worker -d 1 -c": false,
		"1 worker -d 31 -z": true, "1 worker -d 31 -c size": true,
	}
	got := map[string]bool{}
	for _, v := range Evaluate(results, []string{"v"}) {
		got[v.Target] = v.Pass
		if v.Target == "1 worker -d 31 -l" && !strings.Contains(v.Detail, "cpu 0.75x") {
			t.Errorf("detail %q", v.Detail)
		}
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: pass %v (present %v), want %v", k, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("verdicts %v, want exactly %d", got, len(want))
	}
}

func TestJobs(t *testing.T) {
	tools := Tools{Gokdump: "/b/gokdump", Makedumpfile: "/usr/sbin/makedumpfile",
		Makedumpfile178: []string{"/sid/ld.so", "--library-path", "/sid/lib", "/sid/makedumpfile"}}
	if n := len(Jobs("1 GiB", "/v/vmcore", tools, "/out", Sets{AllCores: true})); n != len(OurConfigs)+2*len(TheirConfigs) {
		t.Fatalf("all cores: %d jobs", n)
	}
	// One worker: gokdump and 1.7.8 on every configuration, 1.7.2 on all but -z; the
	// 1.7.2 runs both sets share are listed once.
	if n := len(Jobs("1 GiB", "/v/vmcore", tools, "/out", Sets{OneWorker: true})); n != 3*len(OneWorkerConfigs)-1 {
		t.Fatalf("one worker: %d jobs", n)
	}
	jobs := Jobs("1 GiB", "/v/vmcore", tools, "/out", Sets{AllCores: true, OneWorker: true})
	if want := len(OurConfigs) + 2*len(TheirConfigs) + 3*len(OneWorkerConfigs) - 1 - len(TheirConfigs); len(jobs) != want {
		t.Fatalf("both sets: %d jobs, want %d", len(jobs), want)
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		argv := j.Command.Argv
		if argv[len(argv)-2] != "/v/vmcore" || argv[len(argv)-1] != j.Command.Output {
			t.Errorf("%s %s: argv %q does not end with the vmcore and the output", j.Tool, j.Config, argv)
		}
		if seen[j.Command.Output] {
			t.Errorf("two jobs write %s", j.Command.Output)
		}
		seen[j.Command.Output] = true
		if !strings.Contains(j.Command.String(), j.Config) {
			t.Errorf("%s: command %q lacks the options %q", j.Tool, j.Command, j.Config)
		}
		if j.Tool == MakedumpfileMT && !strings.Contains(j.Command.String(), "--num-threads 2") {
			t.Errorf("%q", j.Command)
		}
		if j.Tool == Gokdump1 && (!strings.Contains(j.Command.String(), "--num-threads 1") || len(j.Command.Env) != 1 || j.Command.Env[0] != "GOMAXPROCS=1") {
			t.Errorf("one worker: %q env %q", j.Command, j.Command.Env)
		}
		if j.Tool == Makedumpfile178 && j.Command.Argv[0] != "/sid/ld.so" {
			t.Errorf("1.7.8: %q", j.Command)
		}
		if j.Tool == Makedumpfile && strings.Contains(j.Config, "-z") {
			t.Errorf("makedumpfile 1.7.2 has no zstd: %q", j.Command)
		}
	}
}

// TestRun runs fake tools round-robin: each job gets a sample per round, except a
// two-thread makedumpfile job over twice as slow as the single-threaded one, which
// runs once.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	job := func(tool string, sleep string) Job {
		out := filepath.Join(dir, strings.ReplaceAll(tool, " ", "_"))
		return Job{Vmcore: "v", Config: "-d 1 -c", Tool: tool, Command: Command{
			Argv:   []string{"sh", "-c", "sleep " + sleep + "; echo data > \"$1\"", "sh", out},
			Output: out,
		}}
	}
	broken := job(MakedumpfileMT, "0")
	broken.Config = "-d 31 -l"
	broken.Command.Argv = []string{"sh", "-c", "echo aborted >&2; exit 134"}
	jobs := []Job{job(Gokdump, "0"), job(Makedumpfile, "0.05"), job(MakedumpfileMT, "1"), broken}
	var log bytes.Buffer
	res, err := Run(context.Background(), jobs, 3, &log)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{3, 3, 1, 0} {
		if got := len(res[i].Samples); got != want {
			t.Errorf("%s: %d samples, want %d", res[i].Tool, got, want)
		}
	}
	if !strings.Contains(res[3].Err, "aborted") {
		t.Errorf("the failing job's error %q does not carry its stderr", res[3].Err)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, res, Evaluate(res, []string{"v"})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "failed after 0 good runs: makedumpfile --num-threads 2 -d 31 -l") {
		t.Errorf("the table does not report the failure:\n%s", table.String())
	}
	if !strings.Contains(log.String(), "not run again") {
		t.Errorf("log does not say the slow job was dropped:\n%s", log.String())
	}
	for _, j := range jobs {
		if _, err := os.Stat(j.Command.Output); !os.IsNotExist(err) {
			t.Errorf("%s: output left behind (%v)", j.Tool, err)
		}
	}
}

// TestServeBench runs the serve section on a small store: every page loads and the
// report names each with a verdict.
func TestServeBench(t *testing.T) {
	st := fleet.Dir{Root: t.TempDir()}
	var log bytes.Buffer
	rep, err := Serve(context.Background(), ServeConfig{Store: st, Records: 300, Runs: 2, Warmup: 1}, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if rep.Crashes != 300 || rep.Groups < 10 || rep.BiggestGroup < 2 || len(rep.Pages) != 9 || rep.IndexBytes == 0 {
		t.Errorf("report %+v", rep)
	}
	var out bytes.Buffer
	if err := WriteServeReport(&out, rep, 2, 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Pages {
		if p.Bytes == 0 || !strings.Contains(out.String(), p.Path) {
			t.Errorf("page %s: %d bytes, in the report: %v", p.Path, p.Bytes, strings.Contains(out.String(), p.Path))
		}
	}
	if pass, miss := ServeVerdicts(rep); pass+miss != 9 || !strings.Contains(out.String(), "PASS < 200ms") && !strings.Contains(out.String(), "MISS") {
		t.Errorf("verdicts %d+%d:\n%s", pass, miss, out.String())
	}
}

// TestVerdictRatio: a ratio that two decimals would round onto its target gets a third.
func TestVerdictRatio(t *testing.T) {
	for _, c := range []struct {
		r, target float64
		want      string
	}{
		{0.8023, 0.8, "0.802x"},
		{0.7981, 0.8, "0.798x"},
		{0.8, 0.8, "0.80x"},
		{0.74, 0.8, "0.74x"},
		{1.3449, 1.0, "1.34x"},
	} {
		if got := verdictRatio(c.r, c.target); got != c.want {
			t.Errorf("verdictRatio(%v, %v) = %q, want %q", c.r, c.target, got, c.want)
		}
	}
}
