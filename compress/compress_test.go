package compress

import (
	"bytes"
	stdzlib "compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
	"github.com/gokdump/gokdump/compress/lzo"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

var allCodecs = append([]Codec{None}, Codecs...)

func TestCodecNames(t *testing.T) {
	flags := map[Codec]uint32{None: 0, Zlib: 0x1, LZO: 0x2, Snappy: 0x4, Zstd: 0x20}
	names := map[Codec]string{None: "none", Zlib: "zlib", LZO: "lzo", Snappy: "snappy", Zstd: "zstd"}
	for c, f := range flags {
		if c.Flag() != f {
			t.Errorf("%v.Flag() = %#x, want %#x", c, c.Flag(), f)
		}
		if c.String() != names[c] {
			t.Errorf("%#x.String() = %q, want %q", f, c.String(), names[c])
		}
		if got, err := ParseCodec(strings.ToUpper(names[c])); err != nil || got != c {
			t.Errorf("ParseCodec(%q) = %v, %v", names[c], got, err)
		}
		// The header's other status bits (INCOMPLETE, EXCLUDED_VMEMMAP) do not matter.
		if got, err := CodecFromFlags(f | 0x8 | 0x10); err != nil || got != c {
			t.Errorf("CodecFromFlags(%#x) = %v, %v", f|0x18, got, err)
		}
	}
	if _, err := ParseCodec("gzip"); err == nil {
		t.Error("ParseCodec(gzip) succeeded")
	}
	if _, err := CodecFromFlags(0x3); err == nil {
		t.Error("CodecFromFlags(zlib|lzo) succeeded")
	}
	if _, err := NewPageCompressor(Codec(0x40)); err == nil {
		t.Error("NewPageCompressor(0x40) succeeded")
	}
	if _, err := NewPageDecompressor(Codec(0x3)); err == nil {
		t.Error("NewPageDecompressor(0x3) succeeded")
	}
}

type page struct {
	name string
	data []byte
}

// testPages returns pages of every kind, including one the codecs cannot shrink and
// an all-zero one, and a 64 KiB page as on arm64 or ppc64.
func testPages(t testing.TB, perKind int) []page {
	var pages []page
	for _, kind := range testpage.Kinds {
		ps, err := testpage.Pages(kind, perKind, 21)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range ps {
			pages = append(pages, page{fmt.Sprintf("%s-%d", kind, i), p})
		}
	}
	pages = append(pages, page{"zero", make([]byte, testpage.Size)})
	var big []byte
	for _, p := range pages[:16] {
		big = append(big, p.data...)
	}
	pages = append(pages, page{"64k", big})
	return pages
}

func TestRoundTrip(t *testing.T) {
	pages := testPages(t, 6)
	for _, c := range allCodecs {
		pc, err := NewPageCompressor(c)
		if err != nil {
			t.Fatal(err)
		}
		pd, err := NewPageDecompressor(c)
		if err != nil {
			t.Fatal(err)
		}
		var stored, raw int
		for _, p := range pages {
			comp, err := pc.Compress([]byte("hdr"), p.data)
			if err != nil {
				t.Fatalf("%v %s: %v", c, p.name, err)
			}
			if string(comp[:3]) != "hdr" {
				t.Fatalf("%v %s: Compress overwrote dst", c, p.name)
			}
			if len(comp)-3 > pc.MaxCompressedLen(len(p.data)) {
				t.Errorf("%v %s: %d bytes, more than MaxCompressedLen %d", c, p.name, len(comp)-3, pc.MaxCompressedLen(len(p.data)))
			}
			got, err := pd.Decompress([]byte("x"), comp[3:], len(p.data))
			if err != nil {
				t.Fatalf("%v %s: %v", c, p.name, err)
			}
			if !bytes.Equal(got[1:], p.data) || got[0] != 'x' {
				t.Fatalf("%v %s: round trip differs", c, p.name)
			}

			data, flags, err := pc.CompressPage(nil, p.data)
			if err != nil {
				t.Fatal(err)
			}
			stored += len(data)
			switch {
			case flags == 0:
				raw++
				if !bytes.Equal(data, p.data) {
					t.Fatalf("%v %s: flags 0 but the data is not the page", c, p.name)
				}
				if c != None && len(comp)-3 < len(p.data) {
					t.Errorf("%v %s: stored raw although it compresses to %d bytes", c, p.name, len(comp)-3)
				}
			case flags == c.Flag():
				if len(data) >= len(p.data) || !bytes.Equal(data, comp[3:]) {
					t.Errorf("%v %s: compressed page of %d bytes stored with flags %#x", c, p.name, len(data), flags)
				}
			default:
				t.Errorf("%v %s: flags %#x", c, p.name, flags)
			}
		}
		t.Logf("%-6v stores %d pages in %d bytes (%d raw)", c, len(pages), stored, raw)
		// Incompressible pages are stored raw by every codec; zero pages by none.
		if c != None && (raw == 0 || raw == len(pages)) {
			t.Errorf("%v: %d of %d pages stored raw; the random pages should be, the others not", c, raw, len(pages))
		}
	}
}

// TestOtherDecoders decodes our pages with decoders other than ours: Go's standard
// zlib, the strict and the lenient snappy decoders, and a fresh zstd decoder that must
// see exactly one frame, without checksum, as ZSTD_compressCCtx makes.
func TestOtherDecoders(t *testing.T) {
	pages := testPages(t, 3)
	zlibC, _ := NewPageCompressor(Zlib)
	snappyC, _ := NewPageCompressor(Snappy)
	zstdC, _ := NewPageCompressor(Zstd)
	for _, p := range pages {
		z, _ := zlibC.Compress(nil, p.data)
		if z[0] != 0x78 || z[1] != 0x01 {
			t.Errorf("%s: zlib header % x, want 78 01 (deflate, 32 KiB window, fastest level, as C zlib -1)", p.name, z[:2])
		}
		r, err := stdzlib.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatalf("%s: compress/zlib: %v", p.name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, p.data) {
			t.Fatalf("%s: compress/zlib: %v (equal %v)", p.name, err, bytes.Equal(got, p.data))
		}

		s, _ := snappyC.Compress(nil, p.data)
		for name, decode := range map[string]func([]byte, []byte) ([]byte, error){"Decode": snappy.Decode, "DecodeStrict": snappy.DecodeStrict} {
			if got, err := decode(nil, s); err != nil || !bytes.Equal(got, p.data) {
				t.Fatalf("%s: snappy.%s: %v", p.name, name, err)
			}
		}

		zs, _ := zstdC.Compress(nil, p.data)
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := dec.DecodeAll(zs, nil); err != nil || !bytes.Equal(got, p.data) {
			t.Fatalf("%s: zstd: %v", p.name, err)
		}
		dec.Close()
		var h zstd.Header
		if err := h.Decode(zs); err != nil {
			t.Fatalf("%s: zstd frame header: %v", p.name, err)
		}
		if h.HasCheckSum || h.Skippable || (h.HasFCS && h.FrameContentSize != uint64(len(p.data))) {
			t.Errorf("%s: zstd frame header %+v", p.name, h)
		}
	}
}

func TestDecompressErrors(t *testing.T) {
	pages, _ := testpage.Pages(testpage.Text, 1, 1)
	pg := pages[0]
	for _, c := range Codecs {
		pc, _ := NewPageCompressor(c)
		pd, _ := NewPageDecompressor(c)
		comp, _ := pc.Compress(nil, pg)
		cases := map[string]struct {
			src      []byte
			pageSize int
			sizeErr  bool
		}{
			"truncated":      {comp[:len(comp)/2], len(pg), false},
			"empty":          {nil, len(pg), false},
			"garbage":        {bytes.Repeat([]byte{0xa5, 0x17, 0x00}, 100), len(pg), false},
			"page too small": {comp, len(pg) - 1, true},
			"page too large": {comp, 2 * len(pg), true},
		}
		for name, tc := range cases {
			out, err := pd.Decompress([]byte("keep"), tc.src, tc.pageSize)
			if err == nil {
				t.Errorf("%v %s: no error", c, name)
				continue
			}
			if string(out) != "keep" {
				t.Errorf("%v %s: dst changed on error", c, name)
			}
			if tc.sizeErr && !errors.Is(err, ErrPageSize) {
				t.Errorf("%v %s: %v, want ErrPageSize", c, name, err)
			}
		}
		// A flipped byte in the middle is caught or decodes to something else, never
		// to a page of the wrong size.
		bad := bytes.Clone(comp)
		bad[len(bad)/2] ^= 0x55
		if out, err := pd.Decompress(nil, bad, len(pg)); err == nil && len(out) != len(pg) {
			t.Errorf("%v: corrupt data decoded to %d bytes", c, len(out))
		}
		if c == LZO {
			var fe *lzo.FormatError
			_, err := pd.Decompress(nil, comp[:len(comp)-1], len(pg))
			if !errors.As(err, &fe) {
				t.Errorf("lzo: %v does not carry the lzo.FormatError", err)
			}
		}
	}
	pd, _ := NewPageDecompressor(None)
	if _, err := pd.Decompress(nil, make([]byte, 100), 4096); !errors.Is(err, ErrPageSize) {
		t.Errorf("none: %v, want ErrPageSize", err)
	}
}

// TestSteadyStateAllocs asserts that compressing and decompressing pages allocates
// nothing once the codec state is warm and dst has room: the collector runs in a
// capture kernel with little memory and compresses millions of pages. It counts every
// allocation over many calls (testing.AllocsPerRun rounds an average of 1 allocation
// in 200 calls down to 0).
func TestSteadyStateAllocs(t *testing.T) {
	testenv.SkipAllocsUnderRace(t)
	pages := testPages(t, 2)
	pages = pages[:len(pages)-1] // 4 KiB pages
	for _, c := range allCodecs {
		pc, _ := NewPageCompressor(c)
		pd, _ := NewPageDecompressor(c)
		buf := make([]byte, 0, pc.MaxCompressedLen(testpage.Size))
		out := make([]byte, 0, testpage.Size)
		var comp [][]byte
		for _, p := range pages {
			b, _ := pc.Compress(nil, p.data)
			comp = append(comp, b)
			pd.Decompress(nil, b, testpage.Size) // warm up
		}
		compAllocs := countAllocs(500, func(i int) {
			buf, _, _ = pc.CompressPage(buf[:0], pages[i%len(pages)].data)
		})
		decAllocs := countAllocs(500, func(i int) {
			var err error
			if out, err = pd.Decompress(out[:0], comp[i%len(comp)], testpage.Size); err != nil {
				t.Fatal(err)
			}
		})
		if compAllocs != 0 || decAllocs != 0 {
			t.Errorf("%v: %d allocations in 500 CompressPage calls, %d in 500 Decompress calls; want 0", c, compAllocs, decAllocs)
		}
	}
}

// countAllocs returns the allocations n warm calls of f make (testenv.SteadyAllocs).
func countAllocs(n int, f func(i int)) uint64 { return testenv.SteadyAllocs(10000, n, f) }

func FuzzPageDecompress(f *testing.F) {
	pages, _ := testpage.Pages(testpage.Slab, 1, 1)
	for i, c := range Codecs {
		pc, _ := NewPageCompressor(c)
		b, _ := pc.Compress(nil, pages[0])
		f.Add(uint8(i), b, uint16(len(pages[0])))
	}
	var decs []*PageDecompressor
	for _, c := range allCodecs {
		d, _ := NewPageDecompressor(c)
		decs = append(decs, d)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte, pageSize uint16) {
		d := decs[int(which)%len(decs)]
		out, err := d.Decompress(nil, data, int(pageSize))
		if err == nil && len(out) != int(pageSize) {
			t.Fatalf("%v: decoded %d bytes for a page of %d", d.Codec(), len(out), pageSize)
		}
	})
}

