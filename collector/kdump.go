package collector

import (
	"context"
	"fmt"
	"sync"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/internal/bitmap"
	"github.com/gokdump/gokdump/mm"
)

// chunk is a unit of pass 2's work: up to ChunkPages dumped pages of one window, read
// and compressed by a worker, written by the writer.
type chunk struct {
	runs   []pfnRange // the pages, ascending
	npages uint64
	in     []byte    // the pages as read
	out    []byte    // their stored forms, one after the other
	pages  []pageOut // one per page
	ndone  int       // pages prepared before err
	err    error
	done   chan struct{}
}

// pageOut is one prepared page.
type pageOut struct {
	pfn       uint64
	off, size int // in chunk.out, or in chunk.in when raw
	flags     uint32
	zero      bool // write as the shared zero page
	raw       bool // stored as read: the bytes are in chunk.in (no compression)
}

// item is what the writer gets, in order: a chunk of pages or, after the window's last
// chunk, the window whose bitmaps to write.
type item struct {
	ch  *chunk
	win *window
}

func (c *collector) kdumpHeader() (*dumpfile.KdumpHeader, error) {
	s := c.src
	notes, infoOff, infoSize, cpus := c.notes()
	h := &dumpfile.KdumpHeader{
		PageSize:         int(s.pageSize),
		DumpLevel:        int(c.opts.DumpLevel),
		Notes:            notes,
		VMCOREINFOOffset: infoOff,
		VMCOREINFOSize:   infoSize,
		MaxMapnr:         s.maxPFN,
		NrCPUs:           cpus,
		Codec:            c.opts.Codec,
		Split:            c.part,
	}
	if t, ok := s.info.CrashTime(); ok {
		h.CrashTime = t
	}
	if s.as != nil {
		h.PhysBase = s.as.Layout.PhysBase
		uts, err := s.as.UTSName()
		if err == nil {
			h.UTSName = kdump.UTSName(uts)
		} else {
			c.warn(fmt.Sprintf("utsname: %v; the header names only the release", err))
		}
	} else if pb, ok := s.info.PhysBase(); ok {
		h.PhysBase = pb
	}
	if h.UTSName.Sysname == "" {
		rel, _ := s.info.OSRelease()
		h.UTSName = kdump.UTSName{Sysname: "Linux", Release: rel, Machine: "x86_64"}
	}
	return h, nil
}

// warn reports msg through Options.Warn and records it in Stats.Warnings: every
// warning goes through here, so the two never disagree.
func (c *collector) warn(msg string) {
	c.stats.Warnings = append(c.stats.Warnings, msg)
	if c.opts.Warn != nil {
		c.opts.Warn(msg)
	}
}

func (c *collector) collectKdump(ctx context.Context, out *output) error {
	dumped, err := c.pass1(ctx, false, true, nil)
	if err != nil {
		return err // nothing written yet
	}
	return c.writeKdump(ctx, out, dumped)
}

// writeKdump is pass 2 of a kdump-compressed dump of dumped pages (this part's, for a
// part of a split dump).
func (c *collector) writeKdump(ctx context.Context, out *output, dumped uint64) error {
	hdr, err := c.kdumpHeader()
	if err != nil {
		return err
	}
	var kw *dumpfile.KdumpWriter
	if c.opts.Flattened {
		kw = dumpfile.NewFlattenedKdumpWriter(out)
	} else {
		kw = dumpfile.NewKdumpWriter(out)
	}
	if err := kw.Begin(hdr, dumped); err != nil {
		if kw.Layout().BlockSize != 0 {
			kw.MarkIncomplete()
		}
		c.stats.Incomplete = true
		return incomplete(err)
	}
	c.stats.DumpedPages = dumped
	c.prog.setTotal(dumped)
	c.stats.ExcludedZero = 0 // counted again while writing
	err = c.pass2Kdump(ctx, kw)
	if err == nil {
		err = kw.Finish()
	}
	c.stats.sumExcluded()
	if err != nil {
		if merr := kw.MarkIncomplete(); merr != nil {
			err = fmt.Errorf("%w (and marking it incomplete failed: %v)", err, merr)
		}
		c.stats.Incomplete = true
		return incomplete(err)
	}
	return nil
}

