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
// kernel log in makedumpfile's layout, in a file made as Create makes one. A damaged
// ring gives the records read before the damage, and the error.
func (a *Command) RunDmesg() error {
	src, err := vmcore.Open(a.Operands[0])
	if err != nil {
		return err
	}
	defer src.Close()
	log, readErr := printk.ReadFile(src)
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
	src, err := vmcore.Open(a.Operands[0])
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
