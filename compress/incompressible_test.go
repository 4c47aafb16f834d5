package compress

import (
	"math/rand/v2"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
)

// TestLikelyIncompressible checks the probe against the codecs themselves: every page
// it calls incompressible really is (zlib and zstd make it no smaller than the page),
// random pages are caught, and the pages that look random byte by byte but repeat
// themselves (a random half page written twice), or hold text or kernel structures,
// are not.
func TestLikelyIncompressible(t *testing.T) {
	var pp pageProbe
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 64, 5)
		if err != nil {
			t.Fatal(err)
		}
		caught := 0
		for i, p := range pages {
			if !pp.likelyIncompressible(p) {
				continue
			}
			caught++
			for _, c := range []Codec{Zlib, Zstd} {
				pc, err := NewPageCompressor(c)
				if err != nil {
					t.Fatal(err)
				}
				out, err := pc.Compress(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) < len(p) {
					t.Errorf("%s page %d: called incompressible, but %v makes it %d bytes", kind, i, c, len(out))
				}
			}
		}
		switch kind {
		case testpage.Random:
			if caught != len(pages) {
				t.Errorf("random pages: %d of %d caught", caught, len(pages))
			}
		case testpage.Code:
			// Parts of a binary may be compressed data: checked above only.
		default:
			if caught != 0 {
				t.Errorf("%s pages: %d of %d called incompressible", kind, caught, len(pages))
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	half := make([]byte, testpage.Size/2)
	for i := range half {
		half[i] = byte(r.Uint32())
	}
	twice := append(append([]byte(nil), half...), half...)
	if pp.likelyIncompressible(twice) {
		t.Error("a random half page written twice was called incompressible")
	}
	if pp.likelyIncompressible(make([]byte, testpage.Size)) {
		t.Error("a zero page was called incompressible")
	}
	if pp.likelyIncompressible(make([]byte, 8192)) {
		t.Error("a page of another size was judged")
	}
}

// TestCompressPageIncompressible: a random page is stored raw with flags 0, as
// makedumpfile stores a page its codec does not shrink.
func TestCompressPageIncompressible(t *testing.T) {
	pages, err := testpage.Pages(testpage.Random, 4, 9)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Codec{Zlib, Zstd, LZO, Snappy} {
		pc, err := NewPageCompressor(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			out, flags, err := pc.CompressPage([]byte("x"), p)
			if err != nil || flags != 0 || string(out[1:]) != string(p) || out[0] != 'x' {
				t.Fatalf("%v: flags %#x err %v, %d bytes: want the raw page after dst", c, flags, err, len(out))
			}
		}
	}
}

func BenchmarkLikelyIncompressible(b *testing.B) {
	for _, kind := range []testpage.Kind{testpage.Text, testpage.Random} {
		pages, err := testpage.Pages(kind, 16, 3)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(kind), func(b *testing.B) {
			var pp pageProbe
			b.SetBytes(testpage.Size)
			for i := 0; b.Loop(); i++ {
				pp.likelyIncompressible(pages[i%len(pages)])
			}
		})
	}
}
