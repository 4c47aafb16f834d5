package mm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// kind is what the scene put at a pfn range; want says its type at a level.
type kind int

const (
	kOther kind = iota
	kFree
	kCacheNP
	kCacheP
	kUser
	kSlab
	kHWPoisonCache // cache page with PG_hwpoison: cache wins where the cache rule is on
	kOffline
	kAbsent
)

func (k kind) want(level DumpLevel) PageType {
	switch k {
	case kFree:
		return Free
	case kCacheNP:
		return CacheNotPrivate
	case kCacheP:
		return CachePrivate
	case kUser:
		return User
	case kSlab:
		return Slab
	case kHWPoisonCache:
		if level&(ExcludeCacheNotPrivate|ExcludeCache) != 0 {
			return CacheNotPrivate
		}
		return HWPoison
	case kOffline:
		return Offline
	case kAbsent:
		return NoMemMap
	}
	return Other
}

type span struct {
	start, n uint64
	k        kind
}

// scene fills a three-section kernel (section 1 absent) with one of each
// page kind the profile can express and returns the expected spans.
func scene(k *fakeKernel) []span {
	p := k.p
	var sp []span
	add := func(start, n uint64, kd kind) { sp = append(sp, span{start, n, kd}) }

	k.free(1024, 3)
	add(1024, 8, kFree)
	k.free(1032, 0)
	add(1032, 1, kFree)
	k.cache(1040, false)
	add(1040, 1, kCacheNP)
	k.cache(1041, true)
	add(1041, 1, kCacheP)
	k.anon(1042)
	add(1042, 1, kUser)
	k.slab(1043) // odd mapping: must not pass for anonymous
	add(1043, 1, kSlab)
	k.cache(1044, false)
	k.setFlag(1044, p.hwpoison)
	add(1044, 1, kHWPoisonCache)
	if p.offline != 0 {
		k.setMapcount(1045, p.offline)
		add(1045, 1, kOffline)
	}
	// PG_swapcache is also PG_checked: without PG_swapbacked it is not
	// swap cache (when the kernel exports PG_swapbacked at all).
	k.setFlag(1046, p.swapcache)
	if p.swapbacked >= 0 {
		add(1046, 1, kOther)
	} else {
		add(1046, 1, kCacheNP)
	}
	// Swap cache proper.
	k.setFlag(1047, p.swapcache)
	if p.swapbacked >= 0 {
		k.setFlag(1047, p.swapbacked)
	}
	add(1047, 1, kCacheNP)

	// Anonymous THP: the whole compound is user data.
	k.compound(2048, 9)
	k.anon(2048)
	add(2048, 512, kUser)
	// Large page-cache folio.
	k.compound(3072, 2)
	k.cache(3072, false)
	add(3072, 4, kCacheNP)
	// hugetlbfs page: not anonymous, recognised by the generation's mark.
	k.hugetlb(4096, 9)
	add(4096, 512, kUser)
	// A slab of order 3: head and tails are kept as slab.
	k.compound(5120, 3)
	k.slab(5120)
	add(5120, 8, kSlab)
	// Free page with an absurd order: kept.
	k.free(6144, 40)
	add(6144, 1, kOther)
	if p.buddy>>24 == 0xf0 {
		// 6.12+: the low 24 bits of page_type are the owner's.
		k.setMapcount(6200, p.buddy|0x1234)
		k.setWord(6200, 40, 1)
		add(6200, 2, kFree)
	}
	if p.unaccepted != 0 {
		k.setMapcount(7168, p.unaccepted)
		add(7168, 1024, kFree)
	}
	// Section 1 is absent.
	add(k.pps, k.pps, kAbsent)
	// A free block at the start of section 2 and a THP at its end.
	k.free(2*k.pps, 10)
	add(2*k.pps, 1024, kFree)
	k.compound(3*k.pps-512, 9)
	k.anon(3*k.pps - 512)
	add(3*k.pps-512, 512, kUser)
	return sp
}

func expected(spans []span, n uint64, level DumpLevel) []PageType {
	out := make([]PageType, n) // Other is zero
	for _, s := range spans {
		for i := s.start; i < s.start+s.n; i++ {
			out[i] = s.k.want(level)
		}
	}
	return out
}

func TestClassifyRulesEveryGenerationAndLevel(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			k := newKernel(p, 3, 0, 1)
			spans := scene(k)
			c, err := k.classifier()
			if err != nil {
				t.Fatal(err)
			}
			for level := DumpLevel(0); level <= MaxDumpLevel; level++ {
				got, st, err := types(c, 0, k.maxPFN(), level)
				if err != nil {
					t.Fatalf("level %d: %v", level, err)
				}
				want := expected(spans, k.maxPFN(), level)
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("level %d pfn %#x: got %v, want %v", level, i, got[i], want[i])
				}
				var excl uint64
				for _, s := range spans {
					if level.Excludes(s.k.want(level)) {
						excl += s.n
					}
				}
				if st.TotalExcluded() != excl {
					t.Errorf("level %d: %d pages excluded, want %d", level, st.TotalExcluded(), excl)
				}
				if st.BadFreeOrder == 0 {
					t.Errorf("level %d: the order-40 buddy page was not counted", level)
				}
			}
		})
	}
}

