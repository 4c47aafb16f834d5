// Package x86test builds x86_64 page tables and sparse physical memory for
// tests: of package x86 itself, and of every later stage (the collector's
// vmemmap walk, the ELF vmcore writer) that needs a synthetic crashed kernel
// whose virtual addresses translate.
//
// Usage:
//
//	b, _ := x86test.NewPageTableBuilder(4, 0x100000, 0x200000)
//	_ = b.Map(0xffffea0000000000, 0x400000, 2<<20, x86.PageSize2M)
//	mem := &x86test.Memory{}
//	_ = mem.Add(b.Base(), b.Bytes())
//	as, _ := x86.New(x86.Config{Mem: mem, Root: b.Root(), Levels: 4})
package x86test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/gokdump/gokdump/arch/x86"
)

// Memory is sparse physical memory: regions of bytes at physical addresses.
// It implements x86.PhysReader; reading a hole is an error.
type Memory struct {
	regions []region // sorted by start, not overlapping
}

type region struct {
	start uint64
	data  []byte
}

// ErrHole is wrapped by the error for a read of memory no region holds.
var ErrHole = errors.New("x86test: physical address not in memory")

// Add places data at physical address phys. The slice is kept, not copied,
// so later changes to it show through. Regions must not overlap.
func (m *Memory) Add(phys uint64, data []byte) error {
	end := phys + uint64(len(data))
	if end < phys {
		return fmt.Errorf("x86test: region 0x%x+0x%x overflows", phys, len(data))
	}
	for _, r := range m.regions {
		if phys < r.start+uint64(len(r.data)) && r.start < end {
			return fmt.Errorf("x86test: region 0x%x..0x%x overlaps 0x%x..0x%x", phys, end, r.start, r.start+uint64(len(r.data)))
		}
	}
	m.regions = append(m.regions, region{phys, data})
	sort.Slice(m.regions, func(i, j int) bool { return m.regions[i].start < m.regions[j].start })
	return nil
}

// ReadPhys fills p from physical address addr, across adjacent regions.
func (m *Memory) ReadPhys(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr {
			return n, fmt.Errorf("%w: 0x%x (address wraps)", ErrHole, a)
		}
		i := sort.Search(len(m.regions), func(i int) bool {
			return m.regions[i].start+uint64(len(m.regions[i].data)) > a
		})
		if i == len(m.regions) || m.regions[i].start > a {
			return n, fmt.Errorf("%w: 0x%x", ErrHole, a)
		}
		r := m.regions[i]
		n += copy(p[n:], r.data[a-r.start:])
	}
	return n, nil
}

// Page-table entry flags the builder writes: present, writable, accessed,
// dirty, as the kernel's _KERNPG_TABLE and PAGE_KERNEL have them.
const (
	flagsTable uint64 = 0x63
	flagsLeaf  uint64 = 0x63
	flagPSE    uint64 = 0x80
)

// PageTableBuilder writes x86_64 page tables into a physical region it
// owns, [base, limit), allocating table pages from base upwards. The root
// (PGD) is the first page.
type PageTableBuilder struct {
	levels      int
	base, limit uint64
	pages       [][]byte // pages[i] is the table at base + i*4096
	sme         uint64
}

// NewPageTableBuilder starts empty 4- or 5-level page tables in the
// page-aligned region [base, limit).
func NewPageTableBuilder(levels int, base, limit uint64) (*PageTableBuilder, error) {
	if levels != 4 && levels != 5 {
		return nil, fmt.Errorf("x86test: %d levels, want 4 or 5", levels)
	}
	if base%x86.PageSize != 0 || limit%x86.PageSize != 0 || limit <= base || limit&^x86.EntryAddrMask != 0 {
		return nil, fmt.Errorf("x86test: table region 0x%x..0x%x is not page aligned and non-empty", base, limit)
	}
	b := &PageTableBuilder{levels: levels, base: base, limit: limit}
	b.alloc()
	return b, nil
}

// SetSMEMask makes every entry written from now on carry mask (the AMD SME
// encryption bit), as a kernel with memory encryption active does.
func (b *PageTableBuilder) SetSMEMask(mask uint64) { b.sme = mask }

// Root is the physical address of the top-level table.
func (b *PageTableBuilder) Root() uint64 { return b.base }

// Base is the physical address of the first table page (the root).
func (b *PageTableBuilder) Base() uint64 { return b.base }

// End is the physical address just past the last table page allocated.
func (b *PageTableBuilder) End() uint64 { return b.base + uint64(len(b.pages))*x86.PageSize }

// Bytes returns the table pages, contiguous from Base to End: the bytes to
// place in physical memory at Base. The result is a copy.
func (b *PageTableBuilder) Bytes() []byte {
	out := make([]byte, 0, len(b.pages)*int(x86.PageSize))
	for _, p := range b.pages {
		out = append(out, p...)
	}
	return out
}

func (b *PageTableBuilder) alloc() (uint64, bool) {
	addr := b.End()
	if addr+x86.PageSize > b.limit {
		return 0, false
	}
	b.pages = append(b.pages, make([]byte, x86.PageSize))
	return addr, true
}

