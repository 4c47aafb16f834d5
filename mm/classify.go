package mm

import (
	"encoding/binary"
	"fmt"

	"github.com/gokdump/gokdump/internal/bitmap"
)

// PageType is what a page frame holds, as far as dump filtering cares.
type PageType uint8

const (
	Other           PageType = iota // kernel data and anything unrecognised: kept
	Free                            // in the buddy allocator (or unaccepted memory)
	CacheNotPrivate                 // page cache without fs-private data
	CachePrivate                    // page cache with PG_private set
	User                            // anonymous or hugetlbfs user data
	Slab                            // slab allocator: kept
	Offline                         // logically offline (balloon, unonlined): always left out
	HWPoison                        // hardware-poisoned: always left out
	NoMemMap                        // no readable struct page: kept
	NumPageTypes
)

var pageTypeNames = [NumPageTypes]string{"other", "free", "cache", "cache-private", "user", "slab", "offline", "hwpoison", "no-memmap"}

func (t PageType) String() string {
	if t < NumPageTypes {
		return pageTypeNames[t]
	}
	return fmt.Sprintf("PageType(%d)", uint8(t))
}

// DumpLevel is makedumpfile's -d mask.
type DumpLevel uint8

const (
	ExcludeZero            DumpLevel = 1  // zero-filled pages (checked on content by the collector)
	ExcludeCacheNotPrivate DumpLevel = 2  // page cache without private data
	ExcludeCache           DumpLevel = 4  // all page cache
	ExcludeUser            DumpLevel = 8  // user process data
	ExcludeFree            DumpLevel = 16 // free pages
	MaxDumpLevel           DumpLevel = 31
)

// Excludes reports whether pages of type t are left out at this level.
// HWPoison and Offline pages are left out at every level.
func (d DumpLevel) Excludes(t PageType) bool {
	switch t {
	case Free:
		return d&ExcludeFree != 0
	case CacheNotPrivate:
		return d&(ExcludeCacheNotPrivate|ExcludeCache) != 0
	case CachePrivate:
		return d&ExcludeCache != 0
	case User:
		return d&ExcludeUser != 0
	case Offline, HWPoison:
		return true
	}
	return false
}

// Stats counts pages per type, split by whether they were left out.
type Stats struct {
	Excluded [NumPageTypes]uint64
	Kept     [NumPageTypes]uint64
	// BadFreeOrder counts buddy pages whose order was not below
	// LENGTH(zone.free_area); they are kept, as makedumpfile does.
	BadFreeOrder uint64
	// BadCompoundOrder counts compound heads with an order above 18.
	BadCompoundOrder uint64
	// Unreadable counts pages whose struct page could not be read; they
	// are kept as NoMemMap. ReadErr is the first such error.
	Unreadable uint64
	ReadErr    error
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	for i := range s.Excluded {
		s.Excluded[i] += o.Excluded[i]
		s.Kept[i] += o.Kept[i]
	}
	s.BadFreeOrder += o.BadFreeOrder
	s.BadCompoundOrder += o.BadCompoundOrder
	s.Unreadable += o.Unreadable
	if s.ReadErr == nil {
		s.ReadErr = o.ReadErr
	}
}

// TotalExcluded is the number of pages left out.
func (s *Stats) TotalExcluded() uint64 {
	var n uint64
	for _, v := range s.Excluded {
		n += v
	}
	return n
}

// batchPages struct pages are read at once: 32 KiB with 64-byte pages,
// makedumpfile's PGMM_CACHED.
const batchPages = 512

// Classifier reads struct pages and classifies page frames. It holds one
// reusable batch buffer; use one Classifier per goroutine (they may share
// the Layout and Sections).
type Classifier struct {
	l    *Layout
	mem  Memory
	secs *Sections
	buf  []byte // batchPages struct pages
	one  []byte // scratch for single struct pages (head lookups)
	two  []byte
}

// NewClassifier returns a classifier over the sections read by ReadSections.
func NewClassifier(l *Layout, mem Memory, secs *Sections) *Classifier {
	sz := int(l.StructPage)
	return &Classifier{l: l, mem: mem, secs: secs,
		buf: make([]byte, batchPages*sz), one: make([]byte, sz), two: make([]byte, sz)}
}