// Windows of any size and alignment must give the same answer as one pass:
// compound pages and free blocks that straddle a window are found from the
// window's first pfn.
func TestClassifyWindowsMatchOnePass(t *testing.T) {
	for _, name := range []string{"4.12", "6.1", "6.12", "7.2"} {
		p := profileByName(name)
		t.Run(name, func(t *testing.T) {
			k := newKernel(p, 3, 0, 1)
			scene(k)
			c, err := k.classifier()
			if err != nil {
				t.Fatal(err)
			}
			for _, level := range []DumpLevel{0, 16, 31} {
				whole, _, err := types(c, 0, k.maxPFN(), level)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range []uint64{1, 3, 100, 511, 512, 1000, 5000} {
					limit := uint64(8192)
					if w >= 100 {
						limit = k.maxPFN()
					}
					var joined []PageType
					for s := uint64(0); s < limit; s += w {
						part, _, err := types(c, s, min(s+w, limit), level)
						if err != nil {
							t.Fatal(err)
						}
						joined = append(joined, part...)
					}
					if i := firstDiff(joined, whole[:limit]); i >= 0 {
						t.Fatalf("level %d window %d: pfn %#x is %v, one pass says %v", level, w, i, joined[i], whole[i])
					}
				}
			}
		})
	}
}

func firstDiff(a, b []PageType) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// A compound page crossing a 512-page batch boundary (batches start at the
// window's first pfn), and a head that is the last pfn of a window (its
// order is in the next struct page, outside the batch).
func TestCompoundAcrossBatch(t *testing.T) {
	k := newKernel(profileByName("6.12"), 1, 0)
	k.compound(512, 9) // 512..1023; the window below has a batch edge at 612
	k.anon(512)
	k.compound(1100, 1)
	k.anon(1100)
	c, err := k.classifier()
	if err != nil {
		t.Fatal(err)
	}
	reads := k.mem.reads
	got, _, err := types(c, 100, 1200, ExcludeUser)
	if err != nil {
		t.Fatal(err)
	}
	for i, typ := range got {
		pfn := 100 + i
		want := Other
		if (pfn >= 512 && pfn < 1024) || pfn == 1100 || pfn == 1101 {
			want = User
		}
		if typ != want {
			t.Fatalf("pfn %d: %v, want %v", pfn, typ, want)
		}
	}
	// Bounded reading: one lookback, a batch per 512 pages.
	if n := k.mem.reads - reads; n > 20 {
		t.Errorf("%d reads for 1100 pages", n)
	}
	// Window ending on the head of the order-1 page: head read, range clipped.
	got, _, err = types(c, 1000, 1101, ExcludeUser)
	if err != nil {
		t.Fatal(err)
	}
	if got[100] != User {
		t.Fatalf("head at the last pfn of the window: %v", got[100])
	}
}

// A free block straddling a window boundary is excluded on both sides, and
// the bitmap bits of exactly those pages are cleared.
func TestExcludeBuddyAcrossWindow(t *testing.T) {
	k := newKernel(profileByName("6.1"), 1, 0)
	k.free(1024, 10) // 1024..2047
	k.anon(2048)
	c, err := k.classifier()
	if err != nil {
		t.Fatal(err)
	}
	const winStart, winLen = 1500, 1000 // 1500..2499
	bm := make([]byte, (winLen+7)/8)
	for i := range bm {
		bm[i] = 0xff
	}
	st, err := c.Exclude(bm, winStart, winLen, ExcludeFree|ExcludeUser)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < winLen; i++ {
		pfn := winStart + i
		set := bm[i>>3]&(1<<(i&7)) != 0
		excluded := pfn < 2048 || pfn == 2048
		if set == excluded {
			t.Fatalf("pfn %d: bit set=%v, want excluded=%v", pfn, set, excluded)
		}
	}
	if st.Excluded[Free] != 2048-winStart || st.Excluded[User] != 1 {
		t.Fatalf("stats: free %d user %d", st.Excluded[Free], st.Excluded[User])
	}
	if _, err := c.Exclude(bm[:1], 0, 9, 31); err == nil {
		t.Fatal("a bitmap too small for the window was accepted")
	}
}

// A 1 GiB hugetlb page spans eight 128 MiB sections; a window in its middle
// finds the head through compound_head (7.2: the HVO mask).
func TestGiganticPageAcrossSections(t *testing.T) {
	for _, name := range []string{"6.12", "7.2"} {
		k := newKernel(profileByName(name), 9, 0)
		k.hugetlb(0, 18)
		c, err := k.classifier()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range [][2]uint64{{0, k.maxPFN()}, {5 * k.pps, 5*k.pps + 10}, {262143, 262145}} {
			got, _, err := types(c, w[0], w[1], ExcludeUser)
			if err != nil {
				t.Fatal(err)
			}
			for i, typ := range got {
				pfn := w[0] + uint64(i)
				want := Other
				if pfn < 1<<18 {
					want = User
				}
				if typ != want {
					t.Fatalf("%s window %v pfn %#x: %v, want %v", name, w, pfn, typ, want)
				}
			}
		}
	}
}

