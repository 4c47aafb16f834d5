package mm

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func sectionList(t *testing.T, s *Sections) []Section {
	t.Helper()
	var out []Section
	if err := s.Each(func(sec Section) error { out = append(out, sec); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadSectionsExtreme(t *testing.T) {
	k := newKernel(profileByName("6.12"), 300, 0, 1, 2, 299) // spans three roots of 128
	// Every section flag bit up to 7.x's SECTION_IS_VMEMMAP_PREINIT (bit 5).
	binary.LittleEndian.PutUint64(k.rootPage[0:], vmemmapBase|0x3f)
	l, err := k.layout()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSections(l, k.mem, k.maxPFN())
	if err != nil {
		t.Fatal(err)
	}
	secs := sectionList(t, s)
	if len(secs) != 297 || secs[0].Nr != 0 || secs[1].Nr != 3 || secs[len(secs)-1].Nr != 298 {
		t.Fatalf("%d sections, first %+v", len(secs), secs[:2])
	}
	for _, sec := range secs {
		if sec.MemMap != vmemmapBase+sec.StartPFN*64 || sec.StartPFN != sec.Nr*32768 {
			t.Fatalf("section %+v", sec)
		}
	}
	if a, ok := s.PageAddr(3*32768 + 5); !ok || a != vmemmapBase+(3*32768+5)*64 {
		t.Fatalf("PageAddr = %#x %v", a, ok)
	}
	if _, ok := s.PageAddr(32768); ok {
		t.Fatal("absent section has a struct page")
	}
	// The max pfn bounds the walk: only section 0 is read.
	s, err = ReadSections(l, k.mem, 100)
	if err != nil || s.Len() != 1 {
		t.Fatalf("len %d err %v", s.Len(), err)
	}
}

// Kernels whose SYMBOL(mem_section) is the pointer variable, not the root
// array it points to (4.15-rc before "kdump: write correct address of
// mem_section into vmcoreinfo").
func TestReadSectionsPointerVariable(t *testing.T) {
	k := newKernel(profileByName("4.12"), 3, 0)
	ptr := make([]byte, 8)
	binary.LittleEndian.PutUint64(ptr, rootArray)
	k.mem.add(ptrVariable, ptr)
	k.syms.sym["mem_section"] = ptrVariable
	c, err := k.classifier()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sectionList(t, c.secs)); got != 3 {
		t.Fatalf("%d sections", got)
	}
}

// Plain SPARSEMEM: LENGTH(mem_section) is NR_MEM_SECTIONS and the symbol is
// an array of struct mem_section.
func TestReadSectionsPlainSparsemem(t *testing.T) {
	k := newKernel(profileByName("5.10"), 3, 0, 1)
	k.syms.length["mem_section"] = 1 << 19
	k.syms.sym["mem_section"] = rootsStart // the root page is laid out as the flat array
	l, err := k.layout()
	if err != nil {
		t.Fatal(err)
	}
	if l.Extreme || l.SectionsPerRoot != 1 {
		t.Fatalf("extreme %v per root %d", l.Extreme, l.SectionsPerRoot)
	}
	s, err := ReadSections(l, k.mem, k.maxPFN())
	if err != nil {
		t.Fatal(err)
	}
	secs := sectionList(t, s)
	if len(secs) != 2 || secs[1].Nr != 2 || secs[1].MemMap != vmemmapBase+2*32768*64 {
		t.Fatalf("%+v", secs)
	}
}

func TestReadSectionsCorrupt(t *testing.T) {
	t.Run("root pointer to nowhere", func(t *testing.T) {
		k := newKernel(profileByName("6.1"), 3, 0)
		binary.LittleEndian.PutUint64(k.mem.find(rootArray).data, 0xffff888077770000)
		_, err := k.classifier()
		var re *ReadError
		if !errors.As(err, &re) || re.Vaddr != 0xffff888077770000 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("map decodes to a user address", func(t *testing.T) {
		k := newKernel(profileByName("6.1"), 3, 0)
		binary.LittleEndian.PutUint64(k.rootPage[32:], 0x1000|1)
		_, err := k.classifier()
		if err == nil || !strings.Contains(err.Error(), "section 1") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("LENGTH fits neither model", func(t *testing.T) {
		k := newKernel(profileByName("6.12"), 3, 0)
		k.syms.length["mem_section"] = 5 // as if computed for the other paging mode
		l, err := k.layout()
		if err != nil || l.Extreme {
			t.Fatalf("extreme %v err %v", l.Extreme, err)
		}
		s, err := ReadSections(l, k.mem, k.maxPFN())
		if err != nil {
			t.Fatal(err)
		}
		if got := len(sectionList(t, s)); got != 3 {
			t.Fatalf("%d sections", got)
		}
	})
	t.Run("nothing present", func(t *testing.T) {
		k := newKernel(profileByName("6.1"), 2, 0, 0, 1)
		_, err := k.classifier()
		if !errors.Is(err, ErrNoSections) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("hot-removed section keeps its map without the present bit", func(t *testing.T) {
		k := newKernel(profileByName("6.1"), 3, 0)
		binary.LittleEndian.PutUint64(k.rootPage[32:], vmemmapBase|0x1e)
		c, err := k.classifier()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.secs.MemMap(1); ok {
			t.Fatal("section 1 counted as present")
		}
	})
	t.Run("absurd max pfn", func(t *testing.T) {
		k := newKernel(profileByName("6.1"), 3, 0)
		l, _ := k.layout()
		_, err := ReadSections(l, k.mem, 1<<62)
		if err == nil {
			t.Fatal("no error")
		}
	})
}
