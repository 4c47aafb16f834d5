package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/mm"
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

// Message levels (makedumpfile's ML_PRINT_*).
const (
	mlProgress = 1
	mlCommon   = 2
	mlError    = 4
	mlDebug    = 8
	mlReport   = 16
)

type dumpArgs struct {
	levels       []mm.DumpLevel
	codec        compress.Codec
	elf, flat    bool
	rearrange    bool
	dmesg        bool // --dump-dmesg: write the kernel log, not a dump
	force        bool
	sizeLimit    int64
	threads      int
	messageLevel int
	showStats    bool
	json         bool
	dryRun       bool
	checkParams  bool
	help         bool
	version      bool
	windowPFNs   uint64
	operands     []string
}

// dumpOpt is one makedumpfile option.
type dumpOpt struct {
	short byte   // 0: long only
	long  string // "": short only
	arg   bool
	set   func(a *dumpArgs, v string) error
	// unsupported, when set, is why the option is refused.
	unsupported string
}

var dumpOpts = []dumpOpt{
	{short: 'd', arg: true, set: func(a *dumpArgs, v string) error { return a.parseLevels(v) }},
	{short: 'c', set: func(a *dumpArgs, _ string) error { a.codec = compress.Zlib; return nil }},
	{short: 'l', set: func(a *dumpArgs, _ string) error { a.codec = compress.LZO; return nil }},
	{short: 'p', set: func(a *dumpArgs, _ string) error { a.codec = compress.Snappy; return nil }},
	{short: 'z', set: func(a *dumpArgs, _ string) error { a.codec = compress.Zstd; return nil }},
	{short: 'E', set: func(a *dumpArgs, _ string) error { a.elf = true; return nil }},
	{short: 'F', set: func(a *dumpArgs, _ string) error { a.flat = true; return nil }},
	{short: 'R', set: func(a *dumpArgs, _ string) error { a.rearrange = true; return nil }},
	{short: 'f', set: func(a *dumpArgs, _ string) error { a.force = true; return nil }},
	{short: 'L', arg: true, set: func(a *dumpArgs, v string) error {
		n, err := parseSize(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("size limit %q is invalid: want a positive number of bytes, optionally with K, M or G", v)
		}
		a.sizeLimit = n
		return nil
	}},
	{short: 'h', long: "help", set: func(a *dumpArgs, _ string) error { a.help = true; return nil }},
	{short: 'v', long: "version", set: func(a *dumpArgs, _ string) error { a.version = true; return nil }},
	{short: 'D', set: func(a *dumpArgs, _ string) error { a.messageLevel |= mlDebug; return nil }},
	{short: 'b', arg: true, set: func(*dumpArgs, string) error { return nil }},
	{long: "num-threads", arg: true, set: func(a *dumpArgs, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("--num-threads %q: want a number of threads", v)
		}
		a.threads = n
		return nil
	}},
	{long: "message-level", arg: true, set: func(a *dumpArgs, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 31 {
			return fmt.Errorf("--message-level %q: want 0..31", v)
		}
		a.messageLevel = n | a.messageLevel&mlDebug
		return nil
	}},
	{long: "show-stats", set: func(a *dumpArgs, _ string) error { a.showStats = true; return nil }},
	{long: "json", set: func(a *dumpArgs, _ string) error { a.json = true; return nil }},
	{long: "dry-run", set: func(a *dumpArgs, _ string) error { a.dryRun = true; return nil }},
	{long: "check-params", set: func(a *dumpArgs, _ string) error { a.checkParams = true; return nil }},
	{long: "cyclic-buffer", arg: true, set: func(a *dumpArgs, v string) error {
		kb, err := strconv.ParseUint(v, 10, 32)
		if err != nil || kb == 0 {
			return fmt.Errorf("--cyclic-buffer %q: want a positive number of KiB", v)
		}
		a.windowPFNs = kb * 1024 * 8
		return nil
	}},
	{long: "non-mmap", set: func(*dumpArgs, string) error { return nil }},
	{long: "work-dir", arg: true, set: func(*dumpArgs, string) error { return nil }},
	{long: "splitblock-size", arg: true, set: func(*dumpArgs, string) error { return nil }},

	{long: "dump-dmesg", set: func(a *dumpArgs, _ string) error { a.dmesg = true; return nil }},
	{long: "partial-dmesg", unsupported: "use \"gokdump dmesg\""},
	{long: "split", unsupported: "split dumps are not written yet"},
	{long: "reassemble", unsupported: "split dumps are not written yet"},
	{long: "mem-usage", unsupported: "not implemented"},
	{long: "vtop", arg: true, unsupported: "not implemented"},
	{long: "config", arg: true, unsupported: "erasing data (filter config) is not implemented"},
	{long: "eppic", arg: true, unsupported: "eppic scripts are not supported"},
	{long: "extension", arg: true, unsupported: "extensions are not supported"},
	{long: "diskset", arg: true, unsupported: "sadump is not supported"},
	{long: "xen-syms", arg: true, unsupported: "Xen is not supported"},
	{long: "xen-vmcoreinfo", arg: true, unsupported: "Xen is not supported"},
	{long: "xen_phys_start", arg: true, unsupported: "Xen is not supported"},
	{short: 'X', unsupported: "Xen is not supported"},
	{short: 'e', unsupported: "excluding unused vmemmap is not implemented"},
	{short: 'x', arg: true, unsupported: "vmlinux debug information is not used: gokdump reads VMCOREINFO"},
	{short: 'g', arg: true, unsupported: "generating VMCOREINFO from vmlinux is not implemented"},
	{short: 'i', arg: true, unsupported: "reading VMCOREINFO from a file is not implemented"},
}

