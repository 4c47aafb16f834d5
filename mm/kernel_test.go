package mm

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// This file builds synthetic crashed kernels: VMCOREINFO keys as each
// kernel generation exports them, a mem_section tree and a vmemmap of
// struct pages, served by a fake Memory that maps virtual addresses straight
// to byte slices (no page tables).

// fakeSyms is a VMCOREINFO view.
type fakeSyms struct {
	sym                    map[string]uint64
	size, off, length, num map[string]int64
}

func newFakeSyms() *fakeSyms {
	return &fakeSyms{sym: map[string]uint64{}, size: map[string]int64{}, off: map[string]int64{}, length: map[string]int64{}, num: map[string]int64{}}
}

func (s *fakeSyms) Symbol(n string) (uint64, bool) { v, ok := s.sym[n]; return v, ok }
func (s *fakeSyms) Size(n string) (int64, bool)    { v, ok := s.size[n]; return v, ok }
func (s *fakeSyms) Offset(n string) (int64, bool)  { v, ok := s.off[n]; return v, ok }
func (s *fakeSyms) Length(n string) (int64, bool)  { v, ok := s.length[n]; return v, ok }
func (s *fakeSyms) Number(n string) (int64, bool)  { v, ok := s.num[n]; return v, ok }

// del removes a key given as it is written in VMCOREINFO, e.g. "NUMBER(PG_slab)".
func (s *fakeSyms) del(key string) {
	kind, rest, _ := strings.Cut(key, "(")
	name := strings.TrimSuffix(rest, ")")
	switch kind {
	case "SYMBOL":
		delete(s.sym, name)
	case "SIZE":
		delete(s.size, name)
	case "OFFSET":
		delete(s.off, name)
	case "LENGTH":
		delete(s.length, name)
	case "NUMBER":
		delete(s.num, name)
	default:
		panic("bad key " + key)
	}
}

// fakeMem maps virtual address ranges to byte slices.
type fakeMem struct {
	regions []region // sorted by start
	reads   int
}

type region struct {
	start uint64
	data  []byte
}

func (m *fakeMem) add(start uint64, data []byte) {
	m.regions = append(m.regions, region{start, data})
	sort.Slice(m.regions, func(i, j int) bool { return m.regions[i].start < m.regions[j].start })
}

func (m *fakeMem) ReadVirt(p []byte, vaddr uint64) (int, error) {
	m.reads++
	done := 0
	for done < len(p) {
		a := vaddr + uint64(done)
		r := m.find(a)
		if r == nil {
			return done, fmt.Errorf("no mapping at %#x", a)
		}
		done += copy(p[done:], r.data[a-r.start:])
	}
	return done, nil
}

func (m *fakeMem) ReadPhys(p []byte, addr uint64) (int, error) {
	return 0, fmt.Errorf("no physical memory in this fake")
}

func (m *fakeMem) find(a uint64) *region {
	i := sort.Search(len(m.regions), func(i int) bool { return m.regions[i].start+uint64(len(m.regions[i].data)) > a })
	if i < len(m.regions) && m.regions[i].start <= a {
		return &m.regions[i]
	}
	return nil
}

// profile is one kernel generation: the keys it exports and how it marks
// page kinds in struct page. Flag numbers follow include/linux/page-flags.h
// of each version (x86_64, Debian config).
type profile struct {
	name string
	// page->flags bit numbers
	lru, private, swapcache, swapbacked, head, hwpoison int
	slabFlag                                            int // -1: slab is a page type
	hugetlbFlag                                         int // 6.6-6.8: bit in folio._flags_1
	// page type words as the kernel stores them in _mapcount/page_type
	buddy, offline, slab, hugetlb, unaccepted uint32 // 0: not exported
	// compound order and destructor
	orderKind   string // "lruprev", "byte", "flags1"
	orderOff    int64  // within page[1]
	dtorOff     int64  // within page[1]; -1 none
	dtorHugetlb uint64
	compound    string // "compound_head", "compound_info", ""
	maskTails   bool   // 7.1+ HVO mask in compound_info
	keys        func(s *fakeSyms)
}

func commonKeys(s *fakeSyms) {
	s.size["page"] = 64
	s.off["page.flags"] = 0
	s.off["page._refcount"] = 52
	s.off["page.mapping"] = 24
	s.off["page.lru"] = 8
	s.off["page._mapcount"] = 48
	s.off["page.private"] = 40
	s.off["list_head.next"] = 0
	s.off["list_head.prev"] = 8
	s.size["mem_section"] = 16
	s.off["mem_section.section_mem_map"] = 0
	s.length["zone.free_area"] = 11
}