func TestAbsurdCompoundOrder(t *testing.T) {
	k := newKernel(profileByName("6.12"), 1, 0)
	k.compound(0, 1)
	k.anon(0)
	binary64(k.sp(1), 0, 200) // order byte 200 in _flags_1
	k.compound(4, 2)
	k.anon(4)
	k.compound(9, 1) // misaligned head (an HVO fake head): a single page
	k.anon(9)
	c, err := k.classifier()
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := types(c, 0, 16, ExcludeUser)
	if err != nil {
		t.Fatal(err)
	}
	want := []PageType{User, Other, Other, Other, User, User, User, User, Other, User, Other, Other, Other, Other, Other, Other}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if st.BadCompoundOrder != 1 {
		t.Fatalf("BadCompoundOrder = %d", st.BadCompoundOrder)
	}
}

func binary64(b []byte, off int, v uint64) {
	for i := 0; i < 8; i++ {
		b[off+i] = byte(v >> (8 * i))
	}
}

// Struct pages whose vmemmap is not mapped are kept as NoMemMap, one 4 KiB
// vmemmap page (64 struct pages) at a time, and counted.
func TestUnreadableVmemmap(t *testing.T) {
	k := newKernel(profileByName("6.1"), 1, 0)
	k.free(0, 10)
	vm := k.vmemmap[0]
	// Unmap struct pages 128..191 (vmemmap bytes 8192..12287).
	k.mem.regions = nil
	k.mem.add(vmemmapBase, vm[:8192])
	k.mem.add(vmemmapBase+12288, vm[12288:])
	k.mem.add(rootsStart, k.rootPage)
	roots := make([]byte, 8)
	binary64(roots, 0, rootsStart)
	k.mem.add(rootArray, roots)
	c, err := k.classifier()
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := types(c, 100, 300, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, typ := range got {
		pfn := 100 + i
		want := Free
		if pfn >= 128 && pfn < 192 {
			want = NoMemMap
		}
		if typ != want {
			t.Fatalf("pfn %d: %v, want %v", pfn, typ, want)
		}
	}
	if st.Unreadable != 64 || st.ReadErr == nil {
		t.Fatalf("Unreadable %d, err %v", st.Unreadable, st.ReadErr)
	}
	var re *ReadError
	if !errors.As(st.ReadErr, &re) || re.Vaddr != vmemmapBase+128*64 {
		t.Fatalf("ReadErr = %v", st.ReadErr)
	}
}

func TestDumpLevelExcludes(t *testing.T) {
	cases := []struct {
		level DumpLevel
		t     PageType
		want  bool
	}{
		{0, Free, false}, {16, Free, true}, {15, Free, false},
		{2, CacheNotPrivate, true}, {4, CacheNotPrivate, true}, {8, CacheNotPrivate, false},
		{2, CachePrivate, false}, {4, CachePrivate, true},
		{8, User, true}, {23, User, false},
		{0, HWPoison, true}, {0, Offline, true},
		{31, Slab, false}, {31, Other, false}, {31, NoMemMap, false},
	}
	for _, c := range cases {
		if got := c.level.Excludes(c.t); got != c.want {
			t.Errorf("DumpLevel(%d).Excludes(%v) = %v", c.level, c.t, got)
		}
	}
	if s := NumPageTypes.String(); !strings.HasPrefix(s, "PageType(") {
		t.Errorf("String of an unknown type: %q", s)
	}
	for typ := PageType(0); typ < NumPageTypes; typ++ {
		if strings.HasPrefix(typ.String(), "PageType(") {
			t.Errorf("type %d has no name", typ)
		}
	}
}

func TestStatsAdd(t *testing.T) {
	var a, b Stats
	a.Excluded[Free], a.Kept[Slab] = 3, 4
	b.Excluded[Free], b.Kept[Other], b.Unreadable = 5, 6, 7
	b.ReadErr = fmt.Errorf("x")
	a.Add(b)
	if a.Excluded[Free] != 8 || a.Kept[Slab] != 4 || a.Kept[Other] != 6 || a.Unreadable != 7 || a.ReadErr == nil || a.TotalExcluded() != 8 {
		t.Fatalf("%+v", a)
	}
}

func BenchmarkClassify(b *testing.B) {
	k := newKernel(profileByName("6.12"), 3, 0, 1)
	scene(k)
	c, err := k.classifier()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(k.maxPFN()))
	for b.Loop() {
		c.Classify(0, k.maxPFN(), MaxDumpLevel, func(pfn, n uint64, t PageType) {})
	}
}
