package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/gokdump/gokdump/internal/bitmap"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// window is a range of pfns being classified: makedumpfile's "cycle".
type window struct {
	start, n uint64
	present  []byte // 1st bitmap bits: pfn in some PT_LOAD
	dumped   []byte // 2nd bitmap bits: pfn's data goes into the dump

	excluded   [mm.NumPageTypes]uint64 // pages of present pfns left out, by type
	noData     uint64                  // pages the source itself does not hold
	zero       uint64                  // zero pages left out (zero scan only)
	unreadable uint64                  // pfns whose struct page could not be read
	readErr    error                   // the first such error
	count      uint64                  // set bits of dumped
	err        error
	done       chan struct{}
	refs       atomic.Int32 // holders in pass 2: the producer and the writer
}

func (w *window) bytes() uint64 { return (w.n + 7) / 8 }

func (w *window) reset(start, n uint64) {
	w.start, w.n = start, n
	w.excluded = [mm.NumPageTypes]uint64{}
	w.noData, w.zero, w.unreadable, w.count = 0, 0, 0, 0
	w.readErr, w.err = nil, nil
	w.done = make(chan struct{})
	w.refs.Store(0)
}

// windowPool holds the preallocated windows; a window is taken by the dispatcher and
// given back by whoever consumes it last.
type windowPool struct{ free chan *window }

func newWindowPool(k int, pfns uint64) *windowPool {
	p := &windowPool{free: make(chan *window, k)}
	for range k {
		p.free <- &window{present: make([]byte, pfns/8), dumped: make([]byte, pfns/8)}
	}
	return p
}

func (p *windowPool) put(w *window) { p.free <- w }

// unref drops one holder of w and gives it back to the pool after the last.
func (p *windowPool) unref(w *window) {
	if w.refs.Add(-1) == 0 {
		p.put(w)
	}
}

// classifyWorker is one goroutine's classification state.
type classifyWorker struct {
	c      *collector
	cls    *mm.Classifier // nil when the kernel cannot be classified
	buf    []byte         // pages read by the zero scan
	bitmap []byte         // a kdump-compressed source's 2nd bitmap for the window
}

func (c *collector) newClassifyWorker() *classifyWorker {
	wk := &classifyWorker{c: c}
	if s := c.src; s.layout != nil {
		wk.cls = mm.NewClassifier(s.layout, s.mem, s.secs)
	}
	return wk
}

// classify fills in w for its range: the present pfns, minus the pages the dump level
// leaves out by type and, with zeroScan, the zero-filled pages (ELF output, where zero
// pages are left out rather than shared).
func (wk *classifyWorker) classify(ctx context.Context, w *window, zeroScan bool) {
	c := wk.c
	nb := w.bytes()
	present, dumped := w.present[:nb], w.dumped[:nb]
	clear(present)
	c.src.presentIn(present, w.start, w.n)
	if c.kept != nil {
		// Pass 2 of a kdump-compressed dump: pass 1's verdicts, where it kept them.
		if c.kept.get(dumped, w.start) {
			w.count = bitmap.Count(dumped)
			return
		}
		c.reclassified.Add(w.n)
	}
	copy(dumped, present)
	if err := wk.dropNoData(w); err != nil {
		w.err = err
		return
	}
	level := c.opts.DumpLevel
	if wk.cls != nil {
		st := wk.cls.Classify(w.start, w.start+w.n, level, func(pfn, k uint64, t mm.PageType) {
			if level.Excludes(t) {
				w.excluded[t] += bitmap.Clear(dumped, pfn-w.start, k)
			}
		})
		w.unreadable, w.readErr = st.Unreadable, st.ReadErr
	}
	if zeroScan {
		if err := wk.scanZero(ctx, w); err != nil {
			w.err = err
			return
		}
	}
	w.count = bitmap.Count(dumped)
}

// dropNoData clears the pages the source has no data for: those an earlier filtering
// left out (makedumpfile's exclude_nodata_pages, for refiltering).
func (wk *classifyWorker) dropNoData(w *window) error {
	s := wk.c.src
	end := w.start + w.n
	for _, r := range s.noData {
		if a, z := max(r.start, w.start), min(r.end, end); a < z {
			w.noData += bitmap.Clear(w.dumped, a-w.start, z-a)
		}
	}
	if s.f.Format != vmcore.FormatKdump {
		return nil
	}
	// Windows start at multiples of WindowPFNs, itself a multiple of 8.
	nb := w.bytes()
	if cap(wk.bitmap) < int(nb) {
		wk.bitmap = make([]byte, nb)
	}
	held := wk.bitmap[:nb]
	if err := s.f.DumpedBitmap(held, w.start); err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	for i, b := range held {
		w.noData += uint64(bits.OnesCount8(w.dumped[i] &^ b))
		w.dumped[i] &= b
	}
	return nil
}

