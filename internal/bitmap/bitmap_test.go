package bitmap

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// naive is the bit-at-a-time reference every operation is checked against.
func naive(b []byte, from, n uint64, set bool) (was uint64) {
	for i := from; i < from+n; i++ {
		if b[i>>3]&(1<<(i&7)) != 0 {
			was++
		}
		if set {
			b[i>>3] |= 1 << (i & 7)
		} else {
			b[i>>3] &^= 1 << (i & 7)
		}
	}
	return was
}

// TestSetClear: every range of a 5-byte bitmap, from random contents, gives the bits
// and the count the naive loop gives (mm and the collector both rely on this).
func TestSetClear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for from := uint64(0); from <= 40; from++ {
		for n := uint64(0); from+n <= 40; n++ {
			start := make([]byte, 5)
			for i := range start {
				start[i] = byte(r.Uint32())
			}
			got, want := bytes.Clone(start), bytes.Clone(start)
			c := Clear(got, from, n)
			wc := naive(want, from, n, false)
			if c != wc || !bytes.Equal(got, want) {
				t.Fatalf("Clear(%08b, %d, %d) = %d, %08b; want %d, %08b", start, from, n, c, got, wc, want)
			}
			got, want = bytes.Clone(start), bytes.Clone(start)
			Set(got, from, n)
			naive(want, from, n, true)
			if !bytes.Equal(got, want) {
				t.Fatalf("Set(%08b, %d, %d) = %08b; want %08b", start, from, n, got, want)
			}
			if c, wc := Count(start), naive(bytes.Clone(start), 0, 40, false); c != wc {
				t.Fatalf("Count(%08b) = %d, want %d", start, c, wc)
			}
		}
	}
}

func TestNextRun(t *testing.T) {
	b := make([]byte, 4)
	Set(b, 3, 2)
	Set(b, 8, 17)
	for _, tc := range []struct {
		from, limit uint64
		set         bool
		start, n    uint64
	}{
		{0, 32, true, 3, 2},
		{4, 32, true, 4, 1},
		{5, 32, true, 8, 17},
		{5, 16, true, 8, 8},
		{0, 32, false, 0, 3},
		{3, 32, false, 5, 3},
		{25, 32, false, 25, 7},
		{25, 32, true, 32, 0},
	} {
		s, n := NextRun(b, tc.from, tc.limit, tc.set)
		if s != tc.start || n != tc.n {
			t.Errorf("NextRun(%d, %d, %v) = %d, %d; want %d, %d", tc.from, tc.limit, tc.set, s, n, tc.start, tc.n)
		}
	}
}
