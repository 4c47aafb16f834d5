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