// page is the part of a struct page the rules look at.
type page struct {
	flags, mapping, private, compound uint64
	mapcount                          uint32
}

func (c *Classifier) decode(b []byte) page {
	l := c.l
	var p page
	p.flags = binary.LittleEndian.Uint64(b[l.OffFlags:])
	p.mapping = binary.LittleEndian.Uint64(b[l.OffMapping:])
	if l.OffMapcount >= 0 {
		p.mapcount = binary.LittleEndian.Uint32(b[l.OffMapcount:])
	}
	if l.OffPrivate >= 0 {
		p.private = binary.LittleEndian.Uint64(b[l.OffPrivate:])
	}
	if l.OffCompound >= 0 {
		p.compound = binary.LittleEndian.Uint64(b[l.OffCompound:])
	}
	return p
}

func bit(flags uint64, nr int) bool { return nr >= 0 && flags&(1<<uint(nr)) != 0 }

// isType compares the _mapcount/page_type word with an exported value, by
// the page-type generation of the kernel.
func (l *Layout) isType(word uint32, v TypeValue) bool {
	if !v.Present || l.OffMapcount < 0 {
		return false
	}
	if l.Encoding == TypeTopByte {
		return word>>24 == v.Word>>24
	}
	return word == v.Word
}

func (l *Layout) isSlab(p *page) bool {
	return l.isType(p.mapcount, l.SlabType) || bit(p.flags, l.PGSlab)
}

func (l *Layout) isBuddy(p *page) bool {
	if l.OffPrivate < 0 {
		return false
	}
	if l.Buddy.Present { // 2.6.38+
		return !l.isSlab(p) && l.isType(p.mapcount, l.Buddy)
	}
	return bit(p.flags, l.PGBuddy)
}

func (l *Layout) isCache(p *page) bool {
	if bit(p.flags, l.PGLRU) {
		return true
	}
	// PG_swapcache aliases PG_owner_priv_1 (a filesystem's PG_checked) and
	// means swap cache only with PG_swapbacked; before 4.10 exported no
	// PG_swapbacked and PG_swapcache was a flag of its own.
	return (l.PGSwapBacked < 0 || bit(p.flags, l.PGSwapBacked)) && bit(p.flags, l.PGSwapCache)
}

func (l *Layout) isAnon(p *page) bool { return p.mapping&1 != 0 && !l.isSlab(p) }

// compound is a head page's order and hugetlb mark, read from page[1].
type compound struct {
	order   uint
	hugetlb bool
}

func (c *Classifier) compoundInfo(pfn uint64, head *page, next []byte) (compound, bool) {
	l := c.l
	var cp compound
	var order uint64
	switch l.Order {
	case OrderFlags1:
		order = binary.LittleEndian.Uint64(next[l.OffFlags:]) & 0xff
	case OrderTailByte:
		order = uint64(next[l.OffOrder])
	case OrderLRUPrev:
		order = binary.LittleEndian.Uint64(next[l.OffOrder:])
	}
	switch l.Hugetlb {
	case HugetlbPageType:
		cp.hugetlb = l.isType(head.mapcount, l.HugetlbType)
	case HugetlbFlag1:
		cp.hugetlb = bit(binary.LittleEndian.Uint64(next[l.OffFlags:]), l.PGHugetlb)
	case HugetlbDtorIndex:
		cp.hugetlb = uint64(next[l.OffDtor]) == l.HugetlbDtor
	case HugetlbDtorPointer:
		cp.hugetlb = binary.LittleEndian.Uint64(next[l.OffDtor:]) == l.HugetlbDtor
	}
	if order > maxCompoundOrder {
		return compound{hugetlb: cp.hugetlb}, false
	}
	// A head must be aligned to its size; a copy of a head seen through
	// HVO's shared vmemmap pages (a "fake head", 5.18-7.0) is not.
	if pfn&(1<<order-1) != 0 {
		order = 0
	}
	cp.order = uint(order)
	return cp, true
}

