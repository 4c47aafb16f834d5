package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
       gokdump dump --split [OPTIONS] VMCORE DUMPFILE1 DUMPFILE2 [DUMPFILE3 ...]
       gokdump dump --reassemble DUMPFILE1 DUMPFILE2 [DUMPFILE3 ...] DUMPFILE
       gokdump dump --mem-usage VMCORE

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
  --split              write the dump as several kdump-compressed parts, in parallel,
                       each holding a range of pfns (as makedumpfile --split;
                       makedumpfile --reassemble or --reassemble below merge them)
  --splitblock-size KB the pfn ranges are cut at multiples of this much memory
                       (default 1 GiB, as makedumpfile)
  --reassemble         merge the parts of a split dump into the last operand
  --mem-usage          print the pages of each type (makedumpfile's table) of a
                       vmcore; /proc/kcore is not supported
  -i VMCOREINFO        read VMCOREINFO from this file (makedumpfile -g's output or
                       a saved note) instead of the dump's note
  -D                   print debugging output (the options, the dump's layout and
                       the statistics)
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
  -h, --help           this text; -v, --version: the version (as "makedumpfile",
                       makedumpfile's line with the version whose behaviour gokdump
                       follows, and the codecs, for scripts that parse it)

  --partial-dmesg      with --dump-dmesg: only the log since the last "dmesg -c"
                       (the kernel's clear_seq; kernels 5.10 and later)

Not supported (refused with the reason): --vtop, --config, --eppic,
--extension, sadump, Xen, -e, -x, -g.
`

// compatibleVersion is the makedumpfile release whose options and formats gokdump
// follows; "makedumpfile -v" reports it in makedumpfile's shape, which scripts parse.
const compatibleVersion = "makedumpfile: version 1.7.2 (released on 20 Oct 2022; gokdump, compatible)"

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
		if e.prog == "makedumpfile" {
			fmt.Fprintf(e.stdout, "%s\nlzo\tenabled\nsnappy\tenabled\nzstd\tenabled\n", compatibleVersion)
		} else {
			fmt.Fprintln(e.stdout, "gokdump dump: makedumpfile-compatible collector (kdump-compressed header version 6; follows makedumpfile 1.7.2)")
		}
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
	if a.Prints(makedumpfile.MessageDebug) {
		debugCommand(msgOut, a)
	}
	switch a.Mode() {
	case makedumpfile.Split:
		return split(ctx, e, a, msgOut, errorf)
	case makedumpfile.MemUsage:
		st, err := a.RunMemUsage(ctx, a.Options())
		if err != nil {
			errorf("%v", err)
			return 1
		}
		makedumpfile.WriteMemUsage(msgOut, st)
		return 0
	case makedumpfile.Reassemble:
		var pages uint64
		pages, err = a.RunReassemble()
		if err == nil && a.Prints(makedumpfile.MessageCommon) {
			fmt.Fprintf(msgOut, "\nThe dumpfile is saved to %s (%d pages from %d parts).\n\ngokdump dump Completed.\n",
				a.Operands[len(a.Operands)-1], pages, len(a.Operands)-1)
		}
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

// split is --split: the parts written in parallel, the report and the parts' ranges.
func split(ctx context.Context, e *env, a *makedumpfile.Command, msgOut io.Writer, errorf func(string, ...any)) int {
	opts := a.Options()
	opts.Warn = func(msg string) {
		if a.Prints(makedumpfile.MessageCommon) {
			fmt.Fprintf(e.stderr, "gokdump dump: warning: %s\n", msg)
		}
	}
	st, parts, err := a.RunSplit(ctx, opts)
	if st != nil && (a.ShowStats || a.Prints(makedumpfile.MessageReport)) {
		if a.JSON {
			st.WriteJSON(msgOut)
		} else {
			st.WriteReport(msgOut)
		}
	}
	if a.Prints(makedumpfile.MessageDebug) {
		for i, p := range parts {
			fmt.Fprintf(msgOut, "dumpfile (%s)\n  start_pfn  : %x\n  end_pfn    : %x\n  pages      : %d\n", a.Operands[1+i], p.StartPFN, p.EndPFN, p.Pages)
		}
	}
	if err != nil {
		errorf("%v", err)
		if errors.Is(err, collector.ErrIncomplete) && a.Prints(makedumpfile.MessageCommon) {
			fmt.Fprintf(msgOut, "This is an incomplete dumpfile, but might be analyzable: %s\n", strings.Join(a.Operands[1:], " "))
		}
		return 1
	}
	if a.Prints(makedumpfile.MessageCommon) {
		if a.DryRun {
			fmt.Fprintf(msgOut, "\nDry run: nothing written (the %d parts would be %d bytes).\n\ngokdump dump Completed.\n", len(parts), st.BytesWritten)
		} else {
			fmt.Fprintf(msgOut, "\nThe dumpfiles are saved to %s.\n\ngokdump dump Completed.\n", strings.Join(a.Operands[1:], ", and "))
		}
	}
	return 0
}

// debugCommand prints what -D shows before the work: the options as understood and,
// when VMCORE can be opened, its layout.
func debugCommand(w io.Writer, a *makedumpfile.Command) {
	opts := a.Options()
	fmt.Fprintf(w, "mode         : %v\ndump levels  : %v\ncodec        : %v\nformat       : %v\nthreads      : %d (0: CPUs)\nwindow pfns  : %d (0: default)\noperands     : %q\n",
		a.Mode(), a.DumpLevels(), opts.Codec, opts.Format, opts.Threads, opts.WindowPFNs, a.Operands)
	if a.VMCOREINFO != "" {
		fmt.Fprintf(w, "vmcoreinfo   : %s\n", a.VMCOREINFO)
	}
	switch a.Mode() {
	case makedumpfile.Rearrange, makedumpfile.Reassemble:
		return
	}
	if len(a.Operands) == 0 {
		return
	}
	f, err := a.Open()
	if err != nil {
		fmt.Fprintf(w, "vmcore       : %v\n", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(w, "vmcore       : %s (%s, %d bytes)\n", f.Name, f.Format, f.Size)
	for _, l := range f.Loads {
		fmt.Fprintf(w, "  PT_LOAD    : phys 0x%x, %d bytes in memory, %d in the file at 0x%x\n", l.Phys, l.MemSize, l.FileSize, l.Offset)
	}
	if info, err := f.VMCOREINFO(); err == nil {
		for _, k := range []string{"OSRELEASE", "PAGESIZE", "CRASHTIME"} {
			if v, ok := info.Get(k); ok {
				fmt.Fprintf(w, "  %-10s : %s\n", k, v)
			}
		}
	} else {
		fmt.Fprintf(w, "  VMCOREINFO : %v\n", err)
	}
}