func (a *dumpArgs) parseLevels(v string) error {
	a.levels = a.levels[:0]
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > int(mm.MaxDumpLevel) {
			return fmt.Errorf("dump level %q is invalid: want 0..31 (or several, separated by commas)", v)
		}
		a.levels = append(a.levels, mm.DumpLevel(n))
	}
	if len(a.levels) > 8 {
		return fmt.Errorf("dump level %q: at most 8 levels", v)
	}
	return nil
}

// parseSize reads makedumpfile's memparse form: a number with an optional K, M or G.
func parseSize(v string) (int64, error) {
	mult := int64(1)
	if v != "" {
		switch v[len(v)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			v = v[:len(v)-1]
		}
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// parseDumpArgs parses like getopt_long with makedumpfile's option string: short options
// may be clustered and take their argument attached or as the next word ("-ld31",
// "-l -d 31"), long options take "=VALUE" or the next word and may be abbreviated to a
// unique prefix, options and operands may come in any order, and "--" ends options.
func parseDumpArgs(args []string) (*dumpArgs, error) {
	a := &dumpArgs{messageLevel: 7}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			a.operands = append(a.operands, args[i+1:]...)
			return a, nil
		case strings.HasPrefix(arg, "--"):
			name, val, hasVal := strings.Cut(arg[2:], "=")
			o, err := findLong(name)
			if err != nil {
				return nil, err
			}
			if o.unsupported != "" {
				return nil, fmt.Errorf("option --%s is not supported: %s", o.long, o.unsupported)
			}
			if o.arg && !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("option --%s needs an argument", o.long)
				}
				i++
				val = args[i]
			} else if !o.arg && hasVal {
				return nil, fmt.Errorf("option --%s takes no argument", o.long)
			}
			if err := o.set(a, val); err != nil {
				return nil, err
			}
		case len(arg) > 1 && arg[0] == '-':
			for j := 1; j < len(arg); j++ {
				o := findShort(arg[j])
				if o == nil {
					return nil, fmt.Errorf("unknown option -%c (in %q)", arg[j], arg)
				}
				if o.unsupported != "" {
					return nil, fmt.Errorf("option -%c is not supported: %s", arg[j], o.unsupported)
				}
				var val string
				if o.arg {
					if j+1 < len(arg) {
						val = arg[j+1:]
					} else if i+1 < len(args) {
						i++
						val = args[i]
					} else {
						return nil, fmt.Errorf("option -%c needs an argument", arg[j])
					}
					j = len(arg)
				}
				if err := o.set(a, val); err != nil {
					return nil, err
				}
			}
		default:
			a.operands = append(a.operands, arg)
		}
	}
	return a, nil
}

func findShort(c byte) *dumpOpt {
	for i := range dumpOpts {
		if dumpOpts[i].short == c {
			return &dumpOpts[i]
		}
	}
	return nil
}

func findLong(name string) (*dumpOpt, error) {
	var match *dumpOpt
	for i := range dumpOpts {
		o := &dumpOpts[i]
		if o.long == "" {
			continue
		}
		if o.long == name {
			return o, nil
		}
		if name != "" && strings.HasPrefix(o.long, name) {
			if match != nil {
				return nil, fmt.Errorf("option --%s is ambiguous (--%s, --%s)", name, match.long, o.long)
			}
			match = o
		}
	}
	if match == nil {
		return nil, fmt.Errorf("unknown option --%s", name)
	}
	return match, nil
}

// check applies makedumpfile's rules on option combinations and operand counts.
func (a *dumpArgs) check() error {
	n := len(a.operands)
	switch {
	case a.dmesg:
		if a.rearrange || a.flat || a.elf || a.dryRun {
			return errors.New("--dump-dmesg writes the kernel log and takes no dump output option")
		}
		if n != 2 {
			return fmt.Errorf("--dump-dmesg wants two operands, VMCORE and LOGFILE (got %d)", n)
		}
	case a.rearrange:
		if a.flat || a.elf || a.dryRun {
			return errors.New("-R rebuilds a dump from a flattened stream and takes no other output option")
		}
		if n != 1 {
			return fmt.Errorf("-R wants one operand, the DUMPFILE to write (got %d)", n)
		}
	case a.flat:
		if n != 1 {
			return fmt.Errorf("-F writes to standard output and wants one operand, the VMCORE (got %d)", n)
		}
	case a.dryRun:
		if n < 1 || n > 2 {
			return fmt.Errorf("want VMCORE [DUMPFILE] with --dry-run (got %d operands)", n)
		}
	case a.checkParams && n == 0:
	default:
		if n != 2 {
			return fmt.Errorf("want two operands, VMCORE and DUMPFILE (got %d)", n)
		}
	}
	if a.elf && a.codec != compress.None {
		return fmt.Errorf("-E writes an ELF core, which cannot hold %v-compressed pages", a.codec)
	}
	if a.json && !a.showStats && a.messageLevel&mlReport == 0 {
		a.showStats = true
	}
	return nil
}

