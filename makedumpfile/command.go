package makedumpfile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/mm"
)

// Message levels (makedumpfile's ML_PRINT_*): the bits of --message-level.
const (
	MessageProgress = 1
	MessageCommon   = 2
	MessageError    = 4
	MessageDebug    = 8
	MessageReport   = 16
)

// Command is one makedumpfile command line, parsed. Its fields are the options as
// given; Options, DumpLevels and Mode say what they mean for the collector.
type Command struct {
	Levels       []mm.DumpLevel // -d, in the order to try them
	Codec        compress.Codec // -c, -l, -p, -z
	ELF          bool           // -E
	Flat         bool           // -F
	Rearrange    bool           // -R
	Dmesg        bool           // --dump-dmesg: write the kernel log, not a dump
	Force        bool           // -f
	SizeLimit    int64          // -L, in bytes
	Threads      int            // --num-threads
	MessageLevel int            // --message-level (and -D): a sum of the Message* bits
	ShowStats    bool           // --show-stats
	JSON         bool           // --json
	DryRun       bool           // --dry-run
	CheckParams  bool           // --check-params
	Help         bool           // -h, --help
	Version      bool           // -v, --version
	WindowPFNs   uint64         // --cyclic-buffer, as pfns per window
	Split        bool           // --split: VMCORE DUMPFILE1 DUMPFILE2 [...]
	Reassemble   bool           // --reassemble: DUMPFILE1 DUMPFILE2 [...] DUMPFILE
	SplitblockKB uint64         // --splitblock-size, in KiB (0: collector.DefaultSplitblockBytes)
	MemUsage     bool           // --mem-usage: the table of page types, no dump
	VMCOREINFO   string         // -i: read VMCOREINFO from this file, not from VMCORE's note
	PartialDmesg bool           // --partial-dmesg: with --dump-dmesg, the log since the last clear
	Operands     []string
}

// option is one makedumpfile option.
type option struct {
	short byte   // 0: long only
	long  string // "": short only
	arg   bool
	set   func(a *Command, v string) error
	// unsupported, when set, is why the option is refused.
	unsupported string
}

var options = []option{
	{short: 'd', arg: true, set: func(a *Command, v string) error { return a.parseLevels(v) }},
	{short: 'c', set: func(a *Command, _ string) error { a.Codec = compress.Zlib; return nil }},
	{short: 'l', set: func(a *Command, _ string) error { a.Codec = compress.LZO; return nil }},
	{short: 'p', set: func(a *Command, _ string) error { a.Codec = compress.Snappy; return nil }},
	{short: 'z', set: func(a *Command, _ string) error { a.Codec = compress.Zstd; return nil }},
	{short: 'E', set: func(a *Command, _ string) error { a.ELF = true; return nil }},
	{short: 'F', set: func(a *Command, _ string) error { a.Flat = true; return nil }},
	{short: 'R', set: func(a *Command, _ string) error { a.Rearrange = true; return nil }},
	{short: 'f', set: func(a *Command, _ string) error { a.Force = true; return nil }},
	{short: 'L', arg: true, set: func(a *Command, v string) error {
		n, err := parseSize(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("size limit %q is invalid: want a positive number of bytes, optionally with K, M or G", v)
		}
		a.SizeLimit = n
		return nil
	}},
	{short: 'h', long: "help", set: func(a *Command, _ string) error { a.Help = true; return nil }},
	{short: 'v', long: "version", set: func(a *Command, _ string) error { a.Version = true; return nil }},
	{short: 'D', set: func(a *Command, _ string) error { a.MessageLevel |= MessageDebug; return nil }},
	{short: 'b', arg: true, set: func(*Command, string) error { return nil }},
	{long: "num-threads", arg: true, set: func(a *Command, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("--num-threads %q: want a number of threads", v)
		}
		a.Threads = n
		return nil
	}},
	{long: "message-level", arg: true, set: func(a *Command, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 31 {
			return fmt.Errorf("--message-level %q: want 0..31", v)
		}
		a.MessageLevel = n | a.MessageLevel&MessageDebug
		return nil
	}},
	{long: "show-stats", set: func(a *Command, _ string) error { a.ShowStats = true; return nil }},
	{long: "json", set: func(a *Command, _ string) error { a.JSON = true; return nil }},
	{long: "dry-run", set: func(a *Command, _ string) error { a.DryRun = true; return nil }},
	{long: "check-params", set: func(a *Command, _ string) error { a.CheckParams = true; return nil }},
	{long: "cyclic-buffer", arg: true, set: func(a *Command, v string) error {
		kb, err := strconv.ParseUint(v, 10, 32)
		if err != nil || kb == 0 {
			return fmt.Errorf("--cyclic-buffer %q: want a positive number of KiB", v)
		}
		a.WindowPFNs = kb * 1024 * 8
		return nil
	}},
	{long: "non-mmap", set: func(*Command, string) error { return nil }},
	{long: "work-dir", arg: true, set: func(*Command, string) error { return nil }},
	{long: "splitblock-size", arg: true, set: func(a *Command, v string) error {
		kb, err := strconv.ParseUint(v, 10, 40)
		if err != nil || kb == 0 {
			return fmt.Errorf("--splitblock-size %q: want a positive number of KiB", v)
		}
		a.SplitblockKB = kb
		return nil
	}},

	{long: "dump-dmesg", set: func(a *Command, _ string) error { a.Dmesg = true; return nil }},
	{long: "partial-dmesg", set: func(a *Command, _ string) error { a.PartialDmesg = true; return nil }},
	{long: "split", set: func(a *Command, _ string) error { a.Split = true; return nil }},
	{long: "reassemble", set: func(a *Command, _ string) error { a.Reassemble = true; return nil }},
	{long: "mem-usage", set: func(a *Command, _ string) error { a.MemUsage = true; return nil }},
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
	{short: 'i', arg: true, set: func(a *Command, v string) error { a.VMCOREINFO = v; return nil }},
}