// rule is one page's verdict: its type, and how many pages from it the
// verdict covers (a buddy block or a whole compound page).
type rule struct {
	t       PageType
	n       uint64
	matched bool // a filtering rule matched (not just a label)
	badFree bool
}

// ruleChain is makedumpfile's order of tests. With gated set, only the
// rules enabled by level (and the always-on hwpoison and offline rules)
// apply; ungated, it names a kept page's type for the statistics.
func (c *Classifier) ruleChain(p *page, cp compound, level DumpLevel, gated bool) rule {
	l := c.l
	on := func(d DumpLevel) bool { return !gated || level&d != 0 }
	nr := uint64(1) << cp.order
	if on(ExcludeFree) && l.isBuddy(p) {
		if p.private >= uint64(l.FreeAreaOrder) {
			return rule{t: Other, n: 1, badFree: true}
		}
		return rule{t: Free, n: 1 << p.private, matched: true}
	}
	// 6.16+: unaccepted memory sits outside the buddy lists in blocks of
	// MAX_PAGE_ORDER.
	if on(ExcludeFree) && l.isType(p.mapcount, l.Unaccepted) {
		return rule{t: Free, n: 1 << (l.FreeAreaOrder - 1), matched: true}
	}
	if l.isCache(p) && !l.isAnon(p) {
		private := bit(p.flags, l.PGPrivate)
		if on(ExcludeCacheNotPrivate) && !private {
			return rule{t: CacheNotPrivate, n: nr, matched: true}
		}
		if on(ExcludeCache) {
			t := CacheNotPrivate
			if private {
				t = CachePrivate
			}
			return rule{t: t, n: nr, matched: true}
		}
	}
	if on(ExcludeUser) && (l.isAnon(p) || cp.hugetlb) {
		return rule{t: User, n: nr, matched: true}
	}
	if bit(p.flags, l.PGHWPoison) {
		return rule{t: HWPoison, n: nr, matched: true}
	}
	if !l.isSlab(p) && l.isType(p.mapcount, l.Offline) {
		return rule{t: Offline, n: nr, matched: true}
	}
	if l.isSlab(p) {
		return rule{t: Slab, n: nr}
	}
	return rule{t: Other, n: nr}
}

// walk is one Classify call's state.
type walk struct {
	c     *Classifier
	level DumpLevel
	end   uint64
	fn    func(pfn, n uint64, t PageType)
	stats Stats

	runStart, runLen uint64
	runType          PageType

	// label names the kept pages of [labelStart, labelEnd): tails of a kept
	// compound page, inner pages of a kept free block.
	labelStart, labelEnd uint64
	label                PageType
}

func (w *walk) emit(pfn, n uint64, t PageType) {
	if pfn >= w.end || n == 0 {
		return
	}
	n = min(n, w.end-pfn)
	if w.level.Excludes(t) {
		w.stats.Excluded[t] += n
	} else {
		w.stats.Kept[t] += n
	}
	if w.runLen > 0 && w.runType == t && w.runStart+w.runLen == pfn {
		w.runLen += n
		return
	}
	w.flush()
	w.runStart, w.runLen, w.runType = pfn, n, t
}

func (w *walk) flush() {
	if w.runLen > 0 && w.fn != nil {
		w.fn(w.runStart, w.runLen, w.runType)
	}
	w.runLen = 0
}

func (w *walk) labelFor(pfn uint64) (PageType, bool) {
	if pfn >= w.labelStart && pfn < w.labelEnd {
		return w.label, true
	}
	return Other, false
}

