package mm

import (
	"errors"
	"strings"
	"testing"
)

func TestNewLayoutPicksGeneration(t *testing.T) {
	cases := []struct {
		name      string
		enc       TypeEncoding
		order     OrderSource
		orderOff  int64
		hugetlb   HugetlbSource
		mask      bool
		physBits  uint
		buddyWord uint32
		note      string // a substring one of the notes must have, or ""
	}{
		{"4.12", TypeExact, OrderTailByte, 20, HugetlbDtorIndex, false, 46, 0xffffff80, "SECTION_SIZE_BITS"},
		{"5.10", TypeExact, OrderTailByte, 17, HugetlbDtorIndex, false, 46, 0xffffff7f, ""},
		{"6.1", TypeExact, OrderTailByte, 17, HugetlbDtorIndex, false, 52, 0xffffff7f, ""},
		{"6.3", TypeExact, OrderTailByte, 17, HugetlbDtorIndex, false, 46, 0xffffff7f, ""},
		{"6.6", TypeExact, OrderFlags1, 0, HugetlbFlag1, false, 46, 0xffffff7f, ""},
		{"6.9", TypeExact, OrderFlags1, 0, HugetlbPageType, false, 46, 0xffffff7f, ""},
		{"6.10", TypeExact, OrderFlags1, 0, HugetlbPageType, false, 46, 0xffffff7f, ""},
		{"6.12", TypeTopByte, OrderFlags1, 0, HugetlbPageType, false, 46, 0xf0000000, ""},
		{"7.2", TypeTopByte, OrderFlags1, 0, HugetlbPageType, true, 52, 0xf0000000, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newFakeSyms()
			profileByName(c.name).keys(s)
			s.sym["mem_section"] = rootArray
			l, err := NewLayout(s)
			if err != nil {
				t.Fatal(err)
			}
			if l.Encoding != c.enc || l.Order != c.order || l.Hugetlb != c.hugetlb || l.CompoundMask != c.mask {
				t.Errorf("encoding %v order %v hugetlb %v mask %v", l.Encoding, l.Order, l.Hugetlb, l.CompoundMask)
			}
			if c.order == OrderTailByte && l.OffOrder != c.orderOff {
				t.Errorf("order offset %d, want %d", l.OffOrder, c.orderOff)
			}
			if l.Buddy.Word != c.buddyWord {
				t.Errorf("buddy word %#x, want %#x", l.Buddy.Word, c.buddyWord)
			}
			if l.MaxPhysmemBits != c.physBits || l.SectionSizeBits != 27 || l.PagesPerSection() != 32768 {
				t.Errorf("phys bits %d section bits %d", l.MaxPhysmemBits, l.SectionSizeBits)
			}
			if !l.Extreme || l.SectionsPerRoot != uint64(4096/s.size["mem_section"]) || l.SectionFlagBits != 6 {
				t.Errorf("extreme %v per root %d flag bits %d", l.Extreme, l.SectionsPerRoot, l.SectionFlagBits)
			}
			if c.note != "" && !strings.Contains(strings.Join(l.Notes, "\n"), c.note) {
				t.Errorf("notes %q lack %q", l.Notes, c.note)
			}
			if c.note == "" && len(l.Notes) != 0 {
				t.Errorf("unexpected notes %q", l.Notes)
			}
		})
	}
}

// The exported numbers may be printed as the signed int (the kernel's %ld
// of an int expression) or as the unsigned word; both are the same word.
func TestTypeValueSpellings(t *testing.T) {
	for _, v := range []int64{-268435456, 0xf0000000} {
		s := newFakeSyms()
		profileByName("6.12").keys(s)
		s.sym["mem_section"] = rootArray
		s.num["PAGE_BUDDY_MAPCOUNT_VALUE"] = v
		l, err := NewLayout(s)
		if err != nil {
			t.Fatal(err)
		}
		if l.Buddy.Word != 0xf0000000 || l.Encoding != TypeTopByte {
			t.Errorf("%d: word %#x encoding %v", v, l.Buddy.Word, l.Encoding)
		}
		if !l.isType(0xf0abcdef, l.Buddy) || l.isType(0xf1000000, l.Buddy) || l.isType(0xffffffff, l.Buddy) {
			t.Errorf("%d: top-byte comparison wrong", v)
		}
	}
}

func TestNewLayoutMissingKeys(t *testing.T) {
	s := newFakeSyms()
	profileByName("6.1").keys(s)
	s.sym["mem_section"] = rootArray
	for _, k := range []string{"SYMBOL(mem_section)", "SIZE(page)", "NUMBER(PG_slab)", "OFFSET(page.flags)"} {
		s.del(k)
	}
	_, err := NewLayout(s)
	var me *MissingKeysError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, k := range []string{"SYMBOL(mem_section)", "SIZE(page)", "NUMBER(PG_slab) or NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)", "OFFSET(page.flags)"} {
		if !strings.Contains(msg, k) {
			t.Errorf("%q does not name %s", msg, k)
		}
	}
	if len(me.Keys) != 4 {
		t.Errorf("keys %q", me.Keys)
	}
}