func (a *Command) parseLevels(v string) error {
	a.Levels = a.Levels[:0]
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > int(mm.MaxDumpLevel) {
			return fmt.Errorf("dump level %q is invalid: want 0..31 (or several, separated by commas)", v)
		}
		a.Levels = append(a.Levels, mm.DumpLevel(n))
	}
	if len(a.Levels) > 8 {
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

// Parse parses like getopt_long with makedumpfile's option string: short options
// may be clustered and take their argument attached or as the next word ("-ld31",
// "-l -d 31"), long options take "=VALUE" or the next word and may be abbreviated to a
// unique prefix, options and operands may come in any order, and "--" ends options.
func Parse(args []string) (*Command, error) {
	a := &Command{MessageLevel: 7}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			a.Operands = append(a.Operands, args[i+1:]...)
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
			a.Operands = append(a.Operands, arg)
		}
	}
	return a, nil
}

func findShort(c byte) *option {
	for i := range options {
		if options[i].short == c {
			return &options[i]
		}
	}
	return nil
}

func findLong(name string) (*option, error) {
	var match *option
	for i := range options {
		o := &options[i]
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

// Check applies makedumpfile's rules on option combinations and operand counts. With
// --json it also turns on --show-stats, as the report is what --json formats.
func (a *Command) Check() error {
	n := len(a.Operands)
	if a.PartialDmesg && !a.Dmesg {
		return errors.New("--partial-dmesg goes with --dump-dmesg")
	}
	switch {
	case a.Reassemble:
		if a.Split || a.Flat || a.ELF || a.Rearrange || a.Dmesg || a.MemUsage || a.Codec != compress.None || len(a.Levels) > 0 || a.VMCOREINFO != "" {
			return errors.New("--reassemble merges the parts as they are and takes no dump option (-d, -c, -l, -p, -z, -E, -F, -i, --split)")
		}
		if a.DryRun {
			return errors.New("--dry-run cannot be used with --reassemble")
		}
		if n < 3 {
			return fmt.Errorf("--reassemble wants DUMPFILE1 DUMPFILE2 [...] DUMPFILE (got %d operands)", n)
		}
	case a.Split:
		if a.Flat || a.ELF || a.Rearrange || a.Dmesg || a.MemUsage {
			return errors.New("--split writes kdump-compressed files and cannot be used with -F, -E, -R, --dump-dmesg or --mem-usage")
		}
		if a.Threads > 0 {
			return errors.New("--num-threads cannot be used with --split (the parts are written in parallel)")
		}
		if n < 3 && !(a.CheckParams && n == 0) {
			return fmt.Errorf("--split wants VMCORE DUMPFILE1 DUMPFILE2 [...] (got %d operands)", n)
		}
	case a.MemUsage:
		if a.Flat || a.ELF || a.Rearrange || a.Dmesg || a.DryRun {
			return errors.New("--mem-usage prints a table and takes no output option")
		}
		if n != 1 {
			return fmt.Errorf("--mem-usage wants one operand, the VMCORE (got %d)", n)
		}
	case a.Dmesg:
		if a.Rearrange || a.Flat || a.ELF || a.DryRun {
			return errors.New("--dump-dmesg writes the kernel log and takes no dump output option")
		}
		if n != 2 {
			return fmt.Errorf("--dump-dmesg wants two operands, VMCORE and LOGFILE (got %d)", n)
		}
	case a.Rearrange:
		if a.Flat || a.ELF || a.DryRun {
			return errors.New("-R rebuilds a dump from a flattened stream and takes no other output option")
		}
		if n != 1 {
			return fmt.Errorf("-R wants one operand, the DUMPFILE to write (got %d)", n)
		}
	case a.Flat:
		if n != 1 {
			return fmt.Errorf("-F writes to standard output and wants one operand, the VMCORE (got %d)", n)
		}
	case a.DryRun:
		if n < 1 || n > 2 {
			return fmt.Errorf("want VMCORE [DUMPFILE] with --dry-run (got %d operands)", n)
		}
	case a.CheckParams && n == 0:
	default:
		if n != 2 {
			return fmt.Errorf("want two operands, VMCORE and DUMPFILE (got %d)", n)
		}
	}
	if a.ELF && a.Codec != compress.None {
		return fmt.Errorf("-E writes an ELF core, which cannot hold %v-compressed pages", a.Codec)
	}
	if a.JSON && !a.ShowStats && a.MessageLevel&MessageReport == 0 {
		a.ShowStats = true
	}
	return nil
}
