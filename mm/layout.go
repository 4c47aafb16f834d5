package mm

import (
	"fmt"
	"math/bits"
	"strings"
)

// Symbols is the view of VMCOREINFO this package needs. SYMBOL values are
// addresses (hex in the note); SIZE, OFFSET, LENGTH and NUMBER are decimal.
// Each method reports whether the key was present.
type Symbols interface {
	Symbol(name string) (uint64, bool)
	Size(name string) (int64, bool)
	Offset(name string) (int64, bool)
	Length(name string) (int64, bool)
	Number(name string) (int64, bool)
}

// TypeEncoding says how a page type is stored in the word that struct page
// shares between _mapcount and page_type.
type TypeEncoding uint8

const (
	// TypeExact: the word equals the exported PAGE_*_MAPCOUNT_VALUE.
	// 2.6.38 to 4.17 used fixed negative mapcounts (buddy -128); 4.18
	// ("mm: split page_type out from _mapcount") made them inverted bit
	// flags under PAGE_TYPE_BASE (buddy ~0x80 = -129), and 6.11 moved the
	// flag bits up (buddy ~0x40000000). A page carries one type at a time,
	// so equality with the exported value is exact for all of them.
	TypeExact TypeEncoding = iota
	// TypeTopByte: 6.12 ("mm: support only one page_type per page") keeps a
	// PGTY_* value in the top byte (PGTY_buddy = 0xf0) and lets the owner
	// use the low 24 bits; the exported value is PGTY_x << 24. The kernel
	// tests page_type >> 24, and so do we.
	TypeTopByte
)

func (e TypeEncoding) String() string {
	if e == TypeTopByte {
		return "top byte (6.12+)"
	}
	return "exact mapcount value (2.6.38-6.11)"
}

// OrderSource says where the order of a compound page is kept.
type OrderSource uint8

const (
	// OrderUnknown: no key tells; compound pages are treated as single
	// pages (as makedumpfile does).
	OrderUnknown OrderSource = iota
	// OrderLRUPrev: before 4.4 the order sat in the first tail page's
	// lru.prev.
	OrderLRUPrev
	// OrderTailByte: 4.4-6.2 page[1].compound_order, 6.3-6.5
	// folio._folio_order: a small integer at a fixed offset of the first
	// tail page. Its width changed (unsigned int on 64-bit 4.4-4.15,
	// unsigned char since 4.16) but the value is below 256, so reading the
	// low byte is right on little-endian x86_64 for every width.
	OrderTailByte
	// OrderFlags1: 6.6 ("mm: free up a word in the first tail page") keeps
	// the order in the low byte of the first tail page's flags
	// (folio._flags_1).
	OrderFlags1
)

// HugetlbSource says how a hugetlbfs compound page is recognised.
type HugetlbSource uint8

const (
	HugetlbUnknown HugetlbSource = iota
	// HugetlbDtorPointer: before 4.4 the destructor pointer in the first
	// tail page's lru.next equals SYMBOL(free_huge_page).
	HugetlbDtorPointer
	// HugetlbDtorIndex: 4.4-6.5 the destructor index (page[1].compound_dtor,
	// 6.3+ folio._folio_dtor) equals NUMBER(HUGETLB_PAGE_DTOR).
	HugetlbDtorIndex
	// HugetlbFlag1: 6.6-6.8 bit NUMBER(PG_hugetlb) of folio._flags_1.
	HugetlbFlag1
	// HugetlbPageType: 6.9+ ("mm: turn folio_test_hugetlb into a
	// PageType") the head's page_type is PAGE_HUGETLB_MAPCOUNT_VALUE.
	HugetlbPageType
)

