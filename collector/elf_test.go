package collector

import (
	"fmt"
	"testing"

	"github.com/gokdump/gokdump/internal/bitmap"
	"github.com/gokdump/gokdump/vmcore"
)

// makedumpfileELFLoads lays out, page by page, the PT_LOADs makedumpfile -E writes
// (write_elf_pages_cyclic) for the source PT_LOADs segs when the pfns for which dumped
// is true are kept: the reference elfLoadPlan, which works on runs of windows, is held
// to. Offsets are left 0.
func makedumpfileELFLoads(segs []vmcore.Segment, pageSize uint64, dumped func(pfn uint64) bool) []vmcore.Segment {
	var out []vmcore.Segment
	for _, s := range segs {
		if s.MemSize == 0 {
			continue
		}
		end := s.Phys + s.MemSize
		start, fileEnd, excluded := s.Phys, s.Phys, uint64(0)
		emit := func(memEnd uint64) {
			l := vmcore.Segment{Phys: start, FileSize: fileEnd - start, MemSize: memEnd - start}
			if s.Virt != 0 {
				l.Virt = s.Virt + (start - s.Phys)
			}
			out = append(out, l)
		}
		a := s.Phys
		if a%pageSize != 0 { // a partial first page is always written
			a = min((a/pageSize+1)*pageSize, end)
			fileEnd = a
		}
		for a < end {
			next := min((a/pageSize+1)*pageSize, end)
			if !dumped(a / pageSize) {
				excluded++
				a = next
				continue
			}
			if excluded >= 256 {
				emit(a)
				start = a
			}
			excluded = 0
			fileEnd = next
			a = next
		}
		emit(end)
	}
	return out
}

// planLoads runs elfLoadPlan over seg with windows of windowPFNs pfns.
func planLoads(seg vmcore.Segment, pageSize, windowPFNs uint64, dumped func(pfn uint64) bool) []vmcore.Segment {
	p := newELFLoadPlan(seg, pageSize)
	w := &window{dumped: make([]byte, windowPFNs/8)}
	for start := p.first / windowPFNs * windowPFNs; start < p.end; start += windowPFNs {
		w.start, w.n = start, windowPFNs
		clear(w.dumped)
		for i := range windowPFNs {
			if dumped(start + i) {
				bitmap.Set(w.dumped, i, 1)
			}
		}
		p.add(w)
	}
	p.close()
	var out []vmcore.Segment
	for _, r := range p.pieces {
		l := p.load(r, pageSize)
		out = append(out, vmcore.Segment{Phys: l.Phys, Virt: l.Virt, FileSize: l.FileSize, MemSize: l.MemSize})
	}
	return out
}

// excludedRuns says a pfn is dumped unless some [from, to) of runs (pfns relative to
// base) holds it.
func excludedRuns(base uint64, runs ...[2]uint64) func(uint64) bool {
	return func(pfn uint64) bool {
		for _, r := range runs {
			if pfn >= base+r[0] && pfn < base+r[1] {
				return false
			}
		}
		return true
	}
}

func segString(ls []vmcore.Segment) string {
	s := ""
	for _, l := range ls {
		s += fmt.Sprintf("\n  paddr %#x vaddr %#x filesz %#x memsz %#x", l.Phys, l.Virt, l.FileSize, l.MemSize)
	}
	return s
}