func runDump(ctx context.Context, e *env, args []string) int {
	a, err := parseDumpArgs(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump dump: %v\nTry \"gokdump dump --help\" for more information.\n", err)
		return 2
	}
	if a.help {
		fmt.Fprint(e.stdout, dumpUsage)
		return 0
	}
	if a.version {
		fmt.Fprintln(e.stdout, "gokdump dump: makedumpfile-compatible collector (kdump-compressed header version 6)")
		return 0
	}
	if err := a.check(); err != nil {
		fmt.Fprintf(e.stderr, "gokdump dump: %v\nTry \"gokdump dump --help\" for more information.\n", err)
		return 2
	}
	if a.checkParams {
		return 0
	}
	// Messages go to stderr when stdout carries the dump, as with makedumpfile -F.
	msgOut := e.stdout
	if a.flat {
		msgOut = e.stderr
	}
	errorf := func(format string, args ...any) {
		if a.messageLevel&mlError != 0 {
			fmt.Fprintf(e.stderr, "gokdump dump: "+format+"\n", args...)
		}
	}
	if a.rearrange {
		return rearrange(e, a, errorf)
	}
	if a.dmesg {
		return dumpDmesg(a, errorf)
	}
	return dump(ctx, e, a, msgOut, errorf)
}

// dumpDmesg is makedumpfile --dump-dmesg VMCORE LOGFILE (what kdump-tools saves the
// log with): the kernel log in makedumpfile's layout, mode 0600. A damaged ring gives
// the records read before the damage, and exit code 1.
func dumpDmesg(a *dumpArgs, errorf func(string, ...any)) int {
	src, err := vmcore.Open(a.operands[0])
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
	out, err := createDumpFile(a.operands[1], a.force)
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
		errorf("writing %s: %v", a.operands[1], err)
		return 1
	}
	if readErr != nil {
		errorf("%v", readErr)
		return 1
	}
	return 0
}

func rearrange(e *env, a *dumpArgs, errorf func(string, ...any)) int {
	out, err := createDumpFile(a.operands[0], a.force)
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
		errorf("rebuilding %s from the flattened stream: %v", a.operands[0], err)
		return 1
	}
	return 0
}

// createDumpFile creates the output as makedumpfile does: mode 0600, refusing an
// existing file unless forced.
func createDumpFile(name string, force bool) (*os.File, error) {
	flags := os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(name, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s exists: not overwriting it (use -f to overwrite)", name)
	}
	return f, err
}

func dump(ctx context.Context, e *env, a *dumpArgs, msgOut io.Writer, errorf func(string, ...any)) int {
	src, err := vmcore.Open(a.operands[0])
	if err != nil {
		errorf("%v", err)
		return 1
	}
	defer src.Close()

	opts := collector.Options{
		Codec:      a.codec,
		Flattened:  a.flat,
		Threads:    a.threads,
		WindowPFNs: a.windowPFNs,
		DryRun:     a.dryRun,
		Warn: func(msg string) {
			if a.messageLevel&mlCommon != 0 {
				fmt.Fprintf(e.stderr, "gokdump dump: warning: %s\n", msg)
			}
		},
	}
	if a.elf {
		opts.Format = collector.ELF
	}
	if a.messageLevel&mlProgress != 0 && isTerminal(e.stderr) {
		opts.Progress = e.stderr
	}
	levels := a.levels
	if len(levels) == 0 {
		levels = []mm.DumpLevel{0}
	}

	var dst io.Writer
	var file *os.File
	name := "standard output"
	switch {
	case a.dryRun:
	case a.flat:
		dst = e.stdout
	default:
		name = a.operands[1]
		file, err = createDumpFile(name, a.force)
		if err != nil {
			errorf("%v", err)
			return 1
		}
		defer file.Close()
		dst = file
		opts.SizeLimit = a.sizeLimit
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
	if st != nil && (a.showStats || a.messageLevel&mlReport != 0) {
		if a.json {
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
		if errors.Is(err, collector.ErrIncomplete) && a.messageLevel&mlCommon != 0 {
			fmt.Fprintf(msgOut, "This is an incomplete dumpfile, but might be analyzable: %s\n", name)
		}
		return 1
	}
	if a.messageLevel&mlCommon != 0 {
		if a.dryRun {
			fmt.Fprintf(msgOut, "\nDry run: nothing written (the dumpfile would be %d bytes).\n", st.BytesWritten)
		} else {
			fmt.Fprintf(msgOut, "\nThe dumpfile is saved to %s.\n", name)
		}
		fmt.Fprintf(msgOut, "\n%s Completed.\n", "gokdump dump")
	}
	return 0
}