func TestNewLayoutOptionalKeys(t *testing.T) {
	s := newFakeSyms()
	profileByName("6.12").keys(s)
	s.sym["mem_section"] = rootArray
	for _, k := range []string{"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "LENGTH(zone.free_area)", "NUMBER(MAX_PHYSMEM_BITS)", "LENGTH(mem_section)", "OFFSET(page.compound_head)"} {
		s.del(k)
	}
	s.num["pgtable_l5_enabled"] = 1
	l, err := NewLayout(s)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(l.Notes, "\n")
	for _, want := range []string{"free pages are kept", "buddy orders", "MAX_PHYSMEM_BITS", "compound_head"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}
	if l.MaxPhysmemBits != 52 || !l.Extreme || l.FreeAreaOrder != 11 || l.Encoding != TypeExact {
		t.Errorf("phys %d extreme %v orders %d enc %v", l.MaxPhysmemBits, l.Extreme, l.FreeAreaOrder, l.Encoding)
	}
}

func TestNewLayoutRejectsBadValues(t *testing.T) {
	cases := []struct {
		key string
		set func(s *fakeSyms)
	}{
		{"SIZE(page)", func(s *fakeSyms) { s.size["page"] = 8 }},
		{"OFFSET(page.private)", func(s *fakeSyms) { s.off["page.private"] = 60 }},
		{"OFFSET(page.mapping)", func(s *fakeSyms) { s.off["page.mapping"] = -5 }},
		{"NUMBER(PG_head_mask)", func(s *fakeSyms) { s.num["PG_head_mask"] = 3 }},
		{"NUMBER(PG_lru)", func(s *fakeSyms) { s.num["PG_lru"] = 99 }},
		{"LENGTH(zone.free_area)", func(s *fakeSyms) { s.length["zone.free_area"] = 100 }},
		{"NUMBER(SECTION_SIZE_BITS)", func(s *fakeSyms) { s.num["SECTION_SIZE_BITS"] = 5 }},
		{"NUMBER(MAX_PHYSMEM_BITS)", func(s *fakeSyms) { s.num["MAX_PHYSMEM_BITS"] = 90 }},
		{"SIZE(mem_section)", func(s *fakeSyms) { s.size["mem_section"] = 0 }},
		{"OFFSET(mem_section.section_mem_map)", func(s *fakeSyms) { s.off["mem_section.section_mem_map"] = 28 }},
	}
	for _, c := range cases {
		s := newFakeSyms()
		profileByName("6.1").keys(s)
		s.sym["mem_section"] = rootArray
		c.set(s)
		_, err := NewLayout(s)
		var le *LayoutError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: err = %v", c.key, err)
		}
	}
}

// Before 4.4 no compound_head existed and the order sat in page[1].lru.prev;
// hugetlb pages had free_huge_page as destructor in page[1].lru.next.
func TestPre44CompoundRules(t *testing.T) {
	p := profileByName("4.12")
	p.keys = func(s *fakeSyms) {
		profileByName("4.12").keys(s)
		s.del("OFFSET(page.compound_head)")
		s.del("OFFSET(page.compound_order)")
		s.del("OFFSET(page.compound_dtor)")
		s.del("NUMBER(HUGETLB_PAGE_DTOR)")
		s.sym["free_huge_page"] = 0xffffffff81234560
	}
	k := newKernel(p, 1, 0)
	l, err := k.layout()
	if err != nil {
		t.Fatal(err)
	}
	if l.Order != OrderLRUPrev || l.OffOrder != 16 || l.Hugetlb != HugetlbDtorPointer || l.OffDtor != 8 || l.OffCompound >= 0 {
		t.Fatalf("order %v@%d hugetlb %v@%d compound %d", l.Order, l.OffOrder, l.Hugetlb, l.OffDtor, l.OffCompound)
	}
	k.setFlag(512, p.head)
	k.setWord(513, 16, 9)                 // lru.prev: order
	k.setWord(513, 8, 0xffffffff81234560) // lru.next: free_huge_page
	c, err := k.classifier()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := types(c, 0, 2048, ExcludeUser)
	if err != nil {
		t.Fatal(err)
	}
	for pfn, typ := range got {
		want := Other
		if pfn >= 512 && pfn < 1024 {
			want = User
		}
		if typ != want {
			t.Fatalf("pfn %d: %v, want %v", pfn, typ, want)
		}
	}
}
