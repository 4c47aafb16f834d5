package makedumpfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// The Run methods do what a checked command's Mode says. They print nothing: the
// messages (and the --message-level that chooses them) are the caller's.

// RunDmesg is --dump-dmesg VMCORE LOGFILE (what kdump-tools saves the log with): the
// kernel log (with --partial-dmesg, since the last "dmesg -c": printk.ReadFileSinceClear)
// in makedumpfile's layout, in a file made as Create makes one. A damaged
// ring gives the records read before the damage, and the error.
func (a *Command) RunDmesg() error {
	src, err := a.Open()
	if err != nil {
		return err
	}
	defer src.Close()
	read := printk.ReadFile
	if a.PartialDmesg {
		read = printk.ReadFileSinceClear
	}
	log, readErr := read(src)
	if log == nil {
		return readErr
	}
	out, err := Create(a.Operands[1], a.Force)
	if err != nil {
		return err
	}
	if err := finish(out, log.WriteMakedumpfileText(out)); err != nil {
		return fmt.Errorf("writing %s: %v", a.Operands[1], err)
	}
	return readErr
}

// RunRearrange is -R DUMPFILE: DUMPFILE rebuilt from the flattened stream r.
func (a *Command) RunRearrange(r io.Reader) error {
	out, err := Create(a.Operands[0], a.Force)
	if err != nil {
		return err
	}
	if err := finish(out, dumpfile.Rearrange(out, r)); err != nil {
		return fmt.Errorf("rebuilding %s from the flattened stream: %v", a.Operands[0], err)
	}
	return nil
}

// finish syncs and closes out after a write that returned err, and returns the first
// error of the three.
func finish(out *os.File, err error) error {
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// RunDump saves VMCORE (mode Dump or Flattened) with the collector options opts (from
// Options, with the caller's Warn and Progress): to DUMPFILE, made as Create makes one,
// to stdout with -F, or nowhere with --dry-run. A dump that does not fit is retried with
// the next dump level, as makedumpfile does (told through opts.Warn). It returns the
// statistics of the last try (nil when the collector did not run) and where the dump
// went (a file name, or "standard output"). A failed dump leaves no file behind unless
// it is an incomplete one (collector.ErrIncomplete), which may still be analysed.
func (a *Command) RunDump(ctx context.Context, stdout io.Writer, opts collector.Options) (st *collector.Stats, name string, err error) {
	name = "standard output"
	src, err := a.Open()
	if err != nil {
		return nil, name, err
	}
	defer src.Close()
	levels := a.DumpLevels()

	var dst io.Writer
	var file *os.File
	switch {
	case a.DryRun:
	case a.Flat:
		dst = stdout
	default:
		name = a.Operands[1]
		file, err = Create(name, a.Force)
		if err != nil {
			return nil, name, err
		}
		defer file.Close()
		dst = file
	}

	for i, level := range levels {
		opts.DumpLevel = level
		st, err = collector.Collect(ctx, src, dst, opts)
		if err == nil || i == len(levels)-1 || file == nil || !collector.NoSpace(err) {
			break
		}
		// makedumpfile's retry: the dump did not fit; try the next, usually higher, level.
		if opts.Warn != nil {
			opts.Warn(fmt.Sprintf("dump level %d does not fit (%v); retrying with level %d", level, err, levels[i+1]))
		}
		if terr := file.Truncate(0); terr != nil {
			break
		}
	}
	if file != nil {
		if serr := file.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("syncing %s: %w", name, serr)
		}
	}
	if err != nil && file != nil && !errors.Is(err, collector.ErrIncomplete) {
		// Nothing useful was written: leave no empty file behind.
		file.Close()
		os.Remove(name)
	}
	return st, name, err
}

// Open opens VMCORE (the first operand) as the command reads it: with -i, the
// VMCOREINFO the file holds replaces the dump's own note (makedumpfile -i, for a dump
// whose note is missing or damaged).
func (a *Command) Open() (*vmcore.File, error) {
	src, err := vmcore.Open(a.Operands[0])
	if err != nil || a.VMCOREINFO == "" {
		return src, err
	}
	text, err := os.ReadFile(a.VMCOREINFO)
	if err == nil && len(text) > 1<<20 {
		err = fmt.Errorf("%d bytes: not a VMCOREINFO file (at most 1 MiB)", len(text))
	}
	if err == nil {
		_, err = vmcore.ParseVMCOREINFO(text)
	}
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("-i %s: %w", a.VMCOREINFO, err)
	}
	notes := src.Notes[:0:0]
	for _, n := range src.Notes {
		if n.Name != vmcore.NoteNameVMCOREINFO || n.Type != vmcore.NoteTypeVMCOREINFO {
			notes = append(notes, n)
		}
	}
	src.Notes = append(notes, vmcore.Note{Name: vmcore.NoteNameVMCOREINFO, Type: vmcore.NoteTypeVMCOREINFO, Desc: text})
	return src, nil
}

