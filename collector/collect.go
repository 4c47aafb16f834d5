package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// ErrIncomplete is wrapped by the error of a collection that wrote a dump but could not
// finish it (a write failed, a page could not be read, ctx was cancelled): the output is
// readable and marked incomplete.
var ErrIncomplete = errors.New("collector: the dump is incomplete")

// collector is one Collect call.
type collector struct {
	src     *source
	opts    Options
	stats   Stats
	windows *windowPool
	prog    *progress
	// part, when set, makes this collection one part of a split dump (CollectSplit).
	part *dumpfile.KdumpSplit
	// kept is pass 1's 2nd bitmap, as far as pass 1 kept it (keptBitmap): pass 2
	// takes those windows' verdicts from it instead of classifying them again.
	// Read-only once pass 1 is done (the parts of a split dump share it).
	kept *keptBitmap
	// reclassified counts the pfns pass 2 classified again: those of the windows
	// kept has no room for.
	reclassified atomic.Uint64
}

// Collect writes a dump of src to dst as opts say and returns what it did. The Stats are
// returned with an error too, as far as the collection got.
//
// dst must be an io.WriterAt (a new, empty file) for a kdump-compressed dump that is
// not flattened; otherwise an io.Writer is enough (ELF and flattened output stream).
// When dst is an io.WriterAt, an ELF dump that cannot be finished is marked incomplete
// in its header too.
func Collect(ctx context.Context, src *vmcore.File, dst io.Writer, opts Options) (*Stats, error) {
	begin := time.Now()
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	c := &collector{opts: opts}
	st := &c.stats
	st.Format, st.Codec, st.DumpLevel = opts.Format.String(), opts.Codec.String(), int(opts.DumpLevel)
	if opts.Format == ELF {
		st.Codec = "none"
	}
	st.DryRun = opts.DryRun
	s, err := openSource(src, opts.DumpLevel, c.warn)
	if err != nil {
		return st, err
	}
	c.src = s
	st.PageSize = s.pageSize
	st.TotalPages = s.maxPFN
	st.OriginalPages = s.originalPages()
	st.HolePages = s.maxPFN - st.OriginalPages
	st.Classified = s.layout != nil

	out, err := newOutput(dst, opts)
	if err != nil {
		return st, err
	}
	c.windows = newWindowPool(opts.Threads+2, opts.WindowPFNs)
	c.prog = newProgress(opts.Progress)

	switch opts.Format {
	case ELF:
		err = c.collectELF(ctx, out)
	default:
		err = c.collectKdump(ctx, out)
	}
	c.prog.finish(err == nil)
	st.BytesWritten = out.size()
	st.ReclassifiedPages = c.reclassified.Load()
	st.Duration = time.Since(begin)
	st.PeakRSS = peakRSS()
	if c.stats.UnreadableStructPages > 0 {
		c.warn(fmt.Sprintf("%d struct pages could not be read; their pages were kept", c.stats.UnreadableStructPages))
	}
	return st, err
}

// pass1 classifies every window, adds up the statistics and hands each window to
// also (when not nil) before giving it back. It returns the number of dumped pages.
// With keep, it keeps the 2nd bitmap for pass 2 in c.kept, as far as keepBitmapMax
// allows.
func (c *collector) pass1(ctx context.Context, zeroScan, keep bool, also func(*window)) (uint64, error) {
	var dumped uint64
	var firstReadErr error
	var kept *keptBitmap
	if keep {
		kept = newKeptBitmap(c.opts.WindowPFNs, keepBitmapMax)
	}
	err := c.eachWindow(ctx, zeroScan, func(w *window) error {
		dumped += w.count
		if kept != nil {
			kept.add(w)
		}
		st := &c.stats
		st.ExcludedCache += w.excluded[mm.CacheNotPrivate]
		st.ExcludedCachePrivate += w.excluded[mm.CachePrivate]
		st.ExcludedUser += w.excluded[mm.User]
		st.ExcludedFree += w.excluded[mm.Free]
		st.ExcludedHWPoison += w.excluded[mm.HWPoison]
		st.ExcludedOffline += w.excluded[mm.Offline]
		st.ExcludedZero += w.zero
		st.ExcludedNoData += w.noData
		st.UnreadableStructPages += w.unreadable
		if firstReadErr == nil {
			firstReadErr = w.readErr
		}
		if also != nil {
			also(w)
		}
		c.windows.put(w)
		return nil
	})
	if firstReadErr != nil {
		c.warn(fmt.Sprintf("first unreadable struct page: %v", firstReadErr))
	}
	c.stats.sumExcluded()
	if kept != nil {
		kept.done()
	}
	if err == nil {
		c.kept = kept
	}
	return dumped, err
}

// notes re-encodes the vmcore's notes as one PT_NOTE's data (what both output formats
// carry) and says where the VMCOREINFO text is in it.
func (c *collector) notes() (data []byte, infoOff, infoSize uint64, cpus int) {
	for _, n := range c.src.f.Notes {
		start := len(data)
		data = dumpfile.AppendNote(data, 4, n.Name, n.Type, n.Desc)
		if n.Name == vmcore.NoteNameVMCOREINFO && n.Type == vmcore.NoteTypeVMCOREINFO && infoSize == 0 {
			// header (12 bytes) and the NUL-terminated name padded to 4
			infoOff = uint64(start) + 12 + uint64((len(n.Name)+1+3)&^3)
			infoSize = uint64(len(n.Desc))
		}
		if n.Name == vmcore.NoteNameCore && n.Type == vmcore.NoteTypePRStatus {
			cpus++
		}
	}
	return data, infoOff, infoSize, cpus
}

// incomplete wraps the error that cut a dump short.
func incomplete(err error) error {
	return fmt.Errorf("%w: %w", ErrIncomplete, err)
}
