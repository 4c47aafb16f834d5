package zstdpage

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/klauspost/compress/zstd"
)

type namedInput struct {
	name string
	data []byte
}

// testInputs returns pages of every testpage kind, pages of real binaries, pages of
// one byte value, random pages, inputs of edge lengths (around the frame header's
// size fields and the 128 KiB block limit) and inputs that exercise every literals
// and sequences coding: many or few literals, long and short matches, repeat offsets.
func testInputs(t testing.TB) []namedInput {
	r := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	var in []namedInput
	add := func(name string, b []byte) { in = append(in, namedInput{name, b}) }
	add("empty", nil)
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 63, 64, 255, 256, 257, 1023, 1024, 4095, 4096, 4097} {
		add(fmt.Sprintf("random-%d", n), random(n))
		add(fmt.Sprintf("zero-%d", n), make([]byte, n))
		add(fmt.Sprintf("text-%d", n), bytes.Repeat([]byte("kdump page "), n/11+1)[:n])
	}
	for _, n := range []int{65535 + 256, 65536 + 256, 128 << 10, 128<<10 + 1, 300000} {
		add(fmt.Sprintf("zero-%d", n), make([]byte, n))
		add(fmt.Sprintf("random-%d", n), random(n))
	}
	add("ff-4096", bytes.Repeat([]byte{0xff}, 4096))
	add("almost-rle", append(bytes.Repeat([]byte{7}, 4095), 8))
	add("period-3", bytes.Repeat([]byte("abc"), 1400)[:4096])
	// Short repeats at random distances with literal runs of every length between.
	var mixed []byte
	for i := 0; len(mixed) < 300000; i++ {
		mixed = append(mixed, random(i%70)...)
		if back := 1 + r.IntN(len(mixed)+1); back <= len(mixed) {
			n := 3 + r.IntN(40)
			if r.IntN(8) == 0 {
				n += r.IntN(2000)
			}
			for k := 0; k < n; k++ {
				mixed = append(mixed, mixed[len(mixed)-back])
			}
		}
	}
	add("mixed-4096", mixed[:4096])
	add("mixed-65536", mixed[:65536])
	add("mixed-300000", mixed)
	// Fixed strides, as kernel structures repeat: repeat offsets of every kind.
	stride := make([]byte, 4096)
	for i := 0; i+24 <= len(stride); i += 24 {
		copy(stride[i:], fmt.Sprintf("%08x%04d", 0xffff8880+i/24%5, i%97))
	}
	add("stride", stride)
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 12, 7)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pages {
			add(fmt.Sprintf("%s-%d", kind, i), p)
		}
		add(string(kind)+"-48k", bytes.Join(pages, nil))
	}
	for _, path := range []string{"/bin/bash", os.Args[0]} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+4096 <= len(b); off += len(b) / 17 {
			add(fmt.Sprintf("%s@%d", path, off), b[off:off+4096])
		}
		add(path+"-64k", b[len(b)/2:len(b)/2+65536])
	}
	return in
}

// newDecoder returns klauspost's decoder set up as compress.PageDecompressor sets it.
func newDecoder(t testing.TB) *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<20),
		zstd.WithDecoderMaxWindow(1<<20), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// TestRoundTrip decodes every frame with klauspost's decoder, the one gokdump reads
// dumps with, and checks the frame's size bound and header.
func TestRoundTrip(t *testing.T) {
	dec := newDecoder(t)
	var enc Encoder
	for _, in := range testInputs(t) {
		c := enc.Compress([]byte("prefix"), in.data)
		if string(c[:6]) != "prefix" {
			t.Fatalf("%s: dst clobbered", in.name)
		}
		c = c[6:]
		if len(c) > MaxCompressedLen(len(in.data)) {
			t.Errorf("%s: %d bytes compressed to %d, more than MaxCompressedLen %d", in.name, len(in.data), len(c), MaxCompressedLen(len(in.data)))
		}
		var h zstd.Header
		if err := h.Decode(c); err != nil || !h.SingleSegment || h.HasCheckSum || !h.HasFCS || h.FrameContentSize != uint64(len(in.data)) {
			t.Errorf("%s: frame header %+v (%v)", in.name, h, err)
		}
		d, err := dec.DecodeAll(c, make([]byte, 0, len(in.data)))
		if err != nil {
			t.Fatalf("%s: klauspost's decoder: %v", in.name, err)
		}
		if !bytes.Equal(d, in.data) {
			t.Fatalf("%s: round trip differs", in.name)
		}
	}
}

// TestSpecialBlocks checks the block types chosen: RLE for a page of one byte value,
// raw for random data, compressed otherwise.
func TestSpecialBlocks(t *testing.T) {
	var enc Encoder
	blockType := func(c []byte) int { return int(c[7]>>1) & 3 } // after 4+1+2 header bytes
	if c := enc.Compress(nil, make([]byte, 4096)); len(c) != 11 || blockType(c) != blockRLE {
		t.Errorf("zero page: %d bytes, block type %d; want 11 bytes, RLE", len(c), blockType(c))
	}
	rnd, _ := testpage.Pages(testpage.Random, 1, 1)
	if c := enc.Compress(nil, rnd[0]); len(c) != 4096+10 || blockType(c) != blockRaw {
		t.Errorf("random page: %d bytes, block type %d; want %d bytes, raw", len(c), blockType(c), 4096+10)
	}
	txt, _ := testpage.Pages(testpage.Text, 1, 1)
	if c := enc.Compress(nil, txt[0]); len(c) > 2500 || blockType(c) != blockCompressed {
		t.Errorf("text page: %d bytes, block type %d; want under 2500, compressed", len(c), blockType(c))
	}
}

