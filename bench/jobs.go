package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Job is one tool with one configuration on one vmcore.
type Job struct {
	Vmcore  string // label
	Config  string // dump options as in Targets
	Tool    string
	Command Command
}

// OurConfigs and TheirConfigs are the configurations measured on all cores: every one
// the targets name, plus our -d 31 -c so both tools' zlib at -d 31 sit side by side
// (makedumpfile 1.7.2 as Debian builds it has no snappy or zstd, so it has no -d 31 -z).
var (
	OurConfigs   = []string{"-d 1 -c", "-d 1 -l", "-d 31 -l", "-d 31 -c", "-d 31 -z"}
	TheirConfigs = []string{"-d 1 -c", "-d 1 -l", "-d 31 -l", "-d 31 -c"}
)

// OneWorkerConfigs are the configurations measured on one core (issue 14): gokdump
// with one worker, makedumpfile 1.7.2 and 1.7.8 single-threaded (1.7.2 has no -z).
var OneWorkerConfigs = []string{"-d 31 -l", "-d 31", "-d 1", "-d 1 -l", "-d 1 -c", "-d 31 -c", "-d 31 -z"}

// Tools are the programs a bench runs.
type Tools struct {
	Gokdump      string // gokdump binary
	Makedumpfile string // Debian bookworm's makedumpfile (1.7.2)
	// Makedumpfile178 is the argv prefix that runs Debian unstable's makedumpfile
	// 1.7.8 (through its own dynamic loader); empty: not measured.
	Makedumpfile178 []string
}

// Sets choose the groups of runs of a bench.
type Sets struct {
	AllCores  bool // gokdump on every CPU against makedumpfile 1.7.2 with 1 and 2 threads
	OneWorker bool // gokdump with one worker against both makedumpfiles single-threaded
}

// Jobs lists the runs of one vmcore, each writing into outDir: with sets.AllCores,
// gokdump (its default thread count, all CPUs) and makedumpfile 1.7.2 single-threaded
// and with --num-threads 2; with sets.OneWorker, gokdump with --num-threads 1 and
// GOMAXPROCS=1 and both makedumpfiles single-threaded. A run that both sets name is
// listed once. All run with --message-level 4 (errors only): no progress lines or
// reports in the measurement.
func Jobs(label, vmcore string, t Tools, outDir string, sets Sets) []Job {
	var jobs []Job
	seen := map[string]bool{}
	add := func(cfg, tool string, env []string, argv ...string) {
		if seen[tool+"\x00"+cfg] {
			return
		}
		seen[tool+"\x00"+cfg] = true
		name := strings.NewReplacer(" ", "", "-", "").Replace(cfg)
		toolName := strings.NewReplacer(" ", "", "-", "", ".", "").Replace(tool)
		out := filepath.Join(outDir, toolName+"."+name)
		jobs = append(jobs, Job{Vmcore: label, Config: cfg, Tool: tool,
			Command: Command{Argv: append(argv, vmcore, out), Output: out, Env: env}})
	}
	with := func(prefix []string, cfg string) []string {
		return append(append([]string(nil), prefix...), strings.Fields(cfg)...)
	}
	if sets.AllCores {
		for _, cfg := range OurConfigs {
			add(cfg, Gokdump, nil, with([]string{t.Gokdump, "dump", "--message-level", "4"}, cfg)...)
		}
		for _, cfg := range TheirConfigs {
			add(cfg, Makedumpfile, nil, with([]string{t.Makedumpfile, "--message-level", "4"}, cfg)...)
			add(cfg, MakedumpfileMT, nil, with([]string{t.Makedumpfile, "--message-level", "4", "--num-threads", "2"}, cfg)...)
		}
	}
	if sets.OneWorker {
		for _, cfg := range OneWorkerConfigs {
			add(cfg, Gokdump1, []string{"GOMAXPROCS=1"}, with([]string{t.Gokdump, "dump", "--message-level", "4", "--num-threads", "1"}, cfg)...)
			if !strings.Contains(cfg, "-z") {
				add(cfg, Makedumpfile, nil, with([]string{t.Makedumpfile, "--message-level", "4"}, cfg)...)
			}
			if len(t.Makedumpfile178) > 0 {
				add(cfg, Makedumpfile178, nil, with(append(append([]string(nil), t.Makedumpfile178...), "--message-level", "4"), cfg)...)
			}
		}
	}
	return jobs
}

// slowFactor: a makedumpfile --num-threads 2 job whose first run takes more than this
// many times its single-threaded first run is not run again (on 2 busy cores its
// threads can take minutes where one thread takes seconds); makedumpfile's best is
// then its single-threaded time whatever the repeats would show.
const slowFactor = 2

// Run measures every job runs times, round-robin (all jobs once, then all again), so
// a change in the machine's load over the minutes of a bench falls on every tool. Each
// output is removed after its run. A two-thread makedumpfile job far slower than the
// single-threaded one (slowFactor) runs once only. log, when not nil, gets a line per
// run.
func Run(ctx context.Context, jobs []Job, runs int, log io.Writer) ([]Result, error) {
	results := make([]Result, len(jobs))
	for i, j := range jobs {
		results[i] = Result{Vmcore: j.Vmcore, Config: j.Config, Tool: j.Tool}
	}
	dropped := make([]bool, len(jobs))
	for round := 1; round <= runs; round++ {
		for i, j := range jobs {
			if err := ctx.Err(); err != nil {
				return results, err
			}
			if dropped[i] {
				continue
			}
			if round == 2 && tooSlow(results, i) {
				dropped[i] = true
				if log != nil {
					fmt.Fprintf(log, "  %s %s: first run over %dx the single-threaded one; not run again\n", j.Tool, j.Config, slowFactor)
				}
				continue
			}
			s, err := Measure(ctx, j.Command)
			os.Remove(j.Command.Output)
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
			if err != nil {
				// A tool that fails (makedumpfile 1.7.2's threads can abort) is
				// reported, not retried; the bench goes on with the others.
				results[i].Err = err.Error()
				dropped[i] = true
				if log != nil {
					fmt.Fprintf(log, "  [%d/%d] %-28s %-9s FAILED: %v\n", round, runs, j.Tool, j.Config, err)
				}
				continue
			}
			results[i].Samples = append(results[i].Samples, s)
			if log != nil {
				fmt.Fprintf(log, "  [%d/%d] %-28s %-9s %7.2fs cpu %7.2fs rss %6.1f MiB out %8.1f MiB\n",
					round, runs, j.Tool, j.Config, s.Wall.Seconds(), s.CPU.Seconds(), mib(s.MaxRSS), mib(s.Size))
			}
		}
	}
	return results, nil
}

// tooSlow says whether results[i] is a two-thread makedumpfile result whose first run
// took over slowFactor times the single-threaded first run of the same configuration.
func tooSlow(results []Result, i int) bool {
	r := results[i]
	if r.Tool != MakedumpfileMT || len(r.Samples) == 0 {
		return false
	}
	for _, o := range results {
		if o.Tool == Makedumpfile && o.Vmcore == r.Vmcore && o.Config == r.Config && len(o.Samples) > 0 {
			return r.Samples[0].Wall > slowFactor*o.Samples[0].Wall
		}
	}
	return false
}
