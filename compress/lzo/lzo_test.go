package lzo

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
	"github.com/gokdump/gokdump/internal/testenv"
)

type namedInput struct {
	name string
	data []byte
}

// testInputs returns inputs that exercise every instruction the encoder writes: short
// inputs, long literal runs, long copies, copies beyond 16 KiB (the 0001HLLL form),
// overlapping copies, and realistic pages.
func testInputs(t testing.TB) []namedInput {
	r := rand.New(rand.NewPCG(1, 2))
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
	for _, n := range []int{1, 2, 3, 4, 5, 8, 13, 17, 18, 19, 20, 21, 237, 238, 239, 240, 300, 4096, 70000} {
		add(fmt.Sprintf("random-%d", n), random(n))
	}
	for _, n := range []int{1, 4, 5, 9, 33, 34, 35, 288, 289, 290, 4096, 1 << 20} {
		add(fmt.Sprintf("zero-%d", n), make([]byte, n))
	}
	add("abc-repeat", bytes.Repeat([]byte("abc"), 2000))
	add("period-7", bytes.Repeat([]byte("0123456"), 600))
	// A random block repeated: copies from 20000 and 40000 bytes back, long ones.
	blk := random(20000)
	add("far-repeat", bytes.Join([][]byte{blk, blk, blk}, nil))
	// Short repeats at every distance class, with literals of every run length between.
	var mixed []byte
	for i := 0; len(mixed) < 60000; i++ {
		mixed = append(mixed, random(i%25)...)
		back := 1 + r.IntN(min(len(mixed)+1, 49000))
		if back <= len(mixed) {
			n := 3 + r.IntN(40)
			if r.IntN(8) == 0 {
				n += r.IntN(600)
			}
			for k := 0; k < n; k++ {
				mixed = append(mixed, mixed[len(mixed)-back])
			}
		}
	}
	add("mixed", mixed)
	// Text: a long, real, mostly ASCII file if one is there; the generated log else.
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 8, 7)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pages {
			add(fmt.Sprintf("%s-%d", kind, i), p)
		}
		add(string(kind)+"-32k", bytes.Join(pages, nil))
	}
	for _, path := range []string{"/bin/bash", os.Args[0]} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+4096 <= len(b); off += len(b) / 13 {
			add(fmt.Sprintf("%s@%d", path, off), b[off:off+4096])
		}
		add(path+"-64k", b[len(b)/2:len(b)/2+65536])
	}
	return in
}

func TestRoundTrip(t *testing.T) {
	var enc Encoder
	for _, in := range testInputs(t) {
		c, err := enc.Compress(nil, in.data)
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		if len(c) > MaxCompressedLen(len(in.data)) {
			t.Errorf("%s: %d bytes compressed to %d, more than MaxCompressedLen %d", in.name, len(in.data), len(c), MaxCompressedLen(len(in.data)))
		}
		if !bytes.HasSuffix(c, []byte{0x11, 0, 0}) {
			t.Errorf("%s: stream does not end with the end marker: % x", in.name, c[max(0, len(c)-8):])
		}
		d, err := Decompress([]byte("prefix"), c, len(in.data))
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		if !bytes.Equal(d[6:], in.data) || string(d[:6]) != "prefix" {
			t.Fatalf("%s: round trip differs", in.name)
		}
		// One byte less room must fail with ErrOutputLimit, not truncate silently.
		if len(in.data) > 0 {
			if _, err := Decompress(nil, c, len(in.data)-1); !errors.Is(err, ErrOutputLimit) {
				t.Errorf("%s: with a limit one byte short: got %v, want ErrOutputLimit", in.name, err)
			}
		}
	}
}

// TestLiblzoInterop proves both directions against liblzo2: lzo1x_decompress_safe
// accepts every stream we write, and we decode every stream lzo1x_1_compress writes.
func TestLiblzoInterop(t *testing.T) {
	lib := startLiblzo(t)
	var enc Encoder
	for _, in := range testInputs(t) {
		ours, err := enc.Compress(nil, in.data)
		if err != nil {
			t.Fatal(err)
		}
		status, got := lib.decompress(t, ours, len(in.data))
		if status != 0 || !bytes.Equal(got, in.data) {
			t.Errorf("%s: liblzo2 lzo1x_decompress_safe of our stream: status %d, %d bytes, equal %v",
				in.name, status, len(got), bytes.Equal(got, in.data))
		}
		theirs := lib.compress(t, in.data)
		d, err := Decompress(nil, theirs, len(in.data))
		if err != nil || !bytes.Equal(d, in.data) {
			t.Errorf("%s: decoding liblzo2's stream: %v (equal %v)", in.name, err, bytes.Equal(d, in.data))
		}
	}
	// And liblzo2 rejects what we reject: a stream cut short.
	c, _ := enc.Compress(nil, bytes.Repeat([]byte("kdump "), 500))
	if status, _ := lib.decompress(t, c[:len(c)-1], 3000); status == 0 {
		t.Errorf("liblzo2 accepted a truncated stream; the helper does not test what it claims")
	}
}

