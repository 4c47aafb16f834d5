package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/makedumpfile"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

func init() {
	register(&command{
		name:    "dump",
		summary: "filter, compress and save a vmcore (makedumpfile's options; also run as \"makedumpfile\")",
		run:     runDump,
	})
}

const dumpUsage = `Usage: gokdump dump [OPTIONS] VMCORE DUMPFILE
       gokdump dump -F [OPTIONS] VMCORE > FLATTENED
       gokdump dump -R DUMPFILE < FLATTENED
       gokdump dump --dump-dmesg VMCORE LOGFILE

Saves the crashed kernel's memory (VMCORE, e.g. /proc/vmcore) to DUMPFILE, leaving
out the pages the dump level says, as makedumpfile does and with its options; run
under the name "makedumpfile" gokdump behaves as this command. DUMPFILE must not
exist (unless -f) and is created with mode 0600.

Options:
  -d LEVEL[,LEVEL...]  pages to leave out, a sum of: 1 zero, 2 cache without private
                       data, 4 all cache, 8 user data, 16 free (default 0). With
                       several levels, a dump that does not fit is retried with
                       the next one.
  -c, -l, -p, -z       compress pages with zlib, lzo, snappy or zstd
  -E                   write an ELF core instead of the kdump-compressed format
  -F                   write the flattened format to standard output (for pipes)
  -R                   rebuild DUMPFILE from a flattened stream on standard input
  --dump-dmesg         write the kernel log to LOGFILE as makedumpfile does (for its
                       exact layout; "gokdump dmesg" prints vmcore-dmesg's)
  -f                   overwrite DUMPFILE if it exists
  -L SIZE              stop (incomplete dump) before DUMPFILE grows beyond SIZE
                       bytes (K, M, G suffixes)
  --num-threads N      goroutines that classify and compress (default: CPUs)
  --message-level N    what to print, a sum of: 1 progress, 2 common messages,
                       4 errors, 8 debugging, 16 the --show-stats report (default 7)
  --show-stats         print the page statistics at the end
  --json               with --show-stats: print them as JSON (stable field names)
  --dry-run            do everything but write DUMPFILE
  --check-params       only check the options
  --cyclic-buffer KB   bitmap memory per window, as makedumpfile (sets the window)
  --non-mmap, --work-dir DIR, -b ORDER, --splitblock-size N
                       accepted for compatibility; no effect
  -h, --help           this text; -v, --version: the version
`

func runDump(ctx context.Context, e *env, args []string) int {
	a, err := makedumpfile.Parse(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump dump: %v\nTry \"gokdump dump --help\" for more information.\n", err)
		return 2
	}
	if a.Help {
		fmt.Fprint(e.stdout, dumpUsage)
		return 0
	}
	if a.Version {
		fmt.Fprintln(e.stdout, "gokdump dump: makedumpfile-compatible collector (kdump-compressed header version 6)")
		return 0
	}
	if err := a.Check(); err != nil {
		fmt.Fprintf(e.stderr, "gokdump dump: %v\nTry \"gokdump dump --help\" for more information.\n", err)
		return 2
	}
	if a.CheckParams {
		return 0
	}
	// Messages go to stderr when stdout carries the dump, as with makedumpfile -F.
	msgOut := e.stdout
	if a.Mode() == makedumpfile.Flattened {
		msgOut = e.stderr
	}
	errorf := func(format string, args ...any) {
		if a.Prints(makedumpfile.MessageError) {
			fmt.Fprintf(e.stderr, "gokdump dump: "+format+"\n", args...)
		}
	}
	switch a.Mode() {
	case makedumpfile.Rearrange:
		return rearrange(e, a, errorf)
	case makedumpfile.Dmesg:
		return dumpDmesg(a, errorf)
	}
	return dump(ctx, e, a, msgOut, errorf)
}

