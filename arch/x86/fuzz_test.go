package x86_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"testing"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/arch/x86/x86test"
	"github.com/gokdump/gokdump/internal/testenv"
)

// Fuzz memory: fuzzPages table pages at physical 0, root first. The fuzz
// input sets entries in them as 10-byte records (a 2-byte slot, page*512 +
// index, and the 8-byte entry), so that short inputs make deep walks.
const (
	fuzzPages  = 16
	recordSize = 10
)

// Mode bits of the fuzz input.
const (
	mode5Level = 1 << iota
	modeSME
	modeNoLoads
	modeNoCache
)

const fuzzSME = 1 << 47

func fuzzMemory(records []byte) []byte {
	mem := make([]byte, fuzzPages*x86.PageSize)
	for len(records) >= recordSize {
		slot := uint64(binary.LittleEndian.Uint16(records)) % (fuzzPages * 512)
		copy(mem[slot*8:], records[2:recordSize])
		records = records[recordSize:]
	}
	return mem
}

// encodeRecords is fuzzMemory's inverse for seeds: one record per non-zero entry.
func encodeRecords(mem []byte) []byte {
	var out []byte
	for slot := 0; slot*8 < len(mem); slot++ {
		if e := binary.LittleEndian.Uint64(mem[slot*8:]); e != 0 {
			out = binary.LittleEndian.AppendUint16(out, uint16(slot))
			out = binary.LittleEndian.AppendUint64(out, e)
		}
	}
	return out
}

// referenceWalk is a plain reading of the x86_64 paging rules with no
// cache, shortcut or loop check, to hold the real walker to.
func referenceWalk(mem []byte, vaddr uint64, levels int, sme uint64) (phys, size uint64, ok bool) {
	shifts := []uint{39, 30, 21, 12}
	top := uint(47)
	if levels == 5 {
		shifts, top = []uint{48, 39, 30, 21, 12}, 56
	}
	if hi := int64(vaddr) >> top; hi != 0 && hi != -1 {
		return 0, 0, false
	}
	table := uint64(0)
	for i, s := range shifts {
		at := table + (vaddr>>s)&511*8
		if at+8 > uint64(len(mem)) {
			return 0, 0, false
		}
		e := binary.LittleEndian.Uint64(mem[at:])
		if e&1 == 0 {
			return 0, 0, false
		}
		addr := e & 0x000ffffffffff000 &^ sme
		last := i == len(shifts)-1
		large := e&0x80 != 0 && !last
		if large && s > 30 {
			return 0, 0, false // PS at PGD/P4D is reserved
		}
		if large || last {
			size = uint64(1) << s
			return addr&^(size-1) | vaddr&(size-1), size, true
		}
		table = addr
	}
	return 0, 0, false
}

func FuzzTranslate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.records, s.vaddr, s.mode)
	}
	f.Fuzz(func(t *testing.T, records []byte, vaddr uint64, mode uint8) {
		if len(records) > 64*recordSize {
			records = records[:64*recordSize]
		}
		image := fuzzMemory(records)
		mem := &x86test.Memory{}
		if err := mem.Add(0, image); err != nil {
			t.Fatal(err)
		}
		cr := &countingReader{mem: mem}
		levels := 4
		if mode&mode5Level != 0 {
			levels = 5
		}
		cfg := x86.Config{Mem: cr, Levels: levels}
		if mode&modeSME != 0 {
			cfg.SMEMask = fuzzSME
		}
		if mode&modeNoLoads == 0 {
			cfg.Loads = []x86.Load{{Phys: 0, Size: uint64(len(image))}}
		}
		if mode&modeNoCache != 0 {
			cfg.TableCacheSize = -1
		}
		as, err := x86.New(cfg)
		if err != nil {
			t.Fatal(err)
		}

		phys, size, err := as.Translate(vaddr)
		translateErr := err
		if n := cr.reads.Load(); n > int64(2*levels) {
			t.Fatalf("%d reads for one %d-level walk", n, levels)
		}
		refPhys, refSize, refOK := referenceWalk(image, vaddr, levels, cfg.SMEMask)
		if err != nil {
			var te *x86.TranslationError
			if !errors.As(err, &te) || te.Vaddr != vaddr {
				t.Fatalf("error %v does not name 0x%x", err, vaddr)
			}
			if te.Level < x86.LevelNone || te.Level > x86.LevelPTE || (levels == 4 && te.Level == x86.LevelP4D) {
				t.Fatalf("error names level %v in %d-level paging", te.Level, levels)
			}
		} else {
			if size != x86.PageSize && size != x86.PageSize2M && size != x86.PageSize1G {
				t.Fatalf("page size 0x%x", size)
			}
			if phys&(size-1) != vaddr&(size-1) || phys >= 1<<52 {
				t.Fatalf("0x%x -> 0x%x (page 0x%x): offset not kept or beyond 52 bits", vaddr, phys, size)
			}
			// Whatever the walker accepts, the plain rules accept the same way.
			if !refOK || refPhys != phys || refSize != size {
				t.Fatalf("0x%x -> 0x%x/0x%x; reference walk: 0x%x/0x%x ok=%v", vaddr, phys, size, refPhys, refSize, refOK)
			}
			if w, ws, err := as.Walk(vaddr); err != nil || w != phys || ws != size {
				t.Fatalf("Walk = 0x%x/0x%x/%v; Translate = 0x%x/0x%x", w, ws, err, phys, size)
			}
		}

		buf := make([]byte, 2*x86.PageSize)
		n, err := as.ReadVirt(buf, vaddr)
		if n < 0 || n > len(buf) || (err == nil && n != len(buf)) || (err != nil && n == len(buf)) {
			t.Fatalf("ReadVirt = %d, %v", n, err)
		}
		if translateErr == nil && n > 0 && phys < uint64(len(image)) && buf[0] != image[phys] {
			t.Fatalf("ReadVirt's first byte 0x%x, memory at 0x%x has 0x%x", buf[0], phys, image[phys])
		}
	})
}

