package mm

import (
	"testing"
)

const fuzzSectionBits = 18 // 64 pages per section: section edges are frequent

// fuzzKernel builds a four-section kernel for profile data[0] whose struct
// pages are data[5:] repeated; data[2] lists absent sections.
func fuzzKernel(data []byte) *fakeKernel {
	p := profiles[int(data[0])%len(profiles)]
	var absent []uint64
	for i := uint64(0); i < 4; i++ {
		if data[2]&(1<<i) != 0 {
			absent = append(absent, i)
		}
	}
	k := newKernel(p, 4, fuzzSectionBits, absent...)
	body := data[5:]
	if len(body) == 0 {
		return k
	}
	j := 0
	for nr := uint64(0); nr < 4; nr++ {
		vm := k.vmemmap[nr]
		for i := range vm {
			vm[i] = body[j]
			j = (j + 1) % len(body)
		}
	}
	return k
}

// miniScene is a small, consistent memory picture for seeds.
func miniScene(p profile) []byte {
	k := newKernel(p, 4, fuzzSectionBits)
	k.free(0, 3)
	k.cache(8, false)
	k.cache(9, true)
	k.anon(10)
	k.slab(11)
	k.compound(16, 2)
	k.anon(16)
	k.hugetlb(32, 5)
	k.free(64, 6) // a whole section
	k.compound(128, 1)
	k.slab(128)
	k.setFlag(130, p.hwpoison)
	var out []byte
	for nr := uint64(0); nr < 4; nr++ {
		out = append(out, k.vmemmap[nr]...)
	}
	return out
}

func FuzzClassify(f *testing.F) {
	for i, p := range profiles {
		f.Add(append([]byte{byte(i), 31, 0, 0, 255}, miniScene(p)...))
		f.Add(append([]byte{byte(i), 16, 2, 33, 200}, miniScene(p)...))
	}
	f.Add([]byte{7, 31, 0, 3, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0xf0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		k := fuzzKernel(data)
		c, err := k.classifier()
		if err != nil {
			return // every section absent
		}
		level := DumpLevel(data[1]) & MaxDumpLevel
		start := uint64(data[3])
		end := start + uint64(data[4])
		if end > k.maxPFN()+16 {
			end = k.maxPFN() + 16 // past the last section too
		}
		got, st, err := types(c, start, end, level)
		if err != nil {
			t.Fatal(err)
		}
		var sum uint64
		for i := range st.Excluded {
			sum += st.Excluded[i] + st.Kept[i]
		}
		if sum != end-start {
			t.Fatalf("stats count %d pages of %d", sum, end-start)
		}
		var excluded uint64
		for _, typ := range got {
			if typ >= NumPageTypes {
				t.Fatalf("type %d", typ)
			}
			if level.Excludes(typ) {
				excluded++
			}
		}
		if excluded != st.TotalExcluded() {
			t.Fatalf("runs exclude %d pages, stats %d", excluded, st.TotalExcluded())
		}
	})
}

// FuzzLayout feeds NewLayout absurd VMCOREINFO numbers: it must refuse them
// or produce a layout the classifier can use without panicking.
func FuzzLayout(f *testing.F) {
	f.Add(byte(2), int64(64), int64(24), int64(48), int64(40), int64(8), int64(17), int64(16), int64(1<<16), int64(11), int64(27), []byte{1, 2, 3})
	f.Add(byte(8), int64(64), int64(24), int64(48), int64(40), int64(8), int64(0), int64(0), int64(64), int64(11), int64(27), []byte{0xf0, 0, 0, 0xf0})
	f.Add(byte(0), int64(40), int64(32), int64(36), int64(32), int64(32), int64(39), int64(39), int64(-1<<63), int64(64), int64(13), []byte{0xff})
	f.Fuzz(func(t *testing.T, prof byte, size, mapping, mapcount, private, compound, order, dtor, headMask, freeArea, secBits int64, mem []byte) {
		p := profiles[int(prof)%len(profiles)]
		k := newKernel(p, 2, fuzzSectionBits)
		s := k.syms
		s.size["page"] = size
		s.off["page.mapping"] = mapping
		s.off["page._mapcount"] = mapcount
		s.off["page.private"] = private
		if _, ok := s.off["page.compound_info"]; ok {
			s.off["page.compound_info"] = compound
		} else {
			s.off["page.compound_head"] = compound
		}
		if _, ok := s.off["page.compound_order"]; ok {
			s.off["page.compound_order"] = order
			s.off["page.compound_dtor"] = dtor
		}
		if _, ok := s.off["folio._folio_order"]; ok {
			s.off["folio._folio_order"] = order
			s.off["folio._folio_dtor"] = dtor
		}
		s.num["PG_head_mask"] = headMask
		s.length["zone.free_area"] = freeArea
		s.num["SECTION_SIZE_BITS"] = secBits
		l, err := NewLayout(s)
		if err != nil {
			return
		}
		if len(mem) > 0 {
			for _, vm := range k.vmemmap {
				for i := range vm {
					vm[i] = mem[i%len(mem)]
				}
			}
		}
		secs, err := ReadSections(l, k.mem, k.maxPFN())
		if err != nil {
			return
		}
		c := NewClassifier(l, k.mem, secs)
		if _, _, err := types(c, 1, k.maxPFN()+3, MaxDumpLevel); err != nil {
			t.Fatal(err)
		}
	})
}
