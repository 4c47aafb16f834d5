package collector

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/internal/testenv"
)

// keptInputs are bitmaps of the shapes a window's 2nd bitmap takes.
func keptInputs() map[string][]byte {
	r := rand.New(rand.NewPCG(7, 8))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	mixed := make([]byte, 0, 16384)
	for len(mixed) < 16384 {
		v := []byte{0x00, 0xff, byte(r.Uint32())}[r.IntN(3)]
		mixed = append(mixed, bytes.Repeat([]byte{v}, 1+r.IntN(40))...)
	}
	return map[string][]byte{
		"empty":      {},
		"one-zero":   {0},
		"free":       make([]byte, 16384),
		"kernel":     bytes.Repeat([]byte{0xff}, 16384),
		"random":     random,
		"mixed":      mixed[:16384],
		"short-runs": bytes.Repeat([]byte{0, 0, 0, 0xff, 0xff, 0xff, 0x0f}, 100),
		"run-at-end": append(bytes.Repeat([]byte{0x5a}, 10), make([]byte, 5)...),
		// Runs just long enough to be cut out between literals with 2-byte counts.
		"worst": bytes.Repeat(append(bytes.Repeat([]byte{0x5a}, 130), make([]byte, 5)...), 100),
	}
}

// TestKeptRuns: the encoding gives back every input, takes a few bytes for a window of
// one kind of page, and at worst one literal's header more than the input.
func TestKeptRuns(t *testing.T) {
	inputs := keptInputs()
	// Runs between literals whose counts take 3 bytes (a window bitmap over 16 KiB):
	// cutting a 5-byte run out there would cost 6.
	lit := bytes.Repeat([]byte{0x5a}, 16384)
	inputs["wide"] = append(append(append([]byte{}, lit...), make([]byte, 5)...), lit...)
	for name, in := range inputs {
		enc := encodeRuns(nil, in)
		got := make([]byte, len(in))
		if err := decodeRuns(got, enc); err != nil || !bytes.Equal(got, in) {
			t.Errorf("%s: round trip differs (%v)", name, err)
		}
		if max := len(in) + 1 + uvarintLen(len(in)); len(enc) > max {
			t.Errorf("%s: %d bytes encode to %d, more than %d", name, len(in), len(enc), max)
		}
	}
	for _, name := range []string{"free", "kernel"} {
		if n := len(encodeRuns(nil, keptInputs()[name])); n > 4 {
			t.Errorf("%s: a window of one kind of page takes %d bytes, want a run of at most 4", name, n)
		}
	}
}

// TestKeptRunsCorrupt: an encoding that does not describe the window's bytes is an
// error, not a panic or a short fill.
func TestKeptRunsCorrupt(t *testing.T) {
	for _, c := range []struct {
		name string
		enc  []byte
		n    int
	}{
		{"too few", []byte{runZero, 3}, 4},
		{"too many", []byte{runOnes, 5}, 4},
		{"literal cut short", []byte{runLiteral, 4, 1, 2}, 4},
		{"unknown kind", []byte{7, 4}, 4},
		{"count cut short", []byte{runZero, 0x80}, 4},
		{"empty for bytes", nil, 1},
	} {
		if err := decodeRuns(make([]byte, c.n), c.enc); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

var updateKept = flag.Bool("update-kept", false, "rewrite testdata/fuzz/FuzzKeptRuns from keptInputs")

// TestKeptFuzzSeeds keeps FuzzKeptRuns's committed seeds equal to keptInputs.
func TestKeptFuzzSeeds(t *testing.T) {
	seeds := map[string][]any{}
	for name, in := range keptInputs() {
		seeds[name] = []any{in}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzKeptRuns": seeds}, *updateKept,
		"go test ./collector -run TestKeptFuzzSeeds -update-kept")
}

// FuzzKeptRuns: any bitmap comes back from its encoding.
func FuzzKeptRuns(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		enc := encodeRuns(nil, in)
		got := make([]byte, len(in))
		if err := decodeRuns(got, enc); err != nil || !bytes.Equal(got, in) {
			t.Fatalf("round trip differs (%v)", err)
		}
		if max := len(in) + 1 + uvarintLen(len(in)); len(enc) > max {
			t.Fatalf("%d bytes encode to %d, more than one literal's %d", len(in), len(enc), max)
		}
	})
}

