package mm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Memory reads the crashed kernel's memory. ReadVirt translates kernel
// virtual addresses (direct map, vmemmap) through the dump's page tables.
// Both return how many bytes were read; a short read comes with an error.
type Memory interface {
	ReadVirt(p []byte, vaddr uint64) (int, error)
	ReadPhys(p []byte, addr uint64) (int, error)
}

// ReadError is a failed read of kernel memory while walking mem_section or
// struct pages.
type ReadError struct {
	What  string // what was being read
	Vaddr uint64
	Err   error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("mm: reading %s at %#x: %v", e.What, e.Vaddr, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// ErrNoSections means no plausible present section was found through
// SYMBOL(mem_section), read either as the root array or as a pointer to it.
var ErrNoSections = errors.New("mm: mem_section has no present section with a kernel address")

// Section is one present memory section and where its struct pages are.
type Section struct {
	Nr       uint64
	StartPFN uint64
	// MemMap is the kernel virtual address of the struct page of StartPFN
	// (vmemmap on x86_64): the decoded section_mem_map.
	MemMap uint64
}

// kernelHalf is the lowest canonical kernel address on x86_64 with 5-level
// paging (with 4-level paging it is 0xffff800000000000, and addresses in
// between fail translation anyway); a decoded mem_map below it is garbage
// (makedumpfile's is_kvaddr test). With 5-level paging KASLR puts vmemmap
// anywhere in the larger kernel half, e.g. 0xfff5cd30c0000000.
const kernelHalf = 0xff00000000000000

// maxSectionsTable bounds the decoded-section table: 2^22 sections of
// 128 MiB are 512 TiB, 32 MiB of table. A max pfn beyond is refused.
const maxSectionsTable = 1 << 22

// Sections is the decoded mem_section table for pfns below a max pfn.
type Sections struct {
	layout *Layout
	maps   []uint64 // per section: decoded mem_map, 0 when not present
	first  uint64   // first present section's number
}

// ReadSections walks mem_section for every section holding a pfn below
// maxPFN. With SPARSEMEM_EXTREME, SYMBOL(mem_section) is the root array's
// address (4.15's "kdump: write correct address of mem_section into
// vmcoreinfo"); a kernel that exported the pointer's own address instead is
// handled as makedumpfile does: if the array reading finds no plausible
// section, dereference once and try again.
func ReadSections(l *Layout, mem Memory, maxPFN uint64) (*Sections, error) {
	s, err := newSections(l, maxPFN)
	if err != nil {
		return nil, err
	}
	err = s.readExtremeOrFlat(mem)
	if err == nil || l.Extreme {
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	// LENGTH(mem_section) said plain SPARSEMEM, but x86_64 kernels are
	// built with SPARSEMEM_EXTREME, whose root count is computed at run
	// time: a value that fits neither reading must not stop us, so try the
	// root array too.
	ex := *l
	ex.Extreme, ex.SectionsPerRoot, ex.RootCount = true, l.PageSize/uint64(l.SizeMemSection), 0
	s2, err2 := newSections(&ex, maxPFN)
	if err2 != nil {
		return nil, err
	}
	if s2.readExtremeOrFlat(mem) != nil {
		return nil, err
	}
	return s2, nil
}

func newSections(l *Layout, maxPFN uint64) (*Sections, error) {
	pps := l.PagesPerSection()
	nsec := (maxPFN + pps - 1) / pps
	nsec = min(nsec, l.NrMemSections())
	if l.RootCount > 0 {
		// The kernel's own array bound: LENGTH(mem_section) roots.
		nsec = min(nsec, l.RootCount*l.SectionsPerRoot)
	}
	if nsec > maxSectionsTable {
		return nil, fmt.Errorf("mm: max pfn %#x needs %d memory sections, more than the %d this reader accepts", maxPFN, nsec, maxSectionsTable)
	}
	return &Sections{layout: l, maps: make([]uint64, nsec)}, nil
}

// readExtremeOrFlat reads the table as s.layout says; with
// SPARSEMEM_EXTREME it retries through the pointer SYMBOL(mem_section) may
// be (4.15-rc).
func (s *Sections) readExtremeOrFlat(mem Memory) error {
	l := s.layout
	err := s.read(mem, l.MemSection)
	if err == nil {
		return nil
	}
	if !l.Extreme {
		return err
	}
	var p [8]byte
	if _, rerr := mem.ReadVirt(p[:], l.MemSection); rerr != nil {
		return err
	}
	clear(s.maps)
	if err2 := s.read(mem, binary.LittleEndian.Uint64(p[:])); err2 != nil {
		return fmt.Errorf("%w (read as a pointer to the root array: %v)", err, err2)
	}
	return nil
}

// read decodes all sections through the root array at base. It fails when a
// present section decodes to a non-kernel address or none is present.
func (s *Sections) read(mem Memory, base uint64) error {
	l := s.layout
	nsec := uint64(len(s.maps))
	per := l.SectionsPerRoot
	secSize := uint64(l.SizeMemSection)
	flagMask := uint64(1)<<l.SectionFlagBits - 1
	buf := make([]byte, l.PageSize) // one root's sections at most
	found := false
	var rootPtrs [512]uint64 // root pointers, read 4 KiB at a time
	var rootBytes [4096]byte
	for root := uint64(0); root*per < nsec; root++ {
		var rootAddr uint64
		if l.Extreme {
			if root%512 == 0 {
				nroots := (nsec + per - 1) / per
				k := min(512, nroots-root)
				b := rootBytes[:k*8]
				if _, err := mem.ReadVirt(b, base+root*8); err != nil {
					return &ReadError{What: fmt.Sprintf("mem_section roots %d..%d", root, root+k-1), Vaddr: base + root*8, Err: err}
				}
				for i := uint64(0); i < k; i++ {
					rootPtrs[i] = binary.LittleEndian.Uint64(b[i*8:])
				}
			}
			rootAddr = rootPtrs[root%512]
			if rootAddr == 0 {
				continue // no section of this root was ever present
			}
		} else {
			rootAddr = base + root*secSize
		}
		count := min(per, nsec-root*per)
		b := buf[:count*secSize]
		if _, err := mem.ReadVirt(b, rootAddr); err != nil {
			return &ReadError{What: fmt.Sprintf("mem_section sections %d..%d", root*per, root*per+count-1), Vaddr: rootAddr, Err: err}
		}
		for i := uint64(0); i < count; i++ {
			nr := root*per + i
			word := binary.LittleEndian.Uint64(b[i*secSize+uint64(l.OffSectionMap):])
			// Only SECTION_MARKED_PRESENT counts: since 5.3 a hot-removed
			// section may keep an encoded map with the bit clear.
			if word&1 == 0 {
				continue
			}
			memMap := (word &^ flagMask) + nr*l.PagesPerSection()*uint64(l.StructPage)
			if memMap < kernelHalf || memMap+l.PagesPerSection()*uint64(l.StructPage) < memMap {
				return fmt.Errorf("mm: section %d: section_mem_map %#x decodes to %#x, not a kernel address", nr, word, memMap)
			}
			if !found {
				s.first = nr
			}
			found = true
			s.maps[nr] = memMap
		}
	}
	if !found {
		return ErrNoSections
	}
	return nil
}

// Len is the number of sections covered (present or not).
func (s *Sections) Len() uint64 { return uint64(len(s.maps)) }

// MemMap returns the struct page address of the section's first pfn, and
// whether the section is present.
func (s *Sections) MemMap(nr uint64) (uint64, bool) {
	if nr >= uint64(len(s.maps)) || s.maps[nr] == 0 {
		return 0, false
	}
	return s.maps[nr], true
}

// PageAddr returns the address of pfn's struct page.
func (s *Sections) PageAddr(pfn uint64) (uint64, bool) {
	pps := s.layout.PagesPerSection()
	m, ok := s.MemMap(pfn / pps)
	if !ok {
		return 0, false
	}
	return m + (pfn%pps)*uint64(s.layout.StructPage), true
}

// Each calls fn for every present section in ascending order.
func (s *Sections) Each(fn func(Section) error) error {
	pps := s.layout.PagesPerSection()
	for nr := s.first; nr < uint64(len(s.maps)); nr++ {
		if s.maps[nr] == 0 {
			continue
		}
		if err := fn(Section{Nr: nr, StartPFN: nr * pps, MemMap: s.maps[nr]}); err != nil {
			return err
		}
	}
	return nil
}