// keys5_10 are 5.10's VMCOREINFO keys, which 6.1 shares but for its memory layout and
// 6.3 but for the folio fields that replace page.compound_*.
func keys5_10(s *fakeSyms) {
	commonKeys(s)
	s.off["page.compound_dtor"] = 16
	s.off["page.compound_order"] = 17
	s.off["page.compound_head"] = 8
	s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_swapbacked"], s.num["PG_slab"], s.num["PG_hwpoison"] = 4, 13, 10, 19, 9, 23
	s.num["PG_head_mask"] = 1 << 16
	s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -129
	s.num["PAGE_OFFLINE_MAPCOUNT_VALUE"] = -257
	s.num["HUGETLB_PAGE_DTOR"] = 2
	s.num["SECTION_SIZE_BITS"] = 27
	s.num["MAX_PHYSMEM_BITS"] = 46
	s.length["mem_section"] = 2048
}

func neg(v int64) uint32 { return uint32(v) }

var profiles = []profile{
	{
		// 4.12 (kernel/crash_core.c): no SECTION_SIZE_BITS, MAX_PHYSMEM_BITS
		// or PG_swapbacked; buddy is a fixed mapcount of -128.
		name: "4.12", lru: 5, private: 12, swapcache: 9, swapbacked: -1, head: 15, hwpoison: 23, slabFlag: 8, hugetlbFlag: -1,
		buddy: neg(-128), orderKind: "byte", orderOff: 20, dtorOff: 16, dtorHugetlb: 2, compound: "compound_head",
		keys: func(s *fakeSyms) {
			commonKeys(s)
			s.off["page.compound_dtor"] = 16
			s.off["page.compound_order"] = 20
			s.off["page.compound_head"] = 8
			s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_slab"], s.num["PG_hwpoison"] = 5, 12, 9, 8, 23
			s.num["PG_head_mask"] = 1 << 15
			s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -128
			s.num["HUGETLB_PAGE_DTOR"] = 2
			s.length["mem_section"] = 2048 // 2^(46-27) sections / 256 per root
		},
	},
	{
		// 5.10: page_type flags under PAGE_TYPE_BASE (4.18+), offline (5.0+).
		name: "5.10", lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: 9, hugetlbFlag: -1,
		buddy: neg(-129), offline: neg(-257), orderKind: "byte", orderOff: 17, dtorOff: 16, dtorHugetlb: 2, compound: "compound_head",
		keys: func(s *fakeSyms) {
			keys5_10(s)
		},
	},
	{
		// 6.1: as 5.10 (Debian bookworm's kernel).
		name: "6.1", lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: 9, hugetlbFlag: -1,
		buddy: neg(-129), offline: neg(-257), orderKind: "byte", orderOff: 17, dtorOff: 16, dtorHugetlb: 2, compound: "compound_head",
		keys: func(s *fakeSyms) {
			keys5_10(s)
			s.num["MAX_PHYSMEM_BITS"] = 52
			s.num["pgtable_l5_enabled"] = 1
			// Debian enables CONFIG_PAGE_EXTENSION: struct mem_section has
			// page_ext and a pad, 32 bytes, 128 per root.
			s.size["mem_section"] = 32
			s.length["mem_section"] = 262144 // 2^(52-27) / 128
		},
	},
	{
		// 6.3-6.5: folio._folio_dtor / _folio_order replace page.compound_*.
		name: "6.3", lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: 9, hugetlbFlag: -1,
		buddy: neg(-129), offline: neg(-257), orderKind: "byte", orderOff: 17, dtorOff: 16, dtorHugetlb: 2, compound: "compound_head",
		keys: func(s *fakeSyms) {
			keys5_10(s)
			delete(s.off, "page.compound_dtor")
			delete(s.off, "page.compound_order")
			s.off["folio._folio_dtor"] = 80
			s.off["folio._folio_order"] = 81
		},
	},
	{
		// 6.6-6.8: order in the low byte of folio._flags_1, PG_hugetlb there.
		name: "6.6", lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: 9, hugetlbFlag: 8,
		buddy: neg(-129), offline: neg(-257), orderKind: "flags1", dtorOff: -1, compound: "compound_head",
		keys: func(s *fakeSyms) {
			commonKeys(s)
			s.off["page.compound_head"] = 8
			s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_swapbacked"], s.num["PG_slab"], s.num["PG_hwpoison"] = 4, 13, 10, 19, 9, 23
			s.num["PG_head_mask"] = 1 << 16
			s.num["PG_hugetlb"] = 8 // PG_active: flags of the first tail may not use the order byte
			s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -129
			s.num["PAGE_OFFLINE_MAPCOUNT_VALUE"] = -257
			s.num["SECTION_SIZE_BITS"] = 27
			s.num["MAX_PHYSMEM_BITS"] = 46
			s.length["mem_section"] = 2048
		},
	},
	{
		// 6.9: hugetlb becomes a page type (~PG_hugetlb, 0x800).
		name: "6.9", lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: 9, hugetlbFlag: -1,
		buddy: neg(-129), offline: neg(-257), hugetlb: ^uint32(0x800), orderKind: "flags1", dtorOff: -1, compound: "compound_head",
		keys: func(s *fakeSyms) {
			commonKeys(s)
			s.off["page.compound_head"] = 8
			s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_swapbacked"], s.num["PG_slab"], s.num["PG_hwpoison"] = 4, 13, 10, 19, 9, 23
			s.num["PG_head_mask"] = 1 << 16
			s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -129
			s.num["PAGE_OFFLINE_MAPCOUNT_VALUE"] = -257
			s.num["PAGE_HUGETLB_MAPCOUNT_VALUE"] = -2049
			s.num["SECTION_SIZE_BITS"] = 27
			s.num["MAX_PHYSMEM_BITS"] = 46
			s.length["mem_section"] = 2048
		},
	},
	{
		// 6.10: slab becomes a page type (~PG_slab, 0x1000); PG_slab gone.
		name: "6.10", lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: -1, hugetlbFlag: -1,
		buddy: neg(-129), offline: neg(-257), hugetlb: ^uint32(0x800), slab: ^uint32(0x1000), orderKind: "flags1", dtorOff: -1, compound: "compound_head",
		keys: func(s *fakeSyms) {
			commonKeys(s)
			s.off["page.compound_head"] = 8
			s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_swapbacked"], s.num["PG_hwpoison"] = 4, 13, 10, 19, 23
			s.num["PG_head_mask"] = 1 << 16
			s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -129
			s.num["PAGE_OFFLINE_MAPCOUNT_VALUE"] = -257
			s.num["PAGE_HUGETLB_MAPCOUNT_VALUE"] = -2049
			s.num["PAGE_SLAB_MAPCOUNT_VALUE"] = -4097
			s.num["SECTION_SIZE_BITS"] = 27
			s.num["MAX_PHYSMEM_BITS"] = 46
			s.length["mem_section"] = 2048
		},
	},
	{
		// 6.12: one PGTY_* value in the top byte; the kernel prints the
		// shifted int with %ld, so the numbers are negative.
		name: "6.12", lru: 5, private: 14, swapcache: 10, swapbacked: 17, head: 6, hwpoison: 20, slabFlag: -1, hugetlbFlag: -1,
		buddy: 0xf0000000, offline: 0xf1000000, hugetlb: 0xf4000000, slab: 0xf5000000, orderKind: "flags1", dtorOff: -1, compound: "compound_head",
		keys: func(s *fakeSyms) {
			commonKeys(s)
			s.off["page.compound_head"] = 8
			s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_swapbacked"], s.num["PG_hwpoison"] = 5, 14, 10, 17, 20
			s.num["PG_head_mask"] = 1 << 6
			s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -268435456
			s.num["PAGE_OFFLINE_MAPCOUNT_VALUE"] = -251658240
			s.num["PAGE_HUGETLB_MAPCOUNT_VALUE"] = -201326592
			s.num["PAGE_SLAB_MAPCOUNT_VALUE"] = -184549376
			s.num["SECTION_SIZE_BITS"] = 27
			s.num["MAX_PHYSMEM_BITS"] = 46
			s.size["mem_section"] = 32     // as Debian's 6.12 exports (CONFIG_PAGE_EXTENSION)
			s.length["mem_section"] = 4096 // NR_SECTION_ROOTS at run time, 4-level paging
		},
	},
	{
		// 7.2: compound_info (7.1) with HVO's mask encoding, unaccepted
		// memory (6.16, CONFIG_UNACCEPTED_MEMORY), PG_dropbehind shifts
		// PG_hwpoison to 21.
		name: "7.2", lru: 5, private: 14, swapcache: 10, swapbacked: 17, head: 6, hwpoison: 21, slabFlag: -1, hugetlbFlag: -1,
		buddy: 0xf0000000, offline: 0xf1000000, hugetlb: 0xf4000000, slab: 0xf5000000, unaccepted: 0xf7000000,
		orderKind: "flags1", dtorOff: -1, compound: "compound_info", maskTails: true,
		keys: func(s *fakeSyms) {
			commonKeys(s)
			s.off["page.compound_info"] = 8
			s.num["PG_lru"], s.num["PG_private"], s.num["PG_swapcache"], s.num["PG_swapbacked"], s.num["PG_hwpoison"] = 5, 14, 10, 17, 21
			s.num["PG_head_mask"] = 1 << 6
			s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = -268435456
			s.num["PAGE_OFFLINE_MAPCOUNT_VALUE"] = -251658240
			s.num["PAGE_HUGETLB_MAPCOUNT_VALUE"] = -201326592
			s.num["PAGE_SLAB_MAPCOUNT_VALUE"] = -184549376
			s.num["PAGE_UNACCEPTED_MAPCOUNT_VALUE"] = -150994944
			s.num["SECTION_SIZE_BITS"] = 27
			s.num["MAX_PHYSMEM_BITS"] = 52
			s.length["mem_section"] = 131072
		},
	},
}