// TestRatioVsLiblzo compares our compressed size with lzo1x_1_compress's on each kind of
// page: makedumpfile -l users expect dumps no larger than before.
func TestRatioVsLiblzo(t *testing.T) {
	lib := startLiblzo(t)
	var enc Encoder
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 64, 11)
		if err != nil {
			t.Fatal(err)
		}
		var ours, theirs int
		for _, p := range pages {
			c, _ := enc.Compress(nil, p)
			ours += len(c)
			theirs += len(lib.compress(t, p))
		}
		ratio := float64(ours) / float64(theirs)
		t.Logf("%-12s ours %7d  liblzo2 %7d  (%.3f)  of %d bytes", kind, ours, theirs, ratio, len(pages)*testpage.Size)
		if ratio > 1.10 {
			t.Errorf("%s pages: our output is %.1f%% of liblzo2's, want at most 110%%", kind, 100*ratio)
		}
	}
}

func TestDecompressErrors(t *testing.T) {
	good, _ := Compress(nil, bytes.Repeat([]byte("0123456789"), 100))
	tests := []struct {
		name     string
		in       []byte
		limit    int
		off      int
		limitErr bool
	}{
		{"empty", nil, 100, 0, false},
		{"no end marker", []byte{17 + 3, 'a', 'b', 'c'}, 100, 4, false},
		{"first literal run past the end", []byte{17 + 10, 'a'}, 100, 0, false},
		{"copy before start", []byte{17 + 1, 'a', 0x40 | 1<<2, 0, 0x11, 0, 0}, 100, 2, false},
		{"copy from empty dictionary", []byte{0x10, 0x04, 0x00, 0x11, 0, 0}, 100, 0, false},
		{"trailing bytes", []byte{17 + 1, 'a', 0x11, 0, 0, 0}, 100, 5, false},
		{"truncated distance", []byte{17 + 1, 'a', 0x20 | 3, 0}, 100, 2, false},
		{"truncated length", []byte{17 + 4, 'a', 'b', 'c', 'd', 0x20, 0, 0}, 10000, 5, false},
		{"literal run too long", []byte{0x00, 0x00, 0x05, 'x'}, 100, 0, true},
		{"zero run too long", append([]byte{0x00}, make([]byte, 50)...), 1000, 0, true},
		{"trailing literals missing", []byte{17 + 4, 'a', 'b', 'c', 'd', 0x40 | 3, 0}, 100, 5, false},
		{"output limit", good, 999, -1, true},
		{"cut", good[:len(good)-2], 2000, -1, false},
	}
	for _, tt := range tests {
		_, err := Decompress(nil, tt.in, tt.limit)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FormatError", tt.name, err)
			continue
		}
		if tt.off >= 0 && fe.Off != tt.off {
			t.Errorf("%s: error at offset %d, want %d (%v)", tt.name, fe.Off, tt.off, err)
		}
		if errors.Is(err, ErrOutputLimit) != tt.limitErr {
			t.Errorf("%s: %v: ErrOutputLimit %v, want %v", tt.name, err, !tt.limitErr, tt.limitErr)
		}
	}
}

// TestDecodeSpecialForms decodes hand-made streams using the instructions our encoder
// never writes but liblzo2's encoders may: 2-byte and 3-byte copies after literals and
// extended lengths.
func TestDecodeSpecialForms(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		// "ab", then 0000DDSS with state 2: copy 2 bytes from distance 2, then 1 literal.
		{"2-byte copy", []byte{17 + 2, 'a', 'b', 0x00 | 1<<2 | 1, 0, 'c', 0x11, 0, 0}, "ababc"},
		// 2049 literals (0000 0000, 7 zero bytes, then 2049-18-7*255=246), then a 3-byte
		// copy from 2049 back.
		{"3-byte copy after a literal run", append(append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 246}, bytes.Repeat([]byte("xyz"), 683)...), 0x00, 0, 0x11, 0, 0),
			strings3(683) + "xyz"},
		// 001LLLLL with extended length: 2+31+255+4 = 292 bytes from distance 1.
		{"extended length", []byte{17 + 1, 'q', 0x20, 0, 4, 0, 0, 0x11, 0, 0}, string(bytes.Repeat([]byte("q"), 293))},
		// 0001HLLL: length 3 from 16385 back after 16385 literals.
		{"far copy", append(append([]byte{0}, farLiterals()...), 0x11, 0x04, 0x00, 0x11, 0, 0), ""},
	}
	for _, tt := range tests {
		got, err := Decompress(nil, tt.in, 1<<20)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tt.want != "" && string(got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, trim(got), trim([]byte(tt.want)))
		}
	}
}