// TestELFLoadPlan pins the PT_LOADs of an ELF dump to makedumpfile's: split only at 256
// or more excluded pages, each piece's memory reaching the next one's start as a
// zero-filled tail, short excluded runs written with their data.
func TestELFLoadPlan(t *testing.T) {
	const ps = 4096
	const base = 0x100 // pfn of 0x100000
	dm := uint64(0xffff888000000000)
	for _, tc := range []struct {
		name   string
		seg    vmcore.Segment
		dumped func(uint64) bool
		want   []vmcore.Segment
	}{
		{
			name:   "all kept",
			seg:    vmcore.Segment{Phys: 0x100000, Virt: dm + 0x100000, MemSize: 1000 * ps},
			dumped: func(uint64) bool { return true },
			want:   []vmcore.Segment{{Phys: 0x100000, Virt: dm + 0x100000, FileSize: 1000 * ps, MemSize: 1000 * ps}},
		},
		{
			// A leading run of 256+ makes a piece without data; a short run is written;
			// a long run ends the piece's data and splits; a trailing run of any length
			// is a zero tail.
			name:   "leading, short, long and trailing runs",
			seg:    vmcore.Segment{Phys: 0x100000, Virt: dm + 0x100000, MemSize: 1000 * ps},
			dumped: excludedRuns(base, [2]uint64{0, 300}, [2]uint64{400, 405}, [2]uint64{600, 900}, [2]uint64{980, 1000}),
			want: []vmcore.Segment{
				{Phys: 0x100000, Virt: dm + 0x100000, FileSize: 0, MemSize: 300 * ps},
				{Phys: 0x100000 + 300*ps, Virt: dm + 0x100000 + 300*ps, FileSize: 300 * ps, MemSize: 600 * ps},
				{Phys: 0x100000 + 900*ps, Virt: dm + 0x100000 + 900*ps, FileSize: 80 * ps, MemSize: 100 * ps},
			},
		},
		{
			name:   "255 excluded do not split, 256 do",
			seg:    vmcore.Segment{Phys: 0x100000, Virt: dm + 0x100000, MemSize: 1000 * ps},
			dumped: excludedRuns(base, [2]uint64{10, 265}, [2]uint64{300, 556}),
			want: []vmcore.Segment{
				{Phys: 0x100000, Virt: dm + 0x100000, FileSize: 300 * ps, MemSize: 556 * ps},
				{Phys: 0x100000 + 556*ps, Virt: dm + 0x100000 + 556*ps, FileSize: 444 * ps, MemSize: 444 * ps},
			},
		},
		{
			name:   "a leading short run is written",
			seg:    vmcore.Segment{Phys: 0x100000, Virt: dm + 0x100000, MemSize: 1000 * ps},
			dumped: excludedRuns(base, [2]uint64{0, 255}),
			want:   []vmcore.Segment{{Phys: 0x100000, Virt: dm + 0x100000, FileSize: 1000 * ps, MemSize: 1000 * ps}},
		},
		{
			name:   "all excluded",
			seg:    vmcore.Segment{Phys: 0x100000, Virt: dm + 0x100000, MemSize: 1000 * ps},
			dumped: func(uint64) bool { return false },
			want:   []vmcore.Segment{{Phys: 0x100000, Virt: dm + 0x100000, FileSize: 0, MemSize: 1000 * ps}},
		},
		{
			// A partial first page is written whatever the bitmap says; an excluded
			// partial last page is in the tail.
			name:   "partial pages, all excluded",
			seg:    vmcore.Segment{Phys: 0x100800, Virt: dm + 0x100800, MemSize: 0x800 + 600*ps + 0x400},
			dumped: func(uint64) bool { return false },
			want:   []vmcore.Segment{{Phys: 0x100800, Virt: dm + 0x100800, FileSize: 0x800, MemSize: 0x800 + 600*ps + 0x400}},
		},
		{
			name:   "partial pages, split after the head",
			seg:    vmcore.Segment{Phys: 0x100800, Virt: dm + 0x100800, MemSize: 0x800 + 600*ps + 0x400},
			dumped: excludedRuns(base, [2]uint64{1, 301}),
			want: []vmcore.Segment{
				{Phys: 0x100800, Virt: dm + 0x100800, FileSize: 0x800, MemSize: 0x800 + 300*ps},
				{Phys: 0x100000 + 301*ps, Virt: dm + 0x100000 + 301*ps, FileSize: 300*ps + 0x400, MemSize: 300*ps + 0x400},
			},
		},
		{
			name:   "no virtual address stays without one",
			seg:    vmcore.Segment{Phys: 0x100000, MemSize: 1000 * ps},
			dumped: excludedRuns(base, [2]uint64{100, 400}),
			want: []vmcore.Segment{
				{Phys: 0x100000, FileSize: 100 * ps, MemSize: 400 * ps},
				{Phys: 0x100000 + 400*ps, FileSize: 600 * ps, MemSize: 600 * ps},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := makedumpfileELFLoads([]vmcore.Segment{tc.seg}, ps, tc.dumped)
			if segString(ref) != segString(tc.want) {
				t.Fatalf("the page-by-page reference lays out%s\nwant%s", segString(ref), segString(tc.want))
			}
			for _, win := range []uint64{8, 64, 256, 1 << 17} {
				if got := planLoads(tc.seg, ps, win, tc.dumped); segString(got) != segString(tc.want) {
					t.Errorf("windows of %d pfns: got%s\nwant%s", win, segString(got), segString(tc.want))
				}
			}
		})
	}
}

// TestELFLoadPlanRandom holds elfLoadPlan to the page-by-page reference on random
// verdicts with runs around the split threshold, across window sizes.
func TestELFLoadPlanRandom(t *testing.T) {
	const ps = 4096
	seed := uint64(0x9e3779b97f4a7c15)
	rnd := func(n uint64) uint64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed % n
	}
	for i := range 200 {
		phys := 0x100000 + rnd(4)*0x400 // sometimes mid-page
		size := 1 + rnd(3000*ps)
		seg := vmcore.Segment{Phys: phys, Virt: 0xffff888000000000 + phys, MemSize: size}
		var runs [][2]uint64
		for at := uint64(0); at < size/ps+1; {
			at += rnd(300)
			n := []uint64{1, 200, 255, 256, 257, 600}[rnd(6)]
			runs = append(runs, [2]uint64{at, at + n})
			at += n
		}
		dumped := excludedRuns(phys/ps, runs...)
		want := makedumpfileELFLoads([]vmcore.Segment{seg}, ps, dumped)
		for _, win := range []uint64{8, 200, 1 << 12} {
			if got := planLoads(seg, ps, win, dumped); segString(got) != segString(want) {
				t.Fatalf("case %d (%+v), windows of %d: got%s\nwant%s", i, seg, win, segString(got), segString(want))
			}
		}
	}
}
