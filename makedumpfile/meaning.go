package makedumpfile

import (
	"fmt"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/mm"
)

// Mode is what a command line asks to write.
type Mode int

const (
	// Dump saves VMCORE to DUMPFILE (kdump-compressed, or an ELF core with -E); with
	// --dry-run it writes nothing.
	Dump Mode = iota
	// Flattened (-F) writes VMCORE's dump as a flattened stream to standard output.
	Flattened
	// Rearrange (-R) rebuilds DUMPFILE from a flattened stream on standard input.
	Rearrange
	// Dmesg (--dump-dmesg) writes VMCORE's kernel log to LOGFILE.
	Dmesg
	// Split (--split) writes VMCORE's dump as several parts, one per DUMPFILE.
	Split
	// Reassemble (--reassemble) merges the parts of a split dump into the last operand.
	Reassemble
	// MemUsage (--mem-usage) prints the number of pages of each type in VMCORE.
	MemUsage
)

func (m Mode) String() string {
	switch m {
	case Dump:
		return "dump"
	case Flattened:
		return "flattened"
	case Rearrange:
		return "rearrange"
	case Dmesg:
		return "dump-dmesg"
	case Split:
		return "split"
	case Reassemble:
		return "reassemble"
	case MemUsage:
		return "mem-usage"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Mode says what the command writes. Check refuses the combinations of -F, -R and
// --dump-dmesg; on a command it passed, exactly one mode applies.
func (a *Command) Mode() Mode {
	switch {
	case a.Reassemble:
		return Reassemble
	case a.Split:
		return Split
	case a.MemUsage:
		return MemUsage
	case a.Dmesg:
		return Dmesg
	case a.Rearrange:
		return Rearrange
	case a.Flat:
		return Flattened
	}
	return Dump
}

// Prints reports whether the message level includes the Message* bit ml.
func (a *Command) Prints(ml int) bool { return a.MessageLevel&ml != 0 }

// Options are the collector's options for a command that writes a dump (mode Dump or
// Flattened). DumpLevel is left 0: the caller tries each of DumpLevels in turn; Warn
// and Progress are the caller's. The size limit (-L) applies only to a dump file that
// is written (not to -F's stream or a dry run), as makedumpfile does.
func (a *Command) Options() collector.Options {
	opts := collector.Options{
		Codec:      a.Codec,
		Flattened:  a.Flat,
		Threads:    a.Threads,
		WindowPFNs: a.WindowPFNs,
		DryRun:     a.DryRun,
	}
	if a.ELF {
		opts.Format = collector.ELF
	}
	if a.Mode() == Dump && !a.DryRun {
		opts.SizeLimit = a.SizeLimit
	}
	return opts
}

// DumpLevels are the -d levels to try, in order: a dump that does not fit is retried
// with the next one, as makedumpfile does. Without -d it is level 0.
func (a *Command) DumpLevels() []mm.DumpLevel {
	if len(a.Levels) == 0 {
		return []mm.DumpLevel{0}
	}
	return a.Levels
}