func strings3(n int) string { return string(bytes.Repeat([]byte("xyz"), n)) }

// farLiterals returns the length tail and bytes of a 16385-byte literal run starting
// with "abc", so that a copy from 16385 back yields "abc".
func farLiterals() []byte {
	n := 16385
	var b []byte
	r := n - 18
	for r > 255 {
		b = append(b, 0)
		r -= 255
	}
	b = append(b, byte(r))
	lits := make([]byte, n)
	copy(lits, "abc")
	return append(b, lits...)
}

func trim(b []byte) []byte { return b[:min(len(b), 40)] }

// TestEncoderState checks that table entries left by earlier inputs never turn into
// copies, also when the position base wraps around.
func TestEncoderState(t *testing.T) {
	pages, err := testpage.Pages(testpage.Slab, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Pages take the small-input path (uint16 table, cleared per call), inputs over
	// smallInput the other (uint32 table, told apart by base): mixed, neither leaks
	// into the other.
	big := bytes.Join(pages[:12], nil)
	if len(big) <= smallInput {
		t.Fatalf("big input of %d bytes takes the small path", len(big))
	}
	pages = append(pages[:8:8], append([][]byte{big}, pages[8:]...)...)
	var enc Encoder
	for round := 0; round < 3; round++ {
		if round == 2 {
			enc.base = math.MaxUint32 - 5000 // the next calls must clear the table
		}
		for i, p := range pages {
			c, _ := enc.Compress(nil, p)
			d, err := Decompress(nil, c, len(p))
			if err != nil || !bytes.Equal(d, p) {
				t.Fatalf("round %d page %d: %v", round, i, err)
			}
			// The same page compressed by a fresh encoder gives the same stream: no
			// state leaks from one call into the next.
			if fresh, _ := Compress(nil, p); !bytes.Equal(fresh, c) {
				t.Fatalf("round %d page %d: output depends on earlier calls", round, i)
			}
		}
	}
}

// TestCompressAllocs counts every allocation over many calls (testing.AllocsPerRun
// rounds an average below one down to 0).
func TestCompressAllocs(t *testing.T) {
	testenv.SkipAllocsUnderRace(t)
	pages, _ := testpage.Pages(testpage.Text, 4, 1)
	var enc Encoder
	buf := make([]byte, 0, MaxCompressedLen(testpage.Size))
	if n := countAllocs(1000, func(i int) {
		buf, _ = enc.Compress(buf[:0], pages[i%len(pages)])
	}); n != 0 {
		t.Errorf("Compress with room in dst: %d allocations in 1000 calls, want 0", n)
	}
	out := make([]byte, 0, testpage.Size)
	if n := countAllocs(1000, func(int) {
		out, _ = Decompress(out[:0], buf, testpage.Size)
	}); n != 0 {
		t.Errorf("Decompress with room in dst: %d allocations in 1000 calls, want 0", n)
	}
}

// countAllocs returns the allocations n warm calls of f make (testenv.SteadyAllocs).
func countAllocs(n int, f func(i int)) uint64 { return testenv.SteadyAllocs(1, n, f) }

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, hello, hello kdump"))
	var enc Encoder
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := enc.Compress(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) > MaxCompressedLen(len(data)) {
			t.Fatalf("%d bytes compressed to %d", len(data), len(c))
		}
		d, err := Decompress(nil, c, len(data))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d, data) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzDecompress(f *testing.F) {
	f.Add([]byte{0x11, 0, 0}, 16)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = int(uint(limit) % (1 << 20))
		d, err := Decompress([]byte("xy"), data, limit)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Off < 0 || fe.Off > len(data) {
				t.Fatalf("error %v is not a FormatError with an offset inside the input", err)
			}
			return
		}
		if len(d)-2 > limit || string(d[:2]) != "xy" {
			t.Fatalf("decoded %d bytes with a limit of %d, or clobbered dst", len(d)-2, limit)
		}
		// A valid stream decodes the same with exactly its length as the limit.
		if _, err := Decompress(nil, data, len(d)-2); err != nil {
			t.Fatalf("decodes with limit %d but not with its own length %d: %v", limit, len(d)-2, err)
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
				buf, _ = enc.Compress(buf[:0], pages[i%len(pages)])
				total += len(buf)
			}
			b.ReportMetric(float64(total)/float64(b.N)/testpage.Size, "ratio")
		})
	}
}

func BenchmarkDecompress(b *testing.B) {
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 64, 5)
		if err != nil {
			b.Fatal(err)
		}
		comp := make([][]byte, len(pages))
		for i, p := range pages {
			comp[i], _ = Compress(nil, p)
		}
		b.Run(string(kind), func(b *testing.B) {
			out := make([]byte, 0, testpage.Size)
			b.SetBytes(testpage.Size)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				out, _ = Decompress(out[:0], comp[i%len(comp)], testpage.Size)
			}
		})
	}
}
