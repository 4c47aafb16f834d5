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

// OurConfigs and TheirConfigs are the configurations measured: every one the targets
// name, plus our -d 31 -c so both tools' zlib at -d 31 sit side by side (makedumpfile
// 1.7.2 as Debian builds it has no snappy or zstd, so it has no -d 31 -z).
var (
	OurConfigs   = []string{"-d 1 -c", "-d 1 -l", "-d 31 -l", "-d 31 -c", "-d 31 -z"}
	TheirConfigs = []string{"-d 1 -c", "-d 1 -l", "-d 31 -l", "-d 31 -c"}
)

// Jobs lists the runs of one vmcore: gokdump (its default thread count, all CPUs) and
// makedumpfile single-threaded and with --num-threads 2, each writing into outDir. Both
// run with --message-level 4 (errors only): no progress lines or reports in the
// measurement.
func Jobs(label, vmcore, gokdump, makedumpfile, outDir string) []Job {
	var jobs []Job
	add := func(cfg, tool string, argv ...string) {
		name := strings.NewReplacer(" ", "", "-", "").Replace(cfg)
		toolName := strings.NewReplacer(" ", "", "-", "").Replace(tool)
		out := filepath.Join(outDir, toolName+"."+name)
		jobs = append(jobs, Job{Vmcore: label, Config: cfg, Tool: tool,
			Command: Command{Argv: append(argv, vmcore, out), Output: out}})
	}
	for _, cfg := range OurConfigs {
		add(cfg, Gokdump, append([]string{gokdump, "dump", "--message-level", "4"}, strings.Fields(cfg)...)...)
	}
	for _, cfg := range TheirConfigs {
		add(cfg, Makedumpfile, append([]string{makedumpfile, "--message-level", "4"}, strings.Fields(cfg)...)...)
		add(cfg, MakedumpfileMT, append([]string{makedumpfile, "--message-level", "4", "--num-threads", "2"}, strings.Fields(cfg)...)...)
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
