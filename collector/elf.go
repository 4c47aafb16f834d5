package collector

import (
	"context"
	"fmt"
	"io"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/bitmap"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

// minELFGap is makedumpfile's PFN_EXCLUDED: a PT_LOAD of an ELF dump is split only
// where at least this many excluded pages are followed by a dumped one. Shorter runs
// are written with their real contents, as makedumpfile writes them: a PT_LOAD header
// costs more than a few pages of file, and many small PT_LOADs slow readers down.
const minELFGap = 256

// elfPiece is one output PT_LOAD, in pfns: file data for [start, fileEnd), then
// memory up to end that reads as zero (p_memsz beyond p_filesz).
type elfPiece struct{ start, fileEnd, end uint64 }

// elfLoadPlan lays out the output PT_LOADs of one source PT_LOAD while the windows go
// by in pfn order, the way makedumpfile -E does (write_elf_pages_cyclic), so that our
// program headers are the same as its for the same vmcore and level:
//   - the pieces tile the source PT_LOAD: the first starts where it starts, each
//     other one at a dumped page that follows minELFGap or more excluded ones, and
//     each one's p_memsz reaches the start of the next (the last one's the end of the
//     source PT_LOAD), so a left-out page reads back as zeros, not as a hole: readers
//     such as crash take a hole for an unreadable address and give up, while a
//     zero-filled page is what a level that leaves out zero pages promises anyway;
//   - a piece's file data runs from its start to its last dumped page, so excluded
//     pages at its end (any number of them before the source PT_LOAD ends) are in the
//     zero tail only, and a run of minELFGap or more at the very start of the source
//     PT_LOAD makes a piece with no file data at all;
//   - a page the source PT_LOAD holds only in part at its start is always written
//     (makedumpfile does not look it up in the bitmap); one at its end is written when
//     the bitmap keeps it.
type elfLoadPlan struct {
	seg        vmcore.Segment
	alias      bool   // the kernel-text alias of memory other segments hold (kernel.TextAliases)
	first, end uint64 // the pfns the segment touches
	scan       uint64 // the first pfn the bitmap decides: first, or first+1 after a partial page

	start, fileEnd uint64 // the open piece: its first pfn and the pfn after its last written one
	pieces         []elfPiece
}

func newELFLoadPlan(seg vmcore.Segment, pageSize uint64) *elfLoadPlan {
	p := &elfLoadPlan{seg: seg, first: seg.Phys / pageSize, end: (seg.Phys + seg.MemSize + pageSize - 1) / pageSize}
	p.scan, p.start, p.fileEnd = p.first, p.first, p.first
	if seg.Phys%pageSize != 0 {
		p.scan, p.fileEnd = p.first+1, p.first+1
	}
	return p
}

// add takes the verdicts of window w on the segment's pfns; windows come in pfn order.
func (p *elfLoadPlan) add(w *window) {
	from, to := max(p.scan, w.start), min(p.end, w.start+w.n)
	for pos := from; pos < to; {
		s, k := bitmap.NextRun(w.dumped, pos-w.start, to-w.start, true)
		if k == 0 {
			return
		}
		s += w.start
		// Every pfn from fileEnd to s is excluded: the plan has seen them all.
		if s-p.fileEnd >= minELFGap {
			p.pieces = append(p.pieces, elfPiece{p.start, p.fileEnd, s})
			p.start = s
		}
		p.fileEnd = s + k
		pos = s + k
	}
}

// close ends the last piece at the end of the segment.
func (p *elfLoadPlan) close() {
	p.pieces = append(p.pieces, elfPiece{p.start, p.fileEnd, p.end})
}

// load returns piece r as an output PT_LOAD in bytes: its pfn bounds cut to the
// segment, its virtual address moved along with the physical one (a segment without
// one, as a kdump-compressed source's, keeps 0 rather than get a made-up address).
func (p *elfLoadPlan) load(r elfPiece, pageSize uint64) dumpfile.ELFLoad {
	segEnd := p.seg.Phys + p.seg.MemSize
	at := func(pfn uint64) uint64 { return min(max(pfn*pageSize, p.seg.Phys), segEnd) }
	phys := at(r.start)
	l := dumpfile.ELFLoad{Phys: phys, FileSize: at(r.fileEnd) - phys, MemSize: at(r.end) - phys}
	if p.seg.Virt != 0 {
		l.Virt = p.seg.Virt + (phys - p.seg.Phys)
	}
	return l
}

func (c *collector) collectELF(ctx context.Context, out *output) error {
	s := c.src
	plans := make([]*elfLoadPlan, 0, len(s.f.Loads))
	aliases := kernel.TextAliases(s.f)
	for i, l := range s.f.Loads {
		if l.MemSize == 0 {
			continue
		}
		p := newELFLoadPlan(l, s.pageSize)
		p.alias = aliases[i]
		plans = append(plans, p)
	}
	zeroScan := c.opts.DumpLevel&1 != 0
	_, err := c.pass1(ctx, zeroScan, false, func(w *window) {
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
		for _, r := range p.pieces {
			l := p.load(r, s.pageSize)
			if l.FileSize > 0 {
				l.Data = &physReader{ctx: ctx, c: c, addr: l.Phys, end: l.Phys + l.FileSize}
			}
			ew.Loads = append(ew.Loads, l)
			if p.alias {
				aliased += r.fileEnd - r.start
			} else {
				total += r.fileEnd - r.start
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
		flat = newFlatStream(out)
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
