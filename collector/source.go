package collector

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/gokdump/gokdump/internal/bitmap"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// source is what the collector knows about the vmcore before the passes: its memory
// ranges in pfns and, when the kernel's struct pages can be read, the classifier setup.
type source struct {
	f        *vmcore.File
	info     *vmcore.VMCOREINFO
	as       *kernel.Kernel // the crashed kernel's address space; nil when its page tables cannot be used
	pageSize uint64
	maxPFN   uint64     // max_mapnr: pfns below the highest byte of memory, rounded up
	present  []pfnRange // pfns some PT_LOAD holds, sorted, merged
	// noData are pfns a PT_LOAD covers only with its zero-filled tail (p_memsz beyond
	// p_filesz): pages an earlier filtering (makedumpfile -E) left out. They are not
	// dumped again. A kdump-compressed source says the same with its 2nd bitmap.
	noData []pfnRange

	// Classification; layout is nil when mm cannot classify this kernel.
	layout *mm.Layout
	secs   *mm.Sections
	mem    mm.Memory
}

// pfnRange is [start, end).
type pfnRange struct{ start, end uint64 }

// symbols adapts vmcore's VMCOREINFO (unsigned SIZE/OFFSET/LENGTH) to mm.Symbols.
type symbols struct{ v *vmcore.VMCOREINFO }

func signed(v uint64, ok bool) (int64, bool) {
	if !ok || v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

func (s symbols) Symbol(n string) (uint64, bool) { return s.v.Symbol(n) }
func (s symbols) Size(n string) (int64, bool)    { return signed(s.v.Size(n)) }
func (s symbols) Offset(n string) (int64, bool)  { return signed(s.v.Offset(n)) }
func (s symbols) Length(n string) (int64, bool)  { return signed(s.v.Length(n)) }
func (s symbols) Number(n string) (int64, bool)  { return s.v.Number(n) }

// memory is the crashed kernel's memory as mm reads it: virtual addresses through the
// page tables, physical ones straight from the dump.
type memory struct {
	as *kernel.Kernel
	f  *vmcore.File
}

func (m memory) ReadVirt(p []byte, vaddr uint64) (int, error) { return m.as.ReadVirt(p, vaddr) }
func (m memory) ReadPhys(p []byte, addr uint64) (int, error)  { return m.f.ReadPhys(p, addr) }

// maxPages bounds max_mapnr: 2^52 bytes of physical memory (x86_64's architectural
// limit) in 4 KiB pages.
const maxPages = 1 << 40

func openSource(f *vmcore.File, level mm.DumpLevel, warn func(string)) (*source, error) {
	s := &source{f: f}
	info, err := f.VMCOREINFO()
	if err != nil {
		return nil, err
	}
	s.info = info
	s.pageSize = 4096
	if ps, ok := info.PageSize(); ok {
		if ps < 512 || ps > 1<<20 || ps&(ps-1) != 0 {
			return nil, fmt.Errorf("collector: %s: VMCOREINFO PAGESIZE=%d is not a power of two from 512 to 1 MiB", f.Name, ps)
		}
		s.pageSize = ps
	}
	var ranges []pfnRange
	for _, l := range f.Loads {
		if l.MemSize == 0 {
			continue
		}
		end := l.Phys + l.MemSize // no overflow: checked by vmcore
		r := pfnRange{l.Phys / s.pageSize, (end + s.pageSize - 1) / s.pageSize}
		if r.end > maxPages {
			return nil, fmt.Errorf("collector: %s: PT_LOAD at physical 0x%x+0x%x is beyond 2^52 bytes of memory", f.Name, l.Phys, l.MemSize)
		}
		ranges = append(ranges, r)
		s.maxPFN = max(s.maxPFN, r.end)
	}
	if s.maxPFN == 0 {
		return nil, fmt.Errorf("collector: %s: no memory (no PT_LOAD with a size)", f.Name)
	}
	for _, l := range f.Loads {
		if l.MemSize > l.FileSize {
			a := (l.Phys + l.FileSize + s.pageSize - 1) / s.pageSize
			z := (l.Phys + l.MemSize) / s.pageSize
			if a < z && !s.hasData(a, z) {
				s.noData = append(s.noData, pfnRange{a, z})
			}
		}
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].start < ranges[j].start })
	for _, r := range ranges {
		if n := len(s.present); n > 0 && r.start <= s.present[n-1].end {
			s.present[n-1].end = max(s.present[n-1].end, r.end)
			continue
		}
		s.present = append(s.present, r)
	}

	as, err := kernel.Open(f)
	if err != nil {
		warn(fmt.Sprintf("cannot use the kernel's page tables, so struct pages cannot be read: %v", err))
	} else {
		s.as = as
	}
	// Classify at every level: hwpoison and offline pages are left out even at -d 0,
	// as makedumpfile does. But -d 0 and -d 1 leave out no page type, so when pages
	// cannot be classified the dump is still what was asked for: no warning then
	// (Stats.Classified still records it).
	cannotClassify := warn
	if level&^mm.ExcludeZero == 0 {
		cannotClassify = func(string) {}
	}
	if s.as == nil {
		cannotClassify(fmt.Sprintf("dump level %d: keeping every page but zero pages", level))
		return s, nil
	}
	layout, err := mm.NewLayout(symbols{info})
	var missing *mm.MissingKeysError
	switch {
	case errors.As(err, &missing):
		cannotClassify(fmt.Sprintf("cannot classify pages (%v): keeping every page but zero pages", err))
		return s, nil
	case err != nil:
		cannotClassify(fmt.Sprintf("cannot classify pages: %v: keeping every page but zero pages", err))
		return s, nil
	}
	mem := memory{as: s.as, f: f}
	secs, err := mm.ReadSections(layout, mem, s.maxPFN)
	if err != nil {
		cannotClassify(fmt.Sprintf("cannot read mem_section: %v: keeping every page but zero pages", err))
		return s, nil
	}
	s.layout, s.secs, s.mem = layout, secs, mem
	for _, n := range layout.Notes {
		warn("classification: " + n)
	}
	return s, nil
}

// presentIn sets in b the bits of the pfns of [start, start+n) that memory holds.
func (s *source) presentIn(b []byte, start, n uint64) {
	end := start + n
	i := sort.Search(len(s.present), func(i int) bool { return s.present[i].end > start })
	for ; i < len(s.present) && s.present[i].start < end; i++ {
		a := max(s.present[i].start, start)
		z := min(s.present[i].end, end)
		bitmap.Set(b, a-start, z-a)
	}
}

// hasData reports whether some PT_LOAD has file data for a pfn of [a, z).
func (s *source) hasData(a, z uint64) bool {
	for _, l := range s.f.Loads {
		if l.FileSize > 0 && l.Phys < z*s.pageSize && l.Phys+l.FileSize > a*s.pageSize {
			return true
		}
	}
	return false
}

// originalPages is the number of pfns memory holds.
func (s *source) originalPages() uint64 {
	var n uint64
	for _, r := range s.present {
		n += r.end - r.start
	}
	return n
}