// RunSplit is --split VMCORE DUMPFILE1 DUMPFILE2 [...]: the dump written as parts in
// parallel, each made as Create makes a file (collector.CollectSplit); with --dry-run
// no file is made. Like RunDump it
// tries the dump levels in turn when the parts do not fit, and leaves no part behind
// when nothing useful was written.
func (a *Command) RunSplit(ctx context.Context, opts collector.Options) (st *collector.Stats, parts []collector.SplitPart, err error) {
	src, err := a.Open()
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	names := a.Operands[1:]
	files := make([]*os.File, 0, len(names))
	defer func() {
		for _, f := range files {
			f.Close()
		}
		if err != nil && !errors.Is(err, collector.ErrIncomplete) {
			for _, n := range names[:len(files)] {
				os.Remove(n)
			}
		}
	}()
	dsts := make([]io.Writer, len(names))
	for i, n := range names {
		if a.DryRun {
			break // nothing is written: the collector ignores the destinations
		}
		f, cerr := Create(n, a.Force)
		if cerr != nil {
			return nil, nil, cerr
		}
		files = append(files, f)
		dsts[i] = f
	}
	var blockPages uint64
	if a.SplitblockKB > 0 {
		ps := uint64(os.Getpagesize())
		if a.SplitblockKB*1024%ps != 0 {
			return nil, nil, fmt.Errorf("--splitblock-size %d KiB is not a multiple of the page size (%d bytes)", a.SplitblockKB, ps)
		}
		blockPages = a.SplitblockKB * 1024 / ps
	}
	levels := a.DumpLevels()
	for i, level := range levels {
		opts.DumpLevel = level
		st, parts, err = collector.CollectSplit(ctx, src, dsts, blockPages, opts)
		if err == nil || i == len(levels)-1 || !collector.NoSpace(err) {
			break
		}
		if opts.Warn != nil {
			opts.Warn(fmt.Sprintf("dump level %d does not fit (%v); retrying with level %d", level, err, levels[i+1]))
		}
		for _, f := range files {
			if terr := f.Truncate(0); terr != nil {
				return st, parts, err
			}
		}
	}
	for i, f := range files {
		if serr := f.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("syncing %s: %w", names[i], serr)
		}
	}
	return st, parts, err
}

// RunReassemble is --reassemble DUMPFILE1 DUMPFILE2 [...] DUMPFILE: the parts of a
// split dump merged into DUMPFILE (dumpfile.Reassemble), made as Create makes one and
// removed again when the merge fails. It returns the number of pages copied.
func (a *Command) RunReassemble() (uint64, error) {
	n := len(a.Operands)
	parts := make([]dumpfile.SplitPart, 0, n-1)
	for _, name := range a.Operands[:n-1] {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		parts = append(parts, dumpfile.SplitPart{Name: name, R: f, Size: fi.Size()})
	}
	name := a.Operands[n-1]
	out, err := Create(name, a.Force)
	if err != nil {
		return 0, err
	}
	pages, err := dumpfile.Reassemble(out, parts)
	if err = finish(out, err); err != nil {
		os.Remove(name)
		return pages, fmt.Errorf("reassembling %s: %w", name, err)
	}
	return pages, nil
}

// RunMemUsage is --mem-usage VMCORE: the pages of each type, as makedumpfile counts
// them for its table, from a dry run at dump level 31. makedumpfile reads /proc/kcore
// of the running kernel; gokdump reads a vmcore (an ELF or kdump-compressed dump), and
// refuses /proc/kcore, whose PT_LOADs are kernel virtual addresses.
func (a *Command) RunMemUsage(ctx context.Context, opts collector.Options) (*collector.Stats, error) {
	if a.Operands[0] == "/proc/kcore" {
		return nil, errors.New("--mem-usage of /proc/kcore is not supported: give a vmcore (an ELF or kdump-compressed dump)")
	}
	src, err := a.Open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	opts.DumpLevel, opts.DryRun, opts.Format, opts.Flattened = 31, true, collector.KdumpCompressed, false
	return collector.Collect(ctx, src, nil, opts)
}

// WriteMemUsage writes makedumpfile's --mem-usage table of st (from RunMemUsage).
func WriteMemUsage(w io.Writer, st *collector.Stats) error {
	cache := st.ExcludedCache
	excluded := st.ExcludedZero + cache + st.ExcludedCachePrivate + st.ExcludedUser + st.ExcludedFree + st.ExcludedHWPoison + st.ExcludedOffline
	_, err := fmt.Fprintf(w, "\nTYPE\t\tPAGES\t\t\tEXCLUDABLE\tDESCRIPTION\n"+
		"----------------------------------------------------------------------\n"+
		"ZERO\t\t%-16d\tyes\t\tPages filled with zero\n"+
		"NON_PRI_CACHE\t%-16d\tyes\t\tCache pages without private flag\n"+
		"PRI_CACHE\t%-16d\tyes\t\tCache pages with private flag\n"+
		"USER\t\t%-16d\tyes\t\tUser process pages\n"+
		"FREE\t\t%-16d\tyes\t\tFree pages\n"+
		"KERN_DATA\t%-16d\tno\t\tDumpable kernel data \n"+
		"\npage size:\t\t%-16d\nTotal pages on system:\t%-16d\nTotal size on system:\t%-16d Byte\n",
		st.ExcludedZero, cache, st.ExcludedCachePrivate, st.ExcludedUser, st.ExcludedFree,
		st.OriginalPages-excluded, st.PageSize, st.OriginalPages, st.PageSize*st.OriginalPages)
	return err
}
