package collector

import (
	"context"
	"fmt"
	"io"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// minELFGap is makedumpfile's PFN_EXCLUDED: only runs of at least this many excluded
// pages are left out of an ELF dump (and split its PT_LOADs); shorter runs are written
// with their contents, since a PT_LOAD header costs more than a few pages of file and
// many small PT_LOADs slow readers down.
const minELFGap = 256

// elfLoadPlan lays out the output PT_LOADs of one source PT_LOAD while the windows go
// by in pfn order.
type elfLoadPlan struct {
	seg        vmcore.Segment
	first, end uint64 // the pfns the segment touches

	active      bool
	start, last uint64     // the open piece: its first pfn and the pfn after its last dumped one
	gap         uint64     // excluded pages since last
	pieces      []pfnRange // closed pieces
}

func (p *elfLoadPlan) add(w *window) {
	from, to := max(p.first, w.start), min(p.end, w.start+w.n)
	for pos := from; pos < to; {
		s, k := nextRun(w.dumped, pos-w.start, to-w.start, true)
		if k == 0 {
			p.gap += to - pos
			return
		}
		s += w.start
		p.gap += s - pos
		switch {
		case !p.active:
			p.active, p.start = true, s
		case p.gap >= minELFGap:
			p.pieces = append(p.pieces, pfnRange{p.start, p.last})
			p.start = s
		}
		p.gap = 0
		p.last = s + k
		pos = s + k
	}
}

func (p *elfLoadPlan) close() {
	if p.active {
		p.pieces = append(p.pieces, pfnRange{p.start, p.last})
		p.active = false
	}
}

func (c *collector) collectELF(ctx context.Context, out *output) error {
	s := c.src
	plans := make([]*elfLoadPlan, 0, len(s.f.Loads))
	for _, l := range s.f.Loads {
		if l.MemSize == 0 {
			continue
		}
		plans = append(plans, &elfLoadPlan{seg: l, first: l.Phys / s.pageSize, end: (l.Phys + l.MemSize + s.pageSize - 1) / s.pageSize})
	}
	zeroScan := c.opts.DumpLevel&1 != 0
	_, err := c.pass1(ctx, zeroScan, func(w *window) {
		for _, p := range plans {
			if p.first < w.start+w.n && p.end > w.start {
				p.add(w)
			}
		}
	})
	if err != nil {
		return err
	}
	notes, _, _, _ := c.notes()
	ew := &dumpfile.ELFWriter{Notes: notes, NoteAlign: 4, PageSize: s.pageSize}
	var total, aliased uint64
	for _, p := range plans {
		p.close()
		// The kernel-text PT_LOAD is an alias of memory a direct-map PT_LOAD holds
		// too: counted once in the statistics, written twice as makedumpfile does.
		alias := p.seg.Virt >= x86.KernelTextMap && len(plans) > 1
		for _, r := range p.pieces {
			phys := max(p.seg.Phys, r.start*s.pageSize)
			end := min(p.seg.Phys+p.seg.MemSize, r.end*s.pageSize)
			virt := uint64(0)
			if p.seg.Virt != 0 {
				virt = p.seg.Virt + (phys - p.seg.Phys)
			}
			ew.Loads = append(ew.Loads, dumpfile.ELFLoad{Phys: phys, Virt: virt, FileSize: end - phys, MemSize: end - phys,
				Data: &physReader{ctx: ctx, c: c, addr: phys, end: end}})
			if alias {
				aliased += r.end - r.start
			} else {
				total += r.end - r.start
			}
		}
	}
	c.stats.DumpedPages = total
	c.stats.ELFExcludedPages = c.stats.OriginalPages - min(total, c.stats.OriginalPages)
	c.prog.setTotal(total + aliased)

	var dst io.Writer = out
	var mark io.WriterAt
	var flat *flatStream
	if c.opts.Flattened {
		flat = &flatStream{w: out}
		dst, mark = flat, flat
	} else if out.wa != nil {
		mark = out
	}
	_, err = ew.WriteTo(dst)
	if err == nil && flat != nil {
		err = flat.end()
	}
	if err != nil {
		c.stats.Incomplete = true
		if mark != nil {
			if merr := ew.MarkIncomplete(mark); merr != nil {
				err = fmt.Errorf("%w (and marking it incomplete failed: %v)", err, merr)
			}
			if flat != nil {
				flat.end()
			}
		}
		return incomplete(err)
	}
	return nil
}

// physReader streams [addr, end) of physical memory for one output PT_LOAD, page by
// page through a small buffer, stopping when ctx is cancelled.
type physReader struct {
	ctx       context.Context
	c         *collector
	addr, end uint64
}

func (r *physReader) Read(p []byte) (int, error) {
	if r.addr >= r.end {
		return 0, io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n := min(uint64(len(p)), r.end-r.addr, 1<<20)
	got, err := r.c.src.f.ReadPhys(p[:n], r.addr)
	if err != nil {
		return got, fmt.Errorf("collector: reading physical 0x%x (pfn 0x%x): %w", r.addr+uint64(got), (r.addr+uint64(got))/r.c.src.pageSize, err)
	}
	before := r.addr / r.c.src.pageSize
	r.addr += n
	r.c.prog.add(r.addr/r.c.src.pageSize - before)
	return int(n), nil
}
