package deflate

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"flag"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// inputs are buffers of the shapes kernel memory has, and the edge cases of the
// format: empty, one byte, runs, random bytes (stored), arrays of counters (3-byte
// matches), text, and sizes beyond one block and one window.
func inputs() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	m := map[string][]byte{
		"empty": {},
		"one":   {7},
		"two":   {7, 7},
		"three": {1, 2, 3},
		"four":  {1, 1, 1, 1},
	}
	rnd := make([]byte, 4096)
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	m["random"] = rnd
	zero := make([]byte, 4096)
	m["zero"] = zero
	one := make([]byte, 4096)
	one[1234] = 1
	m["one-set-byte"] = one
	ctr := make([]byte, 4096)
	v := uint32(0x5a5bd)
	for i := 0; i < len(ctr); i += 4 {
		v += uint32(r.IntN(20))
		binary.LittleEndian.PutUint32(ctr[i:], v)
	}
	m["counters"] = ctr
	ptr := make([]byte, 4096)
	for i := 0; i < len(ptr); i += 8 {
		binary.LittleEndian.PutUint64(ptr[i:], 0xffff888000000000|uint64(r.Uint32()&0xfffffc0))
	}
	m["pointers"] = ptr
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 100)
	m["text"] = text
	skew := make([]byte, 4096)
	for i := range skew {
		skew[i] = byte(r.NormFloat64()*3) + 'a'
	}
	m["skewed"] = skew
	big := make([]byte, 200000)
	for i := range big {
		if r.IntN(8) == 0 {
			big[i] = byte(r.Uint32())
		} else if i > 40000 {
			big[i] = big[i-40000+r.IntN(3)]
		}
	}
	m["big"] = big
	bigRandom := make([]byte, 150000)
	for i := range bigRandom {
		bigRandom[i] = byte(r.Uint32())
	}
	m["big-random"] = bigRandom
	// Long runs: blocks end by the bytes they cover (a stored block's limit), not
	// by their tokens.
	m["big-zero"] = make([]byte, 300000)
	return m
}

func inflateZlib(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("zlib header: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	var e Encoder
	for name, in := range inputs() {
		for range 2 { // the second time with warm, stale tables
			z := e.Zlib(nil, in)
			if got := inflateZlib(t, z); !bytes.Equal(got, in) {
				t.Fatalf("%s: round trip differs (%d bytes in, %d out)", name, len(in), len(got))
			}
			if max := MaxZlibLen(len(in)) - writeSlack; len(z) > max {
				t.Errorf("%s: %d bytes, more than the bound %d", name, len(z), max)
			}
			d := e.Deflate(nil, in)
			got, err := io.ReadAll(flate.NewReader(bytes.NewReader(d)))
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("%s: raw deflate round trip: %v", name, err)
			}

		}
	}
}

var update = flag.Bool("update", false, "rewrite testdata/fuzz from the test inputs")

// TestFuzzSeeds keeps the committed seed corpus equal to the test inputs.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]any{}
	for name, in := range inputs() {
		if len(in) <= 4096 {
			seeds[name] = []any{in}
		}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzRoundTrip": seeds}, *update,
		"go test ./compress/deflate -run TestFuzzSeeds -update")
}

// kraft returns the Kraft sum of the code lengths, scaled by 2^limit, and the longest.
func kraft(lens []uint8, limit int) (sum, longest int) {
	for _, l := range lens {
		if l != 0 {
			sum += 1 << (limit - int(l))
			longest = max(longest, int(l))
		}
	}
	return sum, longest
}

// TestHuffmanLimit builds codes whose optimal lengths exceed the format's limits
// (Fibonacci frequencies make the deepest trees) and checks that every code is
// complete and within its limit.
func TestHuffmanLimit(t *testing.T) {
	for _, c := range []struct {
		n, limit int
	}{{numLitLen, maxCodeBits}, {numDist, maxCodeBits}, {numCodeLen, maxCodeLenBits}} {
		freq := make([]uint16, c.n)
		a, b := 1, 1
		for i := range freq {
			freq[i] = uint16(min(a, 30000))
			a, b = b, a+b
		}
		var h huffCode
		h.build(freq, c.limit, 1)
		sum, longest := kraft(h.len[:c.n], c.limit)
		if sum != 1<<c.limit || longest > c.limit {
			t.Errorf("%d symbols, limit %d: Kraft sum %d/%d, longest %d", c.n, c.limit, sum, 1<<c.limit, longest)
		}
		if longest != c.limit {
			t.Errorf("%d symbols, limit %d: longest code %d: the test did not reach the limit", c.n, c.limit, longest)
		}
	}
}

// refCost is the cost in bits of an optimal (unlimited) Huffman code for freq, built
// the textbook way: merge the two lightest weights until one is left.
func refCost(freq []uint16) int {
	var w []int
	for _, f := range freq {
		if f != 0 {
			w = append(w, int(f))
		}
	}
	if len(w) < 2 {
		return slices.Max(append(w, 0)) // none, or one symbol of one bit
	}
	cost := 0
	for len(w) > 1 {
		slices.Sort(w)
		s := w[0] + w[1]
		cost += s
		w = append(w[2:], s)
	}
	return cost
}