// scanZero reads the window's dumped pages and clears the bits of the zero ones.
func (wk *classifyWorker) scanZero(ctx context.Context, w *window) error {
	c := wk.c
	ps := c.src.pageSize
	if wk.buf == nil {
		wk.buf = make([]byte, uint64(c.opts.ChunkPages)*ps)
	}
	batch := uint64(c.opts.ChunkPages)
	for pos := uint64(0); pos < w.n; {
		s, k := bitmap.NextRun(w.dumped, pos, w.n, true)
		if k == 0 {
			break
		}
		for done := uint64(0); done < k; {
			if err := ctx.Err(); err != nil {
				return err
			}
			m := min(batch, k-done)
			pfn := w.start + s + done
			buf := wk.buf[:m*ps]
			if err := c.src.readPages(buf, pfn, m); err != nil {
				return err
			}
			for i := uint64(0); i < m; i++ {
				if isZero(buf[i*ps : (i+1)*ps]) {
					w.zero += bitmap.Clear(w.dumped, s+done+i, 1)
				}
			}
			done += m
		}
		pos = s + k
	}
	return nil
}

var zeroBlock [64 << 10]byte

func isZero(p []byte) bool {
	for len(p) > 0 {
		k := min(len(p), len(zeroBlock))
		if !bytes.Equal(p[:k], zeroBlock[:k]) {
			return false
		}
		p = p[k:]
	}
	return true
}

// eachWindow classifies the windows covering [0, maxPFN) on opts.Threads goroutines
// and calls consume for each, in pfn order, on the calling goroutine. consume owns the
// window it is given and must give it back to c.windows (at once or later, e.g. after
// a writer is done with its bitmaps). At most the pool's size of windows exist.
func (c *collector) eachWindow(ctx context.Context, zeroScan bool, consume func(*window) error) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *window)
	order := make(chan *window, cap(c.windows.free))
	var wg sync.WaitGroup
	for range c.opts.Threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := c.newClassifyWorker()
			for w := range work {
				wk.classify(ctx, w, zeroScan)
				close(w.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(work)
		W := c.opts.WindowPFNs
		for start := uint64(0); start < c.src.maxPFN; start += W {
			var w *window
			select {
			case w = <-c.windows.free:
			case <-ctx.Done():
				return
			}
			w.reset(start, min(W, c.src.maxPFN-start))
			order <- w // never blocks: order holds as many as the pool
			select {
			case work <- w:
			case <-ctx.Done():
				w.err = ctx.Err()
				close(w.done)
				return
			}
		}
	}()
	var err error
	for w := range order {
		<-w.done
		if err == nil && w.err != nil {
			err = w.err
		}
		if err != nil {
			c.windows.put(w)
			cancel()
			continue
		}
		if err = consume(w); err != nil {
			cancel()
		}
	}
	wg.Wait()
	if err == nil {
		err = parent.Err() // cancelled between windows
	}
	return err
}

// readPages reads n pages from pfn into buf. Bytes of a page that no PT_LOAD holds
// (the part of a page before or after a PT_LOAD that does not start or end on a page
// boundary) read as zero, as makedumpfile reads them.
func (s *source) readPages(buf []byte, pfn, n uint64) error {
	ps := s.pageSize
	addr := pfn * ps
	want := n * ps
	var off uint64
	for off < want {
		got, err := s.f.ReadPhys(buf[off:want], addr+off)
		off += uint64(got)
		if err == nil {
			break
		}
		var hole *vmcore.HoleError
		if !errors.As(err, &hole) {
			return fmt.Errorf("collector: reading pfn 0x%x (physical 0x%x): %w", (addr+off)/ps, addr+off, err)
		}
		next := s.nextDataAddr(addr + off)
		if next <= addr+off || next-addr > want {
			next = addr + want
		}
		clear(buf[off : next-addr])
		off = next - addr
	}
	return nil
}

// nextDataAddr returns the lowest PT_LOAD start above a, or 0.
func (s *source) nextDataAddr(a uint64) uint64 {
	var best uint64
	for _, l := range s.f.Loads {
		if l.MemSize > 0 && l.Phys > a && (best == 0 || l.Phys < best) {
			best = l.Phys
		}
	}
	return best
}