// Defaults for x86_64 kernels too old to export the sparsemem geometry
// (NUMBER(SECTION_SIZE_BITS) and NUMBER(MAX_PHYSMEM_BITS) arrived in 5.x).
const (
	x86SectionSizeBits   = 27 // arch/x86/include/asm/sparsemem.h, unchanged since 2.6.
	x86MaxPhysmemBits4L  = 46 // 4-level paging since 2.6.31.
	x86MaxPhysmemBits5L  = 52 // 5-level paging (4.14+).
	x86PageShift         = 12
	defaultFreeAreaOrder = 11 // LENGTH(zone.free_area) on x86_64: MAX_ORDER 11, NR_PAGE_ORDERS 11.

	// sectionFlagBits is how many low bits of section_mem_map we clear.
	// SECTION_MAP_LAST_BIT grew: 2 flag bits before 4.13 (present,
	// has_mem_map), 3 in 4.13 (is_online), 4 in 5.3 (is_early), 5 in 5.12
	// (taint_zone_device), up to 6 in 6.15+ (is_vmemmap_preinit, when
	// CONFIG_SPARSEMEM_VMEMMAP_PREINIT). The encoded pointer is always
	// page-aligned (mmzone.h: "All mem_map arrays are page-aligned" and the
	// pfn part clears PFN_SECTION_SHIFT bits), so clearing the largest
	// count is right for every version, while a smaller one would leave a
	// newer kernel's flag in the address.
	sectionFlagBits = 6

	// maxCompoundOrder bounds a compound page's order: x86_64's largest
	// folio is a 1 GiB gigantic page (PUD_ORDER 18). makedumpfile accepts
	// any order below 64, which lets one corrupt head page swallow the rest
	// of memory; we treat orders above 18 as corrupt (single page).
	maxCompoundOrder = 18
)

// Layout is everything about struct page and mem_section that is picked once
// from the VMCOREINFO keys present. Offsets are byte offsets within a struct
// page; a negative offset means the field is not known. Flag numbers are bit
// numbers in page->flags, -1 when absent.
type Layout struct {
	PageSize      uint64 // 4096 on x86_64
	PageShift     uint
	StructPage    int64 // SIZE(page)
	OffFlags      int64
	OffMapping    int64
	OffMapcount   int64 // _mapcount, which shares its word with page_type since 4.18
	OffPrivate    int64
	OffCompound   int64 // compound_head (4.4+), renamed compound_info in 7.1
	CompoundMask  bool  // 7.1+: a tail's compound_info may hold a mask instead of the head's address
	HeadMask      uint64
	PGLRU         int
	PGPrivate     int
	PGSwapCache   int
	PGSwapBacked  int // exported since 4.10; before it, PG_swapcache alone marks swap cache
	PGSlab        int // a page flag until 6.9; 6.10 made slab a page type
	PGHWPoison    int // only with CONFIG_MEMORY_FAILURE
	PGBuddy       int // a page flag before 2.6.38
	PGHugetlb     int // 6.6-6.8, a flag of folio._flags_1
	Encoding      TypeEncoding
	Buddy         TypeValue // NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE), 2.6.38+
	Offline       TypeValue // NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE), 5.0+
	SlabType      TypeValue // NUMBER(PAGE_SLAB_MAPCOUNT_VALUE), 6.10+
	HugetlbType   TypeValue // NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE), 6.9+
	Unaccepted    TypeValue // NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE), 6.16+ with CONFIG_UNACCEPTED_MEMORY
	Order         OrderSource
	OffOrder      int64 // offset within the first tail page (OrderLRUPrev, OrderTailByte)
	Hugetlb       HugetlbSource
	OffDtor       int64  // offset within the first tail page (HugetlbDtor*)
	HugetlbDtor   uint64 // NUMBER(HUGETLB_PAGE_DTOR) or SYMBOL(free_huge_page)
	FreeAreaOrder uint   // LENGTH(zone.free_area): a buddy order must be below it

	// Sparse memory model.
	MemSection      uint64 // SYMBOL(mem_section)
	SizeMemSection  int64
	OffSectionMap   int64
	Extreme         bool // SPARSEMEM_EXTREME: mem_section is an array of root pointers
	SectionsPerRoot uint64
	RootCount       uint64 // LENGTH(mem_section) when exported, else 0
	SectionSizeBits uint
	MaxPhysmemBits  uint
	SectionFlagBits uint

	// Notes lists what was guessed or left out for want of a key, for the
	// collector's messages. Classification still works.
	Notes []string
}

// TypeValue is an exported PAGE_*_MAPCOUNT_VALUE, kept as the 32-bit word
// the kernel stores.
type TypeValue struct {
	Word    uint32
	Present bool
}

// MissingKeysError says which VMCOREINFO keys classification needs but did
// not find. The collector then keeps every page but zero pages.
type MissingKeysError struct {
	Keys []string
}

func (e *MissingKeysError) Error() string {
	return "mm: cannot classify pages, VMCOREINFO lacks " + strings.Join(e.Keys, ", ")
}

// LayoutError reports a key whose value cannot be right.
type LayoutError struct {
	Key   string
	Value int64
	Msg   string
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("mm: VMCOREINFO %s=%d: %s", e.Key, e.Value, e.Msg)
}