func profileByName(name string) profile {
	for _, p := range profiles {
		if p.name == name {
			return p
		}
	}
	panic("no profile " + name)
}

const (
	vmemmapBase  = 0xffffea0000000000
	rootArray    = 0xffff888000010000 // the mem_section root pointer array
	rootsStart   = 0xffff888000100000 // root pages, one per 4096/SIZE(mem_section) sections
	ptrVariable  = 0xffffffff82000000 // the mem_section pointer variable itself
	structPageSz = 64
)

// fakeKernel is a crashed kernel with present sections and struct pages.
type fakeKernel struct {
	p        profile
	syms     *fakeSyms
	mem      *fakeMem
	pps      uint64
	nsec     uint64
	vmemmap  map[uint64][]byte // section -> struct page bytes
	rootPage []byte
}

// newKernel builds a kernel whose sections 0..nsec-1 are present except
// those in absent. sectionBits overrides SECTION_SIZE_BITS when non-zero.
func newKernel(p profile, nsec uint64, sectionBits int64, absent ...uint64) *fakeKernel {
	k := &fakeKernel{p: p, syms: newFakeSyms(), mem: &fakeMem{}, nsec: nsec, vmemmap: map[uint64][]byte{}}
	p.keys(k.syms)
	if sectionBits != 0 {
		k.syms.num["SECTION_SIZE_BITS"] = sectionBits
	}
	bitsS, ok := k.syms.num["SECTION_SIZE_BITS"]
	if !ok {
		bitsS = 27
	}
	k.pps = 1 << (bitsS - 12)
	k.syms.sym["mem_section"] = rootArray
	isAbsent := map[uint64]bool{}
	for _, a := range absent {
		isAbsent[a] = true
	}
	msz := uint64(k.syms.size["mem_section"])
	per := 4096 / msz // sections per root
	roots := make([]byte, 8*((nsec+per-1)/per))
	for r := uint64(0); r*per < nsec; r++ {
		binary.LittleEndian.PutUint64(roots[r*8:], rootsStart+r*4096)
	}
	for r := uint64(0); r*per < nsec; r++ {
		page := make([]byte, 4096)
		for i := uint64(0); i < per && r*per+i < nsec; i++ {
			nr := r*per + i
			if isAbsent[nr] {
				continue
			}
			// Encoded: mem_map - first_pfn*SIZE(page), with flags present,
			// has_mem_map, online, early and (5.12+) taint bits set.
			binary.LittleEndian.PutUint64(page[i*msz:], vmemmapBase|0x1f)
			vm := make([]byte, k.pps*structPageSz)
			// Unused struct pages read as a fresh page: _mapcount -1.
			for j := uint64(0); j < k.pps; j++ {
				binary.LittleEndian.PutUint32(vm[j*structPageSz+48:], 0xffffffff)
				binary.LittleEndian.PutUint32(vm[j*structPageSz+52:], 1)
			}
			k.vmemmap[nr] = vm
			k.mem.add(vmemmapBase+nr*k.pps*structPageSz, vm)
		}
		if r == 0 {
			k.rootPage = page
		}
		k.mem.add(rootsStart+r*4096, page)
	}
	k.mem.add(rootArray, roots)
	return k
}