// Classify reports the type of every pfn in [start, end) exactly once, in
// ascending order, as runs fn(pfn, n, t); level.Excludes(t) says whether a
// run is left out. Pages before start are consulted when start falls inside
// a compound page or a free block, so windows can be classified in any
// order and in parallel (one Classifier each). Pfns without a present
// section or a readable struct page are NoMemMap.
func (c *Classifier) Classify(start, end uint64, level DumpLevel, fn func(pfn, n uint64, t PageType)) Stats {
	w := &walk{c: c, level: level, end: end, fn: fn}
	if start >= end {
		return w.stats
	}
	l := c.l
	pps := l.PagesPerSection()
	sz := uint64(l.StructPage)
	pfn := c.lookback(w, start)
	for pfn < end {
		sec := pfn / pps
		memMap, ok := c.secs.MemMap(sec)
		secEnd := min((sec+1)*pps, end)
		if !ok {
			if sec >= c.secs.Len() {
				secEnd = end
			}
			w.emit(pfn, secEnd-pfn, NoMemMap)
			pfn = secEnd
			continue
		}
		n := min(uint64(batchPages), secEnd-pfn)
		addr := memMap + (pfn-sec*pps)*sz
		got, err := c.mem.ReadVirt(c.buf[:n*sz], addr)
		valid := uint64(max(got, 0)) / sz
		if valid > n {
			valid = n
		}
		if err == nil && valid < n {
			err = fmt.Errorf("short read: %d of %d bytes", got, n*sz)
		}
		if valid == 0 {
			// Skip to the struct page in the next 4 KiB vmemmap page: the
			// vmemmap of a missing sub-section is simply not mapped.
			skip := max((((addr|0xfff)+1)-addr+sz-1)/sz, 1)
			skip = min(skip, secEnd-pfn)
			w.stats.Unreadable += skip
			if w.stats.ReadErr == nil {
				w.stats.ReadErr = &ReadError{What: fmt.Sprintf("struct page of pfn %#x", pfn), Vaddr: addr, Err: err}
			}
			w.emit(pfn, skip, NoMemMap)
			pfn += skip
			continue
		}
		batchStart := pfn
		for pfn < batchStart+valid && pfn < end {
			i := pfn - batchStart
			b := c.buf[i*sz : (i+1)*sz]
			var next []byte
			if i+1 < valid {
				next = c.buf[(i+1)*sz : (i+2)*sz]
			}
			pfn += c.step(w, pfn, b, next)
		}
	}
	w.flush()
	return w.stats
}

// step classifies the page at pfn (struct page b; next is page[1] when it
// is in the batch) and returns how many pfns it accounted for.
func (c *Classifier) step(w *walk, pfn uint64, b, next []byte) uint64 {
	l := c.l
	p := c.decode(b)
	if p.compound&1 != 0 {
		// A tail page: its head's verdict already covered it when the head
		// was left out; otherwise it is kept (makedumpfile does not test
		// tails), labelled as its head.
		t, _ := w.labelFor(pfn)
		w.emit(pfn, 1, t)
		return 1
	}
	var cp compound
	if p.flags&l.HeadMask != 0 && l.Order != OrderUnknown {
		if next == nil {
			if a, ok := c.secs.PageAddr(pfn + 1); ok {
				if _, err := c.mem.ReadVirt(c.two, a); err == nil {
					next = c.two
				}
			}
		}
		if next != nil {
			var ok bool
			if cp, ok = c.compoundInfo(pfn, &p, next); !ok {
				w.stats.BadCompoundOrder++
			}
		}
	}
	r := c.ruleChain(&p, cp, w.level, true)
	if r.badFree {
		w.stats.BadFreeOrder++
		w.emit(pfn, 1, Other)
		return 1
	}
	if r.matched {
		w.emit(pfn, r.n, r.t)
		return min(r.n, w.end-pfn)
	}
	// Kept. A page inside a kept free block keeps the block's label.
	if t, ok := w.labelFor(pfn); ok && t == Free {
		w.emit(pfn, 1, t)
		return 1
	}
	u := c.ruleChain(&p, cp, w.level, false)
	if u.badFree {
		w.stats.BadFreeOrder++
	}
	if u.n > 1 {
		w.labelStart, w.labelEnd, w.label = pfn, pfn+u.n, u.t
	}
	w.emit(pfn, 1, u.t)
	return 1
}