// NewLayout picks the rules for the kernel that wrote syms.
func NewLayout(syms Symbols) (*Layout, error) {
	l := &Layout{PageSize: 1 << x86PageShift, PageShift: x86PageShift}
	var missing []string
	need := func(kind, name string, v int64, ok bool) int64 {
		if !ok {
			missing = append(missing, kind+"("+name+")")
			return -1
		}
		return v
	}
	off := func(name string) int64 {
		v, ok := syms.Offset(name)
		if !ok {
			return -1
		}
		return v
	}
	flag := func(name string) int {
		v, ok := syms.Number(name)
		if !ok || v < 0 || v > 63 {
			return -1
		}
		return int(v)
	}
	typeValue := func(name string) TypeValue {
		v, ok := syms.Number(name)
		// The kernel prints the int with %ld: -268435456 for 0xf0000000.
		// Either spelling maps to the same 32-bit word.
		return TypeValue{Word: uint32(v), Present: ok}
	}

	ms, ok := syms.Symbol("mem_section")
	if !ok {
		missing = append(missing, "SYMBOL(mem_section)")
	}
	l.MemSection = ms
	v, ok := syms.Size("mem_section")
	l.SizeMemSection = need("SIZE", "mem_section", v, ok)
	v, ok = syms.Offset("mem_section.section_mem_map")
	l.OffSectionMap = need("OFFSET", "mem_section.section_mem_map", v, ok)
	v, ok = syms.Size("page")
	l.StructPage = need("SIZE", "page", v, ok)
	v, ok = syms.Offset("page.flags")
	l.OffFlags = need("OFFSET", "page.flags", v, ok)
	v, ok = syms.Offset("page.mapping")
	l.OffMapping = need("OFFSET", "page.mapping", v, ok)
	v, ok = syms.Number("PG_lru")
	l.PGLRU = int(need("NUMBER", "PG_lru", v, ok))
	v, ok = syms.Number("PG_private")
	l.PGPrivate = int(need("NUMBER", "PG_private", v, ok))
	v, ok = syms.Number("PG_head_mask")
	l.HeadMask = uint64(need("NUMBER", "PG_head_mask", v, ok))

	l.OffMapcount = off("page._mapcount")
	l.OffPrivate = off("page.private")
	l.OffCompound = off("page.compound_head")
	if l.OffCompound < 0 {
		// 7.1: "mm: rename the 'compound_head' field in the 'struct page'
		// to 'compound_info'"; with HVO the tail holds a mask then.
		if o := off("page.compound_info"); o >= 0 {
			l.OffCompound = o
			l.CompoundMask = true
		}
	}
	l.PGSwapCache = flag("PG_swapcache")
	l.PGSwapBacked = flag("PG_swapbacked")
	l.PGSlab = flag("PG_slab")
	l.PGHWPoison = flag("PG_hwpoison")
	l.PGBuddy = flag("PG_buddy")
	l.PGHugetlb = flag("PG_hugetlb")
	l.Buddy = typeValue("PAGE_BUDDY_MAPCOUNT_VALUE")
	l.Offline = typeValue("PAGE_OFFLINE_MAPCOUNT_VALUE")
	l.SlabType = typeValue("PAGE_SLAB_MAPCOUNT_VALUE")
	l.HugetlbType = typeValue("PAGE_HUGETLB_MAPCOUNT_VALUE")
	l.Unaccepted = typeValue("PAGE_UNACCEPTED_MAPCOUNT_VALUE")

	// Slab must be recognisable: since 6.2 a slab's fields overlay
	// page->mapping, and an odd value there would pass for an anonymous
	// page, dropping kernel data at -d 8.
	if l.PGSlab < 0 && !l.SlabType.Present {
		missing = append(missing, "NUMBER(PG_slab) or NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)")
	}
	if l.Buddy.Present && l.OffMapcount < 0 {
		missing = append(missing, "OFFSET(page._mapcount)")
	}
	if len(missing) > 0 {
		return nil, &MissingKeysError{Keys: missing}
	}

	if err := l.checkStructPage(); err != nil {
		return nil, err
	}

	// Page-type generation, from the shape of the exported buddy value.
	if l.Buddy.Present && l.Buddy.Word&0x00ffffff == 0 {
		l.Encoding = TypeTopByte
	}
	if (l.Buddy.Present || l.PGBuddy >= 0) && l.OffPrivate < 0 {
		l.Notes = append(l.Notes, "no OFFSET(page.private): free pages are kept")
	}
	if !l.Buddy.Present && l.PGBuddy < 0 {
		l.Notes = append(l.Notes, "no NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE): free pages are kept")
	}

	l.FreeAreaOrder = defaultFreeAreaOrder
	if n, ok := syms.Length("zone.free_area"); ok {
		if n < 1 || n > 64 {
			return nil, &LayoutError{Key: "LENGTH(zone.free_area)", Value: n, Msg: "want 1..64 buddy orders"}
		}
		l.FreeAreaOrder = uint(n)
	} else {
		l.Notes = append(l.Notes, fmt.Sprintf("no LENGTH(zone.free_area): assuming %d buddy orders", defaultFreeAreaOrder))
	}

	l.pickCompound(syms)
	if err := l.pickSparse(syms); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Layout) checkStructPage() error {
	if l.StructPage < 32 || l.StructPage > 512 {
		return &LayoutError{Key: "SIZE(page)", Value: l.StructPage, Msg: "want 32..512 bytes"}
	}
	fields := []struct {
		key  string
		off  int64
		size int64
	}{
		{"OFFSET(page.flags)", l.OffFlags, 8},
		{"OFFSET(page.mapping)", l.OffMapping, 8},
		{"OFFSET(page._mapcount)", l.OffMapcount, 4},
		{"OFFSET(page.private)", l.OffPrivate, 8},
		{"OFFSET(page.compound_head)", l.OffCompound, 8},
	}
	for _, f := range fields {
		if f.off < 0 && f.key != "OFFSET(page.flags)" && f.key != "OFFSET(page.mapping)" {
			continue // optional field, absent
		}
		if f.off < 0 || f.off+f.size > l.StructPage {
			return &LayoutError{Key: f.key, Value: f.off, Msg: fmt.Sprintf("field of %d bytes does not fit a %d-byte struct page", f.size, l.StructPage)}
		}
	}
	for _, b := range []struct {
		key string
		bit int
	}{{"NUMBER(PG_lru)", l.PGLRU}, {"NUMBER(PG_private)", l.PGPrivate}} {
		if b.bit < 0 || b.bit > 63 {
			return &LayoutError{Key: b.key, Value: int64(b.bit), Msg: "want a bit number 0..63"}
		}
	}
	if l.HeadMask == 0 || bits.OnesCount64(l.HeadMask) != 1 {
		return &LayoutError{Key: "NUMBER(PG_head_mask)", Value: int64(l.HeadMask), Msg: "want a single bit"}
	}
	return nil
}