func (k *fakeKernel) maxPFN() uint64 { return k.nsec * k.pps }

func (k *fakeKernel) sp(pfn uint64) []byte {
	vm := k.vmemmap[pfn/k.pps]
	if vm == nil {
		panic(fmt.Sprintf("pfn %#x in an absent section", pfn))
	}
	o := (pfn % k.pps) * structPageSz
	return vm[o : o+structPageSz]
}

func (k *fakeKernel) setFlag(pfn uint64, b int) {
	s := k.sp(pfn)
	binary.LittleEndian.PutUint64(s, binary.LittleEndian.Uint64(s)|1<<uint(b))
}
func (k *fakeKernel) setWord(pfn uint64, off int, v uint64) {
	binary.LittleEndian.PutUint64(k.sp(pfn)[off:], v)
}
func (k *fakeKernel) setMapcount(pfn uint64, v uint32) {
	binary.LittleEndian.PutUint32(k.sp(pfn)[48:], v)
}

// free marks a buddy block of 2^order pages at pfn.
func (k *fakeKernel) free(pfn uint64, order uint64) {
	k.setMapcount(pfn, k.p.buddy)
	k.setWord(pfn, 40, order)
}

func (k *fakeKernel) slab(pfn uint64) {
	if k.p.slabFlag >= 0 {
		k.setFlag(pfn, k.p.slabFlag)
	} else {
		k.setMapcount(pfn, k.p.slab)
	}
	// 6.2+: slab.slabs overlays page->mapping; an odd count looks anonymous.
	k.setWord(pfn, 24, 0x3)
}