// TestHuffmanOptimal checks the in-place construction against the textbook one on
// random frequencies, where no length limit applies.
func TestHuffmanOptimal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h huffCode
	for i := range 2000 {
		freq := make([]uint16, 2+r.IntN(numLitLen-1))
		for s := range freq {
			if r.IntN(3) > 0 {
				freq[s] = uint16(1 + r.IntN(1+r.IntN(4000)))
			}
		}
		if i%7 == 0 {
			clear(freq)
			freq[r.IntN(len(freq))] = 5 // a symbol alone gets a partner
		}
		h.build(freq, maxCodeBits, 1)
		sum, longest := kraft(h.len[:len(freq)], maxCodeBits)
		if sum != 1<<maxCodeBits {
			t.Fatalf("case %d: code not complete: Kraft sum %d/%d", i, sum, 1<<maxCodeBits)
		}
		if longest == maxCodeBits {
			continue // limited: not comparable
		}
		cost := 0
		for s, f := range freq {
			cost += int(f) * int(h.len[s])
		}
		if want := refCost(freq); cost != want {
			t.Fatalf("case %d: code costs %d bits, the optimal %d", i, cost, want)
		}
	}
}

// TestBlockChoice checks that each kind of block is chosen where it is smallest.
func TestBlockChoice(t *testing.T) {
	var e Encoder
	in := inputs()
	cases := []struct {
		name  string
		btype byte
	}{
		{"random", 0}, // incompressible: stored
		{"three", 1},  // too short for a dynamic header to pay: fixed
		{"counters", 2},
		{"text", 2},
	}
	for _, c := range cases {
		d := e.Deflate(nil, in[c.name])
		if got := (d[0] >> 1) & 3; got != c.btype {
			t.Errorf("%s: block type %d, want %d", c.name, got, c.btype)
		}
		if d[0]&1 != 1 {
			t.Errorf("%s: the only block is not marked final", c.name)
		}
	}
	if n, max := len(e.Zlib(nil, in["random"])), 4096+5+1+6; n > max {
		t.Errorf("random page: %d bytes, a stored block is %d", n, max)
	}
}

// TestAllocs: once warm, compressing into a buffer with room allocates nothing.
func TestAllocs(t *testing.T) {
	testenv.SkipAllocsUnderRace(t)
	var e Encoder
	in := inputs()
	pages := [][]byte{in["counters"], in["random"], in["text"], in["zero"], in["pointers"]}
	dst := make([]byte, 0, MaxZlibLen(4096))
	for _, p := range pages {
		dst = e.Zlib(dst[:0], p)
	}
	allocs := testing.AllocsPerRun(50, func() {
		for _, p := range pages {
			dst = e.Zlib(dst[:0], p)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run of %d pages, want 0", allocs, len(pages))
	}
}

// TestAppendRoom: Zlib appends to what dst holds, in place when dst has MaxZlibLen
// bytes of room (the writer's stores past the output's end included), and correctly
// when it has less.
func TestAppendRoom(t *testing.T) {
	var e Encoder
	for name, in := range inputs() {
		for _, room := range []int{MaxZlibLen(len(in)), MaxZlibLen(len(in)) - 1, 0} {
			dst := append(make([]byte, 0, 3+room), "abc"...)
			out := e.Zlib(dst, in)
			if string(out[:3]) != "abc" {
				t.Fatalf("%s, room %d: dst's bytes not kept: %q", name, room, out[:3])
			}
			if inPlace := &out[0] == &dst[:1][0]; room == MaxZlibLen(len(in)) && !inPlace {
				t.Errorf("%s: room of MaxZlibLen, not written in place", name)
			}
			if got := inflateZlib(t, out[3:]); !bytes.Equal(got, in) {
				t.Fatalf("%s, room %d: round trip differs", name, room)
			}
		}
	}
}

// FuzzRoundTrip compresses arbitrary input twice with one encoder (the second time
// over its stale tables) and checks that Go's inflater gives it back.
// The seeds, in testdata/fuzz/FuzzRoundTrip, are the test inputs of a page or less.
func FuzzRoundTrip(f *testing.F) {
	var e Encoder
	f.Fuzz(func(t *testing.T, in []byte) {
		for range 2 {
			z := e.Zlib(nil, in)
			if len(z) > MaxZlibLen(len(in))-writeSlack {
				t.Fatalf("%d bytes for %d, more than MaxZlibLen's bound", len(z), len(in))
			}
			if got := inflateZlib(t, z); !bytes.Equal(got, in) {
				t.Fatalf("round trip differs")
			}
		}
	})
}

// TestBlockInputLimit: a block never covers more input than a stored block holds, so
// storing stays an option (and MaxDeflateLen a bound) for any input.
func TestBlockInputLimit(t *testing.T) {
	var e Encoder
	in := make([]byte, 300000)
	e.init(len(in))
	end := e.parse(in, 0)
	if end > maxStored || end < maxStored-maxMatch-4 {
		t.Errorf("first block of %d zero bytes ends at %d, want just below %d", len(in), end, maxStored)
	}
	if got := inflateZlib(t, e.Zlib(nil, in)); !bytes.Equal(got, in) {
		t.Error("round trip differs")
	}
}