// pass2Kdump classifies the windows again (or takes pass 1's kept verdicts) and writes
// their bitmaps and pages.
func (c *collector) pass2Kdump(ctx context.Context, kw *dumpfile.KdumpWriter) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ps := c.src.pageSize
	nchunks := 2*c.opts.Threads + 2
	maxComp := 0
	pcs := make([]*compress.PageCompressor, c.opts.Threads)
	for i := range pcs {
		pc, err := compress.NewPageCompressor(c.opts.Codec)
		if err != nil {
			return err
		}
		pcs[i] = pc
		maxComp = pc.MaxCompressedLen(int(ps))
	}
	free := make(chan *chunk, nchunks)
	for range nchunks {
		free <- &chunk{
			runs:  make([]pfnRange, 0, c.opts.ChunkPages),
			in:    make([]byte, uint64(c.opts.ChunkPages)*ps),
			out:   make([]byte, 0, c.opts.ChunkPages*int(ps)+maxComp),
			pages: make([]pageOut, 0, c.opts.ChunkPages),
		}
	}
	work := make(chan *chunk)
	queue := make(chan item, nchunks+cap(c.windows.free)+1)

	var wg sync.WaitGroup
	for i := range c.opts.Threads {
		wg.Add(1)
		go func(pc *compress.PageCompressor) {
			defer wg.Done()
			for ch := range work {
				c.prepare(pc, ch)
				close(ch.done)
			}
		}(pcs[i])
	}

	writerDone := make(chan error, 1)
	go func() {
		var err error
		for it := range queue {
			if it.win != nil {
				if err == nil {
					w := it.win
					nb := w.bytes()
					err = kw.WriteBitmaps(w.start, w.present[:nb], w.dumped[:nb])
				}
				c.windows.unref(it.win)
			} else {
				<-it.ch.done
				if err == nil {
					err = c.writeChunk(kw, it.ch)
				}
				free <- it.ch
			}
			if err != nil {
				cancel(err)
			}
		}
		writerDone <- err
	}()

	limit := uint64(c.opts.ChunkPages)
	var cur *chunk
	dispatch := func() error {
		ch := cur
		cur = nil
		select {
		case work <- ch:
		case <-ctx.Done():
			free <- ch
			return context.Cause(ctx)
		}
		queue <- item{ch: ch} // room for every chunk and window: never blocks
		return nil
	}
	perr := c.eachWindow(ctx, false, func(w *window) error {
		// The window's bitmaps go first, so that a dump cut short (a full disk) has
		// them for the pages it holds; the window goes back to the pool when both the
		// writer and this loop are done with it.
		w.refs.Store(2)
		queue <- item{win: w} // room for every chunk and window: never blocks
		defer c.windows.unref(w)
		for pos := uint64(0); pos < w.n; {
			s, k := bitmap.NextRun(w.dumped, pos, w.n, true)
			if k == 0 {
				break
			}
			pos = s + k
			if p := c.part; p != nil {
				// A part of a split dump holds the whole 2nd bitmap but only its own pages.
				lo, hi := max(w.start+s, p.StartPFN), min(w.start+s+k, p.EndPFN)
				if lo >= hi {
					continue
				}
				s, k = lo-w.start, hi-lo
			}
			for k > 0 {
				if cur == nil {
					select {
					case cur = <-free:
					case <-ctx.Done():
						return context.Cause(ctx)
					}
					cur.runs, cur.pages, cur.out = cur.runs[:0], cur.pages[:0], cur.out[:0]
					cur.npages, cur.ndone, cur.err = 0, 0, nil
					cur.done = make(chan struct{})
				}
				m := min(k, limit-cur.npages)
				cur.runs = append(cur.runs, pfnRange{w.start + s, w.start + s + m})
				cur.npages += m
				s += m
				k -= m
				if cur.npages == limit {
					if err := dispatch(); err != nil {
						return err
					}
				}
			}
		}
		// A chunk does not span windows.
		if cur != nil {
			return dispatch()
		}
		return nil
	})
	close(work)
	close(queue)
	wg.Wait()
	werr := <-writerDone
	switch {
	case werr != nil:
		return werr
	case perr != nil:
		return perr
	}
	return nil
}

// prepare reads a chunk's pages and turns each into its stored form.
func (c *collector) prepare(pc *compress.PageCompressor, ch *chunk) {
	ps := c.src.pageSize
	zeroOut := c.opts.DumpLevel&mm.ExcludeZero != 0
	// Without compression a page is written from where it was read: no copy.
	raw := pc.Codec() == compress.None
	var off uint64
	for _, r := range ch.runs {
		n := r.end - r.start
		buf := ch.in[off*ps : (off+n)*ps]
		if err := c.src.readPages(buf, r.start, n); err != nil {
			ch.err = err
			return
		}
		for i := uint64(0); i < n; i++ {
			page := buf[i*ps : (i+1)*ps]
			po := pageOut{pfn: r.start + i}
			switch {
			case zeroOut && isZero(page):
				po.zero = true
			case raw:
				po.raw, po.off, po.size = true, int((off+i)*ps), int(ps)
			default:
				start := len(ch.out)
				out, flags, err := pc.CompressPage(ch.out, page)
				if err != nil {
					ch.err = fmt.Errorf("collector: compressing pfn 0x%x: %w", po.pfn, err)
					return
				}
				ch.out = out
				po.off, po.size, po.flags = start, len(out)-start, flags
			}
			ch.pages = append(ch.pages, po)
			ch.ndone++
		}
		off += n
	}
}

// writeChunk writes a prepared chunk's pages; a chunk that failed part way has its
// good pages written first.
func (c *collector) writeChunk(kw *dumpfile.KdumpWriter, ch *chunk) error {
	for _, p := range ch.pages[:ch.ndone] {
		var err error
		if p.zero {
			err = kw.WriteZeroPage(p.pfn)
			c.stats.ExcludedZero++
		} else if p.raw {
			err = kw.WritePage(p.pfn, ch.in[p.off:p.off+p.size], 0)
		} else {
			err = kw.WritePage(p.pfn, ch.out[p.off:p.off+p.size], p.flags)
		}
		if err != nil {
			return err
		}
	}
	c.prog.add(uint64(ch.ndone))
	if ch.err != nil {
		return ch.err
	}
	return nil
}