// pickCompound chooses where the compound order and the hugetlb mark are,
// in the order makedumpfile checks them (newest first).
func (l *Layout) pickCompound(syms Symbols) {
	fits := func(o, size int64) bool { return o >= 0 && o+size <= l.StructPage }
	folioTail := func(name string) int64 {
		// folio offsets count from the head page; the field is in page[1].
		o, ok := syms.Offset(name)
		if !ok || o < l.StructPage || !fits(o-l.StructPage, 1) {
			return -1
		}
		return o - l.StructPage
	}
	switch {
	case l.HugetlbType.Present:
		l.Order, l.Hugetlb = OrderFlags1, HugetlbPageType
	case l.PGHugetlb >= 0:
		l.Order, l.Hugetlb = OrderFlags1, HugetlbFlag1
	case l.SlabType.Present || l.CompoundMask:
		// 6.10+ without CONFIG_HUGETLB_PAGE... except the hugetlb value is
		// exported unconditionally since 6.9, so this is defensive only.
		l.Order = OrderFlags1
	default:
		if o := folioTail("folio._folio_order"); o >= 0 {
			l.Order, l.OffOrder = OrderTailByte, o
		} else if o, ok := syms.Offset("page.compound_order"); ok && fits(o, 1) {
			l.Order, l.OffOrder = OrderTailByte, o
		} else if l.OffCompound < 0 {
			// No compound_head either: a kernel before 4.4, where the order
			// was kept in the first tail's lru.prev.
			lru, ok1 := syms.Offset("page.lru")
			prev, ok2 := syms.Offset("list_head.prev")
			if ok1 && ok2 && fits(lru+prev, 8) {
				l.Order, l.OffOrder = OrderLRUPrev, lru+prev
			}
		}
		dtor, hasDtor := syms.Number("HUGETLB_PAGE_DTOR")
		if o := folioTail("folio._folio_dtor"); o >= 0 && hasDtor {
			l.Hugetlb, l.OffDtor, l.HugetlbDtor = HugetlbDtorIndex, o, uint64(dtor)
		} else if o, ok := syms.Offset("page.compound_dtor"); ok && hasDtor && fits(o, 1) {
			l.Hugetlb, l.OffDtor, l.HugetlbDtor = HugetlbDtorIndex, o, uint64(dtor)
		} else if fn, ok := syms.Symbol("free_huge_page"); ok && l.Order == OrderLRUPrev {
			lru, _ := syms.Offset("page.lru")
			next, ok2 := syms.Offset("list_head.next")
			if ok2 && fits(lru+next, 8) {
				l.Hugetlb, l.OffDtor, l.HugetlbDtor = HugetlbDtorPointer, lru+next, fn
			}
		}
	}
	if l.Order == OrderUnknown {
		l.Notes = append(l.Notes, "compound page order unknown: compound pages are classified page by page")
	}
	if l.OffCompound < 0 {
		l.Notes = append(l.Notes, "no OFFSET(page.compound_head): tail pages are classified on their own")
	}
}