func (b *PageTableBuilder) walkOrder() []x86.Level {
	if b.levels == 5 {
		return []x86.Level{x86.LevelPGD, x86.LevelP4D, x86.LevelPUD, x86.LevelPMD, x86.LevelPTE}
	}
	return []x86.Level{x86.LevelPGD, x86.LevelPUD, x86.LevelPMD, x86.LevelPTE}
}

func (b *PageTableBuilder) index(vaddr uint64, l x86.Level) uint64 {
	shift := map[x86.Level]uint{x86.LevelP4D: 39, x86.LevelPUD: 30, x86.LevelPMD: 21, x86.LevelPTE: 12}[l]
	if l == x86.LevelPGD {
		shift = 39
		if b.levels == 5 {
			shift = 48
		}
	}
	return (vaddr >> shift) % 512
}

// Entry returns the entry at physical address addr, which must be in the
// builder's tables.
func (b *PageTableBuilder) Entry(addr uint64) (uint64, error) {
	p, off, err := b.locate(addr)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p[off:]), nil
}

// SetEntry overwrites the entry at physical address addr with a raw value,
// for tests of damaged tables.
func (b *PageTableBuilder) SetEntry(addr, value uint64) error {
	p, off, err := b.locate(addr)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(p[off:], value)
	return nil
}

func (b *PageTableBuilder) locate(addr uint64) ([]byte, uint64, error) {
	if addr < b.base || addr >= b.End() || addr%8 != 0 {
		return nil, 0, fmt.Errorf("x86test: 0x%x is not an entry of the tables at 0x%x..0x%x", addr, b.base, b.End())
	}
	i := (addr - b.base) / x86.PageSize
	return b.pages[i], addr % x86.PageSize, nil
}

// EntryAddr returns the physical address of the entry that maps vaddr at
// level l, following the tables built so far.
func (b *PageTableBuilder) EntryAddr(vaddr uint64, l x86.Level) (uint64, error) {
	table := b.base
	for _, lvl := range b.walkOrder() {
		addr := table + b.index(vaddr, lvl)*8
		if lvl == l {
			return addr, nil
		}
		e, err := b.Entry(addr)
		if err != nil {
			return 0, err
		}
		if e&1 == 0 || e&flagPSE != 0 {
			return 0, fmt.Errorf("x86test: 0x%x has no %v table (stops at %v)", vaddr, l, lvl)
		}
		table = e & x86.EntryAddrMask &^ b.sme
	}
	return 0, fmt.Errorf("x86test: no level %v in %d-level paging", l, b.levels)
}

// Map maps [vaddr, vaddr+size) to [paddr, paddr+size) with pages of
// pageSize (x86.PageSize, x86.PageSize2M or x86.PageSize1G); all three
// numbers must be multiples of pageSize. Existing mappings are not replaced:
// mapping over one is an error.
func (b *PageTableBuilder) Map(vaddr, paddr, size, pageSize uint64) error {
	var leafLevel x86.Level
	switch pageSize {
	case x86.PageSize:
		leafLevel = x86.LevelPTE
	case x86.PageSize2M:
		leafLevel = x86.LevelPMD
	case x86.PageSize1G:
		leafLevel = x86.LevelPUD
	default:
		return fmt.Errorf("x86test: page size 0x%x, want 4 KiB, 2 MiB or 1 GiB", pageSize)
	}
	if vaddr%pageSize != 0 || paddr%pageSize != 0 || size%pageSize != 0 {
		return fmt.Errorf("x86test: map 0x%x -> 0x%x size 0x%x not aligned to page size 0x%x", vaddr, paddr, size, pageSize)
	}
	if paddr+size < paddr || paddr+size > 1<<52 {
		return fmt.Errorf("x86test: physical range 0x%x+0x%x beyond 52 bits", paddr, size)
	}
	for off := uint64(0); off < size; off += pageSize {
		if err := b.mapOne(vaddr+off, paddr+off, leafLevel); err != nil {
			return err
		}
	}
	return nil
}

func (b *PageTableBuilder) mapOne(vaddr, paddr uint64, leaf x86.Level) error {
	table := b.base
	for _, lvl := range b.walkOrder() {
		addr := table + b.index(vaddr, lvl)*8
		e, err := b.Entry(addr)
		if err != nil {
			return err
		}
		if lvl == leaf {
			if e&1 != 0 {
				return fmt.Errorf("x86test: 0x%x is already mapped at %v", vaddr, lvl)
			}
			v := paddr | flagsLeaf | b.sme
			if leaf != x86.LevelPTE {
				v |= flagPSE
			}
			return b.SetEntry(addr, v)
		}
		if e&1 == 0 {
			next, ok := b.alloc()
			if !ok {
				return fmt.Errorf("x86test: table region 0x%x..0x%x is full", b.base, b.limit)
			}
			if err := b.SetEntry(addr, next|flagsTable|b.sme); err != nil {
				return err
			}
			table = next
			continue
		}
		if e&flagPSE != 0 {
			return fmt.Errorf("x86test: 0x%x is already mapped by a large page at %v", vaddr, lvl)
		}
		table = e & x86.EntryAddrMask &^ b.sme
	}
	return fmt.Errorf("x86test: no level %v in %d-level paging", leaf, b.levels)
}