// TestEncoderState checks that table entries left by earlier inputs never turn into
// matches, also when the position base wraps around: the same input compresses to
// the same frame whatever came before.
func TestEncoderState(t *testing.T) {
	pages, err := testpage.Pages(testpage.Slab, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, bytes.Join(pages[:12], nil))
	dec := newDecoder(t)
	var enc Encoder
	for round := 0; round < 3; round++ {
		if round == 2 {
			enc.base = 1<<32 - 5000 // the next calls must clear the table
		}
		for i, p := range pages {
			c := enc.Compress(nil, p)
			if d, err := dec.DecodeAll(c, make([]byte, 0, len(p))); err != nil || !bytes.Equal(d, p) {
				t.Fatalf("round %d page %d: %v", round, i, err)
			}
			if fresh := Compress(nil, p); !bytes.Equal(fresh, c) {
				t.Fatalf("round %d page %d: output depends on earlier calls", round, i)
			}
		}
	}
}

// TestCompressAllocs counts every allocation over many warm calls.
func TestCompressAllocs(t *testing.T) {
	testenv.SkipAllocsUnderRace(t)
	var pages [][]byte
	for _, kind := range testpage.Kinds {
		p, _ := testpage.Pages(kind, 4, 1)
		pages = append(pages, p...)
	}
	var enc Encoder
	buf := make([]byte, 0, MaxCompressedLen(testpage.Size))
	if n := testenv.SteadyAllocs(len(pages), 1000, func(i int) {
		buf = enc.Compress(buf[:0], pages[i%len(pages)])
	}); n != 0 {
		t.Errorf("Compress with room in dst: %d allocations in 1000 calls, want 0", n)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/fuzz from the test inputs")

// TestFuzzSeeds keeps the committed seed corpus (the first KiB of a page of each kind,
// and a few repetitive inputs) equal to what the generators make today.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]any{
		"almost-rle": {append(bytes.Repeat([]byte{7}, 1023), 8)},
		"period-3":   {bytes.Repeat([]byte("abc"), 400)},
	}
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		seeds[string(kind)+"-1k"] = []any{pages[0][:1024]}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzRoundTrip": seeds}, *update,
		"go test ./compress/zstdpage -run TestFuzzSeeds -update")
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, hello, hello kdump"))
	var enc Encoder
	dec := newDecoder(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := enc.Compress(nil, data)
		if len(c) > MaxCompressedLen(len(data)) {
			t.Fatalf("%d bytes compressed to %d", len(data), len(c))
		}
		d, err := dec.DecodeAll(c, make([]byte, 0, len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d, data) {
			t.Fatal("round trip differs")
		}
	})
}

func BenchmarkCompress(b *testing.B) {
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 64, 5)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(kind), func(b *testing.B) {
			var enc Encoder
			buf := make([]byte, 0, MaxCompressedLen(testpage.Size))
			var total int
			b.SetBytes(testpage.Size)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = enc.Compress(buf[:0], pages[i%len(pages)])
				total += min(len(buf), testpage.Size)
			}
			b.ReportMetric(float64(total)/float64(b.N)/testpage.Size, "ratio")
		})
	}
}

// TestFrameHeader checks the content size field at each of its sizes' edges, inputs
// too large to make here included, against klauspost's header parser.
func TestFrameHeader(t *testing.T) {
	for _, n := range []uint64{0, 255, 256, 65535 + 256, 65536 + 256, 1<<32 - 1, 1 << 32, 1<<40 + 3} {
		b := appendFrameHeader(nil, n)
		b = append(b, 1, 0, 0) // an empty last raw block, for the parser's sake
		var h zstd.Header
		if err := h.Decode(b); err != nil || !h.SingleSegment || !h.HasFCS || h.FrameContentSize != n || h.HasCheckSum {
			t.Errorf("content size %d: header %+v (%v)", n, h, err)
		}
	}
}

// TestHugeInputRaw checks the raw blocks written for inputs beyond maxMatchedInput
// (lowered here: the real bound is 1 GiB).
func TestHugeInputRaw(t *testing.T) {
	defer func(m int) { maxMatchedInput = m }(maxMatchedInput)
	maxMatchedInput = 1000
	dec := newDecoder(t)
	var enc Encoder
	for _, n := range []int{1001, 128 << 10, 128<<10 + 1, 300000} {
		in := bytes.Repeat([]byte("kdump"), n/5+1)[:n]
		c := enc.Compress(nil, in)
		blocks := (n + maxBlock - 1) / maxBlock
		if want := len(appendFrameHeader(nil, uint64(n))) + 3*blocks + n; len(c) != want {
			t.Errorf("%d bytes: frame of %d bytes, want %d raw blocks (%d bytes)", n, len(c), blocks, want)
		}
		if d, err := dec.DecodeAll(c, make([]byte, 0, n)); err != nil || !bytes.Equal(d, in) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}