func (l *Layout) pickSparse(syms Symbols) error {
	l.SectionFlagBits = sectionFlagBits
	l.SectionSizeBits = x86SectionSizeBits
	if n, ok := syms.Number("SECTION_SIZE_BITS"); ok {
		if n <= int64(x86PageShift) || n > 40 {
			return &LayoutError{Key: "NUMBER(SECTION_SIZE_BITS)", Value: n, Msg: "want 13..40"}
		}
		l.SectionSizeBits = uint(n)
	} else {
		l.Notes = append(l.Notes, fmt.Sprintf("no NUMBER(SECTION_SIZE_BITS): assuming %d (x86_64)", x86SectionSizeBits))
	}
	l.MaxPhysmemBits = x86MaxPhysmemBits4L
	if n, ok := syms.Number("MAX_PHYSMEM_BITS"); ok {
		if n < int64(l.SectionSizeBits) || n > 64 {
			return &LayoutError{Key: "NUMBER(MAX_PHYSMEM_BITS)", Value: n, Msg: fmt.Sprintf("want %d..64", l.SectionSizeBits)}
		}
		l.MaxPhysmemBits = uint(n)
	} else {
		if n, ok := syms.Number("pgtable_l5_enabled"); ok && n == 1 {
			l.MaxPhysmemBits = x86MaxPhysmemBits5L
		}
		l.Notes = append(l.Notes, fmt.Sprintf("no NUMBER(MAX_PHYSMEM_BITS): assuming %d (x86_64)", l.MaxPhysmemBits))
	}
	if l.SizeMemSection < 8 || l.SizeMemSection > int64(l.PageSize) {
		return &LayoutError{Key: "SIZE(mem_section)", Value: l.SizeMemSection, Msg: fmt.Sprintf("want 8..%d", l.PageSize)}
	}
	if l.OffSectionMap < 0 || l.OffSectionMap+8 > l.SizeMemSection {
		return &LayoutError{Key: "OFFSET(mem_section.section_mem_map)", Value: l.OffSectionMap, Msg: "pointer does not fit struct mem_section"}
	}
	// SPARSEMEM_EXTREME when LENGTH(mem_section) is the number of roots
	// (NR_MEM_SECTIONS / SECTIONS_PER_ROOT) or absent; plain SPARSEMEM
	// exports NR_MEM_SECTIONS there (one section per "root").
	perRoot := l.PageSize / uint64(l.SizeMemSection)
	roots := (l.NrMemSections() + perRoot - 1) / perRoot
	n, ok := syms.Length("mem_section")
	if ok && n > 0 {
		l.RootCount = uint64(n)
	}
	switch {
	case !ok || uint64(n) == roots:
		l.Extreme, l.SectionsPerRoot = true, perRoot
	default:
		l.Extreme, l.SectionsPerRoot = false, 1
	}
	return nil
}

// PagesPerSection is 2^(SECTION_SIZE_BITS - PAGE_SHIFT).
func (l *Layout) PagesPerSection() uint64 { return 1 << (l.SectionSizeBits - l.PageShift) }

// NrMemSections is 2^(MAX_PHYSMEM_BITS - SECTION_SIZE_BITS).
func (l *Layout) NrMemSections() uint64 { return 1 << (l.MaxPhysmemBits - l.SectionSizeBits) }
