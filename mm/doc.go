// Package mm classifies the page frames of a crashed x86_64 Linux kernel by
// reading its struct page array, so the collector can leave pages out by
// makedumpfile's dump level (-d: 1 zero, 2 cache without private data,
// 4 all cache, 8 user data, 16 free; hwpoison and offline pages always).
//
// It needs only a VMCOREINFO view (Symbols) and a reader of kernel virtual
// memory (Memory):
//
//	l, err := mm.NewLayout(vmcoreinfo)       // rules for this kernel, once
//	secs, err := mm.ReadSections(l, mem, maxPFN) // decoded mem_section
//	c := mm.NewClassifier(l, mem, secs)      // one per goroutine
//	st, err := c.Exclude(bitmap, startPFN, n, mm.DumpLevel(31))
//
// A *MissingKeysError from NewLayout means classification is impossible;
// the collector then keeps every page but zero pages.
//
// # Design
//
// Rules are picked from the keys present, never from OSRELEASE, because
// distributions backport. Each page goes through makedumpfile's chain (the
// first matching rule wins, rules off at the level are skipped): tail page
// (kept, or covered by its head) → buddy → unaccepted → cache without
// private → cache → user (anonymous or hugetlb) → hwpoison → offline. A
// matched head or buddy page covers its whole compound page or block. A
// window may start inside a compound page or a free block: the head is
// found through compound_head, or by testing the aligned pfns below for a
// buddy head, so windows are classified independently of each other.
//
// # Generations
//
//	kernel   page type in _mapcount/page_type      slab          hugetlb mark                 compound order
//	4.0      buddy = -128 (2.6.38+)                PG_slab       lru.next==free_huge_page     page[1].lru.prev
//	4.4      "                                     PG_slab       compound_dtor==HUGETLB_PAGE_DTOR  page[1].compound_order
//	4.18     flags under 0xf0000000: buddy ~0x80   PG_slab       "                            "
//	5.0      + offline ~0x100                      PG_slab       "                            "
//	6.3      "                                     PG_slab       folio._folio_dtor            folio._folio_order
//	6.6      "                                     PG_slab       PG_hugetlb in _flags_1       _flags_1 & 0xff
//	6.9      + hugetlb ~0x800 (page type)          PG_slab       page type                    _flags_1 & 0xff
//	6.10     + slab ~0x1000                        page type     page type                    _flags_1 & 0xff
//	6.11     flags moved to the top (buddy ~0x40000000), still one exact value per type
//	6.12     PGTY_* in the top byte (buddy 0xf0<<24), low 24 bits free for the owner:
//	         compare page_type>>24, as the kernel does (exported values have zero low bits)
//	6.16     + unaccepted 0xf7<<24: MAX_PAGE_ORDER blocks outside the buddy lists
//	7.1      compound_head renamed compound_info; with HVO a tail holds a mask
//	         (head = tail address & mask) instead of the head's address
//
// Other rules: cache = PG_lru, or PG_swapcache with PG_swapbacked (4.10+
// exports PG_swapbacked; PG_swapcache aliases a filesystem flag); anonymous
// = mapping&1 and not slab (6.2 overlays slab fields on mapping); buddy
// order (page.private) must be below LENGTH(zone.free_area), else the page
// is kept; compound orders above 18 (x86_64's 1 GiB maximum) or heads not
// aligned to their order count as single pages.
//
// # Sparse memory
//
// SYMBOL(mem_section) is the root array for SPARSEMEM_EXTREME (x86_64's
// default; 4.15+ exports the array, not the pointer variable; we try the
// pointer too, as makedumpfile does) or the flat section array for plain
// SPARSEMEM (told apart by LENGTH(mem_section): the root count for EXTREME,
// NR_MEM_SECTIONS otherwise; the root count depends on the paging mode at
// run time, so a value fitting neither reading falls back to EXTREME). section_mem_map holds mem_map minus
// first_pfn*SIZE(page) with flag bits below SECTION_MAP_LAST_BIT: 2 flags
// before 4.13, 3 from 4.13, 4 from 5.3, 5 from 5.12, 6 with 7.x's
// SECTION_IS_VMEMMAP_PREINIT. The map is page-aligned, so clearing 6 bits
// is right for all. SECTION_SIZE_BITS (27) and MAX_PHYSMEM_BITS (46, or 52
// with 5-level paging) have x86_64 defaults for kernels that do not export
// them.
//
// # Where we differ from makedumpfile
//
// 6.12+ page types compare the top byte, not the whole word (makedumpfile
// 1.7.7+ compares the whole word; the same result while owners leave the
// low bits zero). Compound orders above 18 are refused (makedumpfile takes
// any order below 64, letting one corrupt head hide the rest of memory).
// Struct pages that cannot be read are kept (NoMemMap) instead of failing
// the dump.
package mm