// dumpDmesg is makedumpfile --dump-dmesg VMCORE LOGFILE (what kdump-tools saves the
// log with): the kernel log in makedumpfile's layout, mode 0600. A damaged ring gives
// the records read before the damage, and exit code 1.
func dumpDmesg(a *makedumpfile.Command, errorf func(string, ...any)) int {
	src, err := vmcore.Open(a.Operands[0])
	if err != nil {
		errorf("%v", err)
		return 1
	}
	defer src.Close()
	log, readErr := printk.ReadFile(src)
	if log == nil {
		errorf("%v", readErr)
		return 1
	}
	out, err := makedumpfile.Create(a.Operands[1], a.Force)
	if err != nil {
		errorf("%v", err)
		return 1
	}
	err = log.WriteMakedumpfileText(out)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		errorf("writing %s: %v", a.Operands[1], err)
		return 1
	}
	if readErr != nil {
		errorf("%v", readErr)
		return 1
	}
	return 0
}

func rearrange(e *env, a *makedumpfile.Command, errorf func(string, ...any)) int {
	out, err := makedumpfile.Create(a.Operands[0], a.Force)
	if err != nil {
		errorf("%v", err)
		return 1
	}
	err = dumpfile.Rearrange(out, e.stdin)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		errorf("rebuilding %s from the flattened stream: %v", a.Operands[0], err)
		return 1
	}
	return 0
}

func dump(ctx context.Context, e *env, a *makedumpfile.Command, msgOut io.Writer, errorf func(string, ...any)) int {
	src, err := vmcore.Open(a.Operands[0])
	if err != nil {
		errorf("%v", err)
		return 1
	}
	defer src.Close()

	opts := a.Options()
	opts.Warn = func(msg string) {
		if a.Prints(makedumpfile.MessageCommon) {
			fmt.Fprintf(e.stderr, "gokdump dump: warning: %s\n", msg)
		}
	}
	if a.Prints(makedumpfile.MessageProgress) && isTerminal(e.stderr) {
		opts.Progress = e.stderr
	}
	levels := a.DumpLevels()

	var dst io.Writer
	var file *os.File
	name := "standard output"
	switch {
	case a.DryRun:
	case a.Flat:
		dst = e.stdout
	default:
		name = a.Operands[1]
		file, err = makedumpfile.Create(name, a.Force)
		if err != nil {
			errorf("%v", err)
			return 1
		}
		defer file.Close()
		dst = file
	}

	var st *collector.Stats
	for i, level := range levels {
		opts.DumpLevel = level
		st, err = collector.Collect(ctx, src, dst, opts)
		if err == nil || i == len(levels)-1 || file == nil || !collector.NoSpace(err) {
			break
		}
		// makedumpfile's retry: the dump did not fit; try the next, usually higher, level.
		opts.Warn(fmt.Sprintf("dump level %d does not fit (%v); retrying with level %d", level, err, levels[i+1]))
		if terr := file.Truncate(0); terr != nil {
			break
		}
	}
	if file != nil {
		if serr := file.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("syncing %s: %w", name, serr)
		}
	}
	if st != nil && (a.ShowStats || a.Prints(makedumpfile.MessageReport)) {
		if a.JSON {
			st.WriteJSON(msgOut)
		} else {
			st.WriteReport(msgOut)
		}
	}
	if err != nil {
		if file != nil && !errors.Is(err, collector.ErrIncomplete) {
			// Nothing useful was written: leave no empty file behind.
			file.Close()
			os.Remove(name)
		}
		errorf("%v", err)
		if errors.Is(err, collector.ErrIncomplete) && a.Prints(makedumpfile.MessageCommon) {
			fmt.Fprintf(msgOut, "This is an incomplete dumpfile, but might be analyzable: %s\n", name)
		}
		return 1
	}
	if a.Prints(makedumpfile.MessageCommon) {
		if a.DryRun {
			fmt.Fprintf(msgOut, "\nDry run: nothing written (the dumpfile would be %d bytes).\n", st.BytesWritten)
		} else {
			fmt.Fprintf(msgOut, "\nThe dumpfile is saved to %s.\n", name)
		}
		fmt.Fprintf(msgOut, "\n%s Completed.\n", "gokdump dump")
	}
	return 0
}