func BenchmarkCompressPage(b *testing.B) {
	for _, c := range Codecs {
		for _, kind := range testpage.Kinds {
			pages, err := testpage.Pages(kind, 64, 5)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.String()+"/"+string(kind), func(b *testing.B) {
				pc, _ := NewPageCompressor(c)
				buf := make([]byte, 0, pc.MaxCompressedLen(testpage.Size))
				for _, p := range pages { // steady state: codec buffers allocated
					buf, _, _ = pc.CompressPage(buf[:0], p)
				}
				var total int
				b.SetBytes(testpage.Size)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					buf, _, _ = pc.CompressPage(buf[:0], pages[i%len(pages)])
					total += len(buf)
				}
				b.ReportMetric(float64(total)/float64(b.N)/testpage.Size, "ratio")
			})
		}
	}
}

func BenchmarkDecompressPage(b *testing.B) {
	pages := testPages(b, 8)
	pages = pages[:len(pages)-1]
	for _, c := range Codecs {
		pc, _ := NewPageCompressor(c)
		var comp [][]byte
		for _, p := range pages {
			comp = append(comp, must(pc.Compress(nil, p.data)))
		}
		b.Run(c.String(), func(b *testing.B) {
			pd, _ := NewPageDecompressor(c)
			out := make([]byte, 0, testpage.Size)
			for _, c := range comp {
				out, _ = pd.Decompress(out[:0], c, testpage.Size)
			}
			b.SetBytes(testpage.Size)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				out, _ = pd.Decompress(out[:0], comp[i%len(comp)], testpage.Size)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
