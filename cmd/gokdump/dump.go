package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/makedumpfile"
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
		err = a.RunRearrange(e.stdin)
	case makedumpfile.Dmesg:
		err = a.RunDmesg()
	default:
		return dump(ctx, e, a, msgOut, errorf)
	}
	if err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}

func dump(ctx context.Context, e *env, a *makedumpfile.Command, msgOut io.Writer, errorf func(string, ...any)) int {
	opts := a.Options()
	opts.Warn = func(msg string) {
		if a.Prints(makedumpfile.MessageCommon) {
			fmt.Fprintf(e.stderr, "gokdump dump: warning: %s\n", msg)
		}
	}
	if a.Prints(makedumpfile.MessageProgress) && isTerminal(e.stderr) {
		opts.Progress = e.stderr
	}
	st, name, err := a.RunDump(ctx, e.stdout, opts)
	if st != nil && (a.ShowStats || a.Prints(makedumpfile.MessageReport)) {
		if a.JSON {
			st.WriteJSON(msgOut)
		} else {
			st.WriteReport(msgOut)
		}
	}
	if err != nil {
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
