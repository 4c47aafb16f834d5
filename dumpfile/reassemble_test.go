package dumpfile_test

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz from the writer")

func reassembleSeeds(t testing.TB) map[string]map[string][]any {
	return map[string]map[string][]any{"FuzzReassemble": {
		"two-parts":  {smallPart(t, 0, 20), smallPart(t, 20, 64)},
		"empty-part": {smallPart(t, 0, 64), smallPart(t, 64, 64)},
	}}
}

// TestReassembleFuzzSeeds keeps testdata/fuzz/FuzzReassemble in step with the writer.
// Regenerate with: go test ./dumpfile -run TestReassembleFuzzSeeds -update
func TestReassembleFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, reassembleSeeds(t), *update, "go test ./dumpfile -run TestReassembleFuzzSeeds -update")
}

// smallPart writes one part, [start, end) of 64 pfns of 512 bytes, of a split dump
// at level 1 whose even pfns are dumped: pfns divisible by 4 as zero pages, the other
// even ones raw, filled with their pfn.
func smallPart(t testing.TB, start, end uint64) []byte {
	h := testHeader()
	h.PageSize, h.MaxMapnr, h.DumpLevel, h.Codec = 512, 64, 1, compress.None
	var inPart uint64
	bm1, bm2 := make([]byte, 8), make([]byte, 8)
	for pfn := uint64(0); pfn < 64; pfn++ {
		bm1[pfn/8] |= 1 << (pfn % 8)
		if pfn%2 == 0 {
			bm2[pfn/8] |= 1 << (pfn % 8)
			if pfn >= start && pfn < end {
				inPart++
			}
		}
	}
	h.Split = &dumpfile.KdumpSplit{StartPFN: start, EndPFN: end, Descriptors: 32}
	var m memAt
	w := dumpfile.NewKdumpWriter(&m)
	if err := w.Begin(h, inPart); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBitmaps(0, bm1, bm2); err != nil {
		t.Fatal(err)
	}
	for pfn := start; pfn < end; pfn += 1 {
		var err error
		switch {
		case pfn%4 == 0:
			err = w.WriteZeroPage(pfn)
		case pfn%2 == 0:
			err = w.WritePage(pfn, bytes.Repeat([]byte{byte(pfn)}, 512), 0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return m.b
}

// boundedAt is memAt that refuses to grow beyond 64 MiB (fuzzed offsets).
type boundedAt struct{ memAt }

func (b *boundedAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > 64<<20 {
		return 0, errors.New("beyond 64 MiB")
	}
	return b.memAt.WriteAt(p, off)
}

func parts(bs ...[]byte) []dumpfile.SplitPart {
	var ps []dumpfile.SplitPart
	for i, b := range bs {
		ps = append(ps, dumpfile.SplitPart{Name: string(rune('a' + i)), R: bytes.NewReader(b), Size: int64(len(b))})
	}
	return ps
}

// TestReassembleSmall: the parts, given in any order, merge into a dump whose
// descriptors point at the right pages and whose zero pages share one page.
func TestReassembleSmall(t *testing.T) {
	p1, p2 := smallPart(t, 0, 20), smallPart(t, 20, 64)
	var m boundedAt
	n, err := dumpfile.Reassemble(&m, parts(p2, p1))
	if err != nil || n != 32 {
		t.Fatalf("%d pages, %v", n, err)
	}
	// The layout of the merged file: 1 header block, 1 sub header block, a block for
	// each bitmap, 32 descriptors, the zero page, then the 16 raw pages.
	desc := int64(4 * 512)
	data := desc + 32*24
	if want := data + 512 + 16*512; int64(len(m.b)) != want {
		t.Fatalf("merged file is %d bytes, want %d", len(m.b), want)
	}
	if !bytes.Equal(m.b[data:data+512], make([]byte, 512)) || !bytes.Equal(m.b[data+512:data+1024], bytes.Repeat([]byte{2}, 512)) {
		t.Error("the zero page or pfn 2's page is not where it belongs")
	}
}

// FuzzReassemble: any two parts merge or fail with an error, never a panic, and
// without writing beyond what their sizes allow. The seeds are testdata/fuzz's.
func FuzzReassemble(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var m boundedAt
		dumpfile.Reassemble(&m, parts(a, b))
	})
}