// lookback handles a start pfn inside a compound page or a free block whose
// head lies before it, and returns the first pfn left to classify.
func (c *Classifier) lookback(w *walk, start uint64) uint64 {
	l := c.l
	p, ok := c.readPage(c.one, start)
	if !ok {
		return start
	}
	if p.compound&1 != 0 {
		head, ok := c.headOf(start, p.compound)
		if !ok {
			return start
		}
		hp, ok := c.readPage(c.one, head)
		if !ok || hp.flags&l.HeadMask == 0 || hp.compound&1 != 0 {
			return start
		}
		var cp compound
		if l.Order != OrderUnknown {
			if a, ok := c.secs.PageAddr(head + 1); ok {
				if _, err := c.mem.ReadVirt(c.two, a); err == nil {
					cp, _ = c.compoundInfo(head, &hp, c.two)
				}
			}
		}
		headEnd := head + 1<<cp.order
		if headEnd <= start {
			return start
		}
		if r := c.ruleChain(&hp, cp, w.level, true); r.matched && !r.badFree {
			if head+r.n > start {
				w.emit(start, head+r.n-start, r.t)
				return min(head+r.n, w.end)
			}
			return start
		}
		u := c.ruleChain(&hp, cp, w.level, false)
		w.labelStart, w.labelEnd, w.label = head, headEnd, u.t
		return start
	}
	// Free blocks: the largest block (lowest head) covering start wins, as
	// in a scan from the bottom of memory.
	for o := int(l.FreeAreaOrder) - 1; o >= 1; o-- {
		h := start &^ (1<<uint(o) - 1)
		if h == start {
			continue
		}
		hp, ok := c.readPage(c.one, h)
		if !ok {
			continue
		}
		var size uint64
		switch {
		case l.isBuddy(&hp) && hp.private < uint64(l.FreeAreaOrder):
			size = 1 << hp.private
		case o == int(l.FreeAreaOrder)-1 && l.isType(hp.mapcount, l.Unaccepted):
			size = 1 << o
		default:
			continue
		}
		if h+size <= start {
			continue
		}
		if w.level&ExcludeFree != 0 {
			w.emit(start, h+size-start, Free)
			return min(h+size, w.end)
		}
		w.labelStart, w.labelEnd, w.label = h, h+size, Free
		return start
	}
	return start
}

func (c *Classifier) readPage(buf []byte, pfn uint64) (page, bool) {
	a, ok := c.secs.PageAddr(pfn)
	if !ok {
		return page{}, false
	}
	if _, err := c.mem.ReadVirt(buf, a); err != nil {
		return page{}, false
	}
	return c.decode(buf), true
}

// headOf finds the head pfn of the tail page at pfn from its compound_head
// word: the head's address plus one, or (7.1+ with HVO) a mask that turns
// the tail's address into the head's, plus one.
func (c *Classifier) headOf(pfn, info uint64) (uint64, bool) {
	l := c.l
	a, ok := c.secs.PageAddr(pfn)
	if !ok {
		return 0, false
	}
	v := info &^ 1
	headAddr := v
	if inv := ^v; l.CompoundMask && v != 0 && inv&(inv+1) == 0 {
		headAddr = a & v
	}
	sz := uint64(l.StructPage)
	if headAddr >= a || (a-headAddr)%sz != 0 {
		return 0, false
	}
	d := (a - headAddr) / sz
	if d >= 1<<maxCompoundOrder || d > pfn {
		return 0, false
	}
	head := pfn - d
	if ha, ok := c.secs.PageAddr(head); !ok || ha != headAddr {
		return 0, false
	}
	return head, true
}

// Exclude classifies the n pfns from startPFN and clears, in window, the
// bit of every page left out at level. window is a dump bitmap slice: bit i
// (byte i>>3, bit i&7, least significant first) is pfn startPFN+i, set when
// the page is dumped. Bits of kept pages are not touched.
func (c *Classifier) Exclude(window []byte, startPFN, n uint64, level DumpLevel) (Stats, error) {
	if uint64(len(window))*8 < n {
		return Stats{}, fmt.Errorf("mm: bitmap of %d bytes is too small for %d pfns", len(window), n)
	}
	st := c.Classify(startPFN, startPFN+n, level, func(pfn, k uint64, t PageType) {
		if level.Excludes(t) {
			bitmap.Clear(window, pfn-startPFN, k)
		}
	})
	return st, nil
}