func (k *fakeKernel) anon(pfn uint64) {
	k.setWord(pfn, 24, 0xffff888012345001)
	k.setMapcount(pfn, 0)
	k.setFlag(pfn, k.p.lru)
	k.setFlag(pfn, k.p.swapbacked)
}

func (k *fakeKernel) cache(pfn uint64, private bool) {
	k.setWord(pfn, 24, 0xffff888012345600)
	k.setFlag(pfn, k.p.lru)
	if private {
		k.setFlag(pfn, k.p.private)
	}
}

// compound makes pfn the head of a 2^order compound page; mark then
// describes the head (anon, cache, slab, hugetlb...).
func (k *fakeKernel) compound(head uint64, order uint) {
	k.setFlag(head, k.p.head)
	next := k.sp(head + 1)
	switch k.p.orderKind {
	case "flags1":
		binary.LittleEndian.PutUint64(next, binary.LittleEndian.Uint64(next)|uint64(order))
	case "byte":
		next[k.p.orderOff] = byte(order)
	}
	headAddr := vmemmapBase + head*structPageSz
	for t := head + 1; t < head+1<<order; t++ {
		v := headAddr + 1
		if k.p.maskTails {
			v = ^uint64(0)<<(order+6) | 1
		}
		k.setWord(t, 8, v)
	}
}

func (k *fakeKernel) hugetlb(head uint64, order uint) {
	k.compound(head, order)
	switch {
	case k.p.hugetlb != 0:
		k.setMapcount(head, k.p.hugetlb)
	case k.p.hugetlbFlag >= 0:
		k.setFlag(head+1, k.p.hugetlbFlag)
	default:
		k.sp(head + 1)[k.p.dtorOff] = byte(k.p.dtorHugetlb)
	}
	k.setWord(head, 24, 0xffff888012347700) // hugetlbfs inode mapping
}

func (k *fakeKernel) layout() (*Layout, error) { return NewLayout(k.syms) }

func (k *fakeKernel) classifier() (*Classifier, error) {
	l, err := k.layout()
	if err != nil {
		return nil, err
	}
	s, err := ReadSections(l, k.mem, k.maxPFN())
	if err != nil {
		return nil, err
	}
	return NewClassifier(l, k.mem, s), nil
}

// types classifies [start, end) and returns the type of each pfn, failing
// on gaps, overlaps or disorder.
func types(c *Classifier, start, end uint64, level DumpLevel) ([]PageType, Stats, error) {
	out := make([]PageType, 0, end-start)
	var bad error
	st := c.Classify(start, end, level, func(pfn, n uint64, t PageType) {
		if bad != nil {
			return
		}
		if pfn != start+uint64(len(out)) || n == 0 || pfn+n > end {
			bad = fmt.Errorf("run [%#x,+%d) %v does not follow pfn %#x (window %#x..%#x)", pfn, n, t, start+uint64(len(out)), start, end)
			return
		}
		for i := uint64(0); i < n; i++ {
			out = append(out, t)
		}
	})
	if bad == nil && uint64(len(out)) != end-start {
		bad = fmt.Errorf("classified %d pfns of %d", len(out), end-start)
	}
	return out, st, bad
}