type fuzzSeed struct {
	name    string
	records []byte
	vaddr   uint64
	mode    uint8
	phys    uint64 // where vaddr translates to; 0: it does not
}

// fuzzSeeds builds well-formed tables with the x86test builder, and a few
// damaged ones from them.
func fuzzSeeds(tb testing.TB) []fuzzSeed {
	build := func(levels int, sme uint64, maps ...[4]uint64) []byte {
		b, err := x86test.NewPageTableBuilder(levels, 0, fuzzPages*x86.PageSize)
		if err != nil {
			tb.Fatal(err)
		}
		b.SetSMEMask(sme)
		for _, m := range maps {
			if err := b.Map(m[0], m[1], m[2], m[3]); err != nil {
				tb.Fatal(err)
			}
		}
		return encodeRecords(b.Bytes())
	}
	const (
		vmalloc = 0xffffc90000001000
		vmemmap = 0xffffea0000200000
		direct  = 0xffff888000000000
	)
	all := [][4]uint64{
		{vmalloc, 0x3000, x86.PageSize, x86.PageSize},
		{vmemmap, 0x200000, x86.PageSize2M, x86.PageSize2M},
		{direct, 0, x86.PageSize1G, x86.PageSize1G},
	}
	four := build(4, 0, all...)
	five := build(5, 0, all...)
	sme := build(4, fuzzSME, all...)
	// The PGD entry for vmalloc pointing back at the PGD.
	loop := append(bytes.Clone(four), 0, 0, 0x63, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint16(loop[len(loop)-recordSize:], uint16((vmalloc>>39)&511))
	return []fuzzSeed{
		{"4level-4k", four, vmalloc + 0x10, 0, 0x3010},
		{"4level-2m", four, vmemmap + 0x1234, 0, 0x201234},
		{"4level-1g", four, direct + 0x12345678, modeNoCache, 0x12345678},
		{"5level-4k", five, vmalloc + 0xff8, mode5Level, 0x3ff8},
		{"5level-2m", five, vmemmap, mode5Level | modeNoLoads, 0x200000},
		{"sme-4k", sme, vmalloc, modeSME, 0x3000},
		{"sme-unmasked", sme, vmalloc, 0, 0},
		{"loop", loop, vmalloc, 0, 0},
		{"noncanonical", four, 0x0000900000000000, 0, 0},
		{"empty", nil, 0, 0, 0},
	}
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzTranslate from fuzzSeeds")

// The checked-in corpus is what fuzzSeeds builds now; -update-seeds
// rewrites it after a change to the builder or the seeds.
func TestFuzzSeedCorpus(t *testing.T) {
	corpus := map[string][]any{}
	for _, s := range fuzzSeeds(t) {
		// The seeds mean what their names say: the good ones translate.
		sme := uint64(0)
		if s.mode&modeSME != 0 {
			sme = fuzzSME
		}
		levels := 4 + int(s.mode&mode5Level)
		if phys, _, ok := referenceWalk(fuzzMemory(s.records), s.vaddr, levels, sme); ok != (s.phys != 0) || phys != s.phys {
			t.Errorf("seed %s: 0x%x -> 0x%x ok=%v, want 0x%x", s.name, s.vaddr, phys, ok, s.phys)
		}
		corpus[s.name] = []any{s.records, s.vaddr, s.mode}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzTranslate": corpus}, *updateSeeds,
		"go test ./arch/x86 -run TestFuzzSeedCorpus -update-seeds")
}
