package match

import (
	"bytes"
	"testing"
)

// TestLen puts the first difference at every position of buffers long enough
// for each of Len's steps (32 bytes, 8 bytes, single bytes).
func TestLen(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 100, 4096} {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte(i*7 + 1)
		}
		if got := Len(a, bytes.Clone(a)); got != n {
			t.Errorf("equal buffers of %d bytes: %d", n, got)
		}
		for d := 0; d < n; d++ {
			b := bytes.Clone(a)
			b[d] ^= 0x10
			if got := Len(a, b); got != d {
				t.Fatalf("%d bytes differing at %d: Len %d", n, d, got)
			}
		}
		if n > 0 {
			if got := Len(a, a[:n-1]); got != n-1 {
				t.Errorf("prefix of %d bytes: %d", n-1, got)
			}
		}
	}
}

// TestLenAt: LenAt is Len of the two suffixes, for matches of every length from 0 to
// past the 8-byte comparison, at positions near and at the input's end.
func TestLenAt(t *testing.T) {
	for _, n := range []int{16, 40, 100} {
		for j := 0; j < n; j++ {
			for i := j + 1; i < n; i++ {
				src := make([]byte, n)
				for k := range src {
					src[k] = byte(k)
				}
				// src[i:] repeats src[j:] for m bytes, then differs.
				m := (i + j) % 20
				for k := 0; k < m && i+k < n; k++ {
					src[i+k] = src[j+k]
				}
				if got, want := LenAt(src, i, j), Len(src[i:], src[j:]); got != want {
					t.Fatalf("n %d, i %d, j %d: LenAt %d, Len %d", n, i, j, got, want)
				}
			}
		}
	}
}