// TestKeptBitmapBudget: windows are kept from the first until one does not fit, in
// no more than the budget (encodings and index, by capacity); get gives back the kept
// ones and refuses the rest.
func TestKeptBitmapBudget(t *testing.T) {
	const W = 64 // pfns: 8 bytes a window
	wins := [][]byte{
		make([]byte, 8),
		{1, 2, 3, 4, 5, 6, 7, 8},
		bytes.Repeat([]byte{0xff}, 8),
		{0, 0, 0, 0, 0, 0, 0, 9},
		make([]byte, 8),                     // would fit, but comes after one that did not
		{0xff, 0xff, 0xff, 0xff, 0xff, 0x1}, // the last, short window
	}
	someKept := false
	for budget := range 160 {
		k := newKeptBitmap(W, budget)
		for i, b := range wins {
			k.add(&window{start: uint64(i) * W, n: uint64(len(b)) * 8, dumped: b})
		}
		kept := len(k.ends)
		for i, b := range wins {
			got := make([]byte, len(b))
			ok := k.get(got, uint64(i)*W)
			if ok != (i < kept) || ok && !bytes.Equal(got, b) {
				t.Errorf("budget %d: window %d: kept %v (%x), want kept %v (%x)", budget, i, ok, got, i < kept, b)
			}
		}
		if held := cap(k.data) + 4*cap(k.ends); held > budget {
			t.Errorf("budget %d: %d bytes held (%d and %d used)", budget, held, len(k.data), 4*len(k.ends))
		}
		// The encodings take 26 bytes and the index 24: with room for twice that
		// (capacities grow by doubling) all are kept.
		if budget >= 100 && kept != len(wins) {
			t.Errorf("budget %d keeps %d of %d windows", budget, kept, len(wins))
		}
		someKept = someKept || kept > 0 && kept < len(wins)
	}
	if !someKept {
		t.Error("no budget kept some windows but not all: the test does not test that")
	}
}

// TestKeptPartial: with room for only some windows' verdicts, pass 2 takes those and
// classifies the rest again, and the dump is the same byte for byte as with none kept
// or all; ReclassifiedPages says how many pfns were classified again.
func TestKeptPartial(t *testing.T) {
	k := newTestKernel(t, profile61)
	src := k.open(t)
	for _, codec := range []compress.Codec{compress.LZO, compress.None} {
		opts := Options{DumpLevel: 31, Codec: codec, Threads: 2, WindowPFNs: 256}
		var ref collected
		reclassifying(t, func() { ref = collect(t, src, opts) })
		total := ref.stats.TotalPages
		if ref.stats.ReclassifiedPages != total {
			t.Errorf("%v: nothing kept: %d pfns classified again, want all %d", codec, ref.stats.ReclassifiedPages, total)
		}
		var partial bool
		for _, budget := range []int{8, 40, 200, 1 << 20} {
			var got collected
			withKeepBudget(t, budget, func() { got = collect(t, src, opts) })
			if !bytes.Equal(got.out, ref.out) {
				t.Errorf("%v, %d bytes kept at most: output differs from classifying again (%d vs %d bytes)", codec, budget, len(got.out), len(ref.out))
			}
			r := got.stats.ReclassifiedPages
			switch {
			case budget == 1<<20 && r != 0:
				t.Errorf("%v: room for all: %d pfns classified again, want 0", codec, r)
			case r > total:
				t.Errorf("%v, %d bytes: %d pfns classified again, more than the %d there are", codec, budget, r, total)
			case r > 0 && r < total:
				partial = true
			}
		}
		if !partial {
			t.Errorf("%v: no budget kept only some windows: the test does not test that", codec)
		}
	}
}

// withKeepBudget runs f with pass 1 keeping at most budget bytes of verdicts.
func withKeepBudget(t *testing.T, budget int, f func()) {
	t.Helper()
	keep := keepBitmapMax
	keepBitmapMax = budget
	defer func() { keepBitmapMax = keep }()
	f()
}
