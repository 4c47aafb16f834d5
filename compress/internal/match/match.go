// Package match measures how far two byte strings agree: the inner loop of the
// compress package's match finders (LZO1X-1, zstd and deflate), shared by them.
package match

import (
	"encoding/binary"
	"math/bits"

	"github.com/gokdump/gokdump/compress/internal/word"
)

// Len returns the length of the common prefix of a and b. Kernel pages often hold
// a short pattern repeated to the page's end (fills, poison, zeroed tails), so the
// common case is a match of thousands of bytes: it compares 32 bytes a step.
func Len(a, b []byte) int {
	n := 0
	for len(a) >= 32 && len(b) >= 32 {
		x0 := binary.LittleEndian.Uint64(a[0:]) ^ binary.LittleEndian.Uint64(b[0:])
		x1 := binary.LittleEndian.Uint64(a[8:]) ^ binary.LittleEndian.Uint64(b[8:])
		x2 := binary.LittleEndian.Uint64(a[16:]) ^ binary.LittleEndian.Uint64(b[16:])
		x3 := binary.LittleEndian.Uint64(a[24:]) ^ binary.LittleEndian.Uint64(b[24:])
		if x0|x1|x2|x3 != 0 {
			switch {
			case x0 != 0:
				return n + bits.TrailingZeros64(x0)>>3
			case x1 != 0:
				return n + 8 + bits.TrailingZeros64(x1)>>3
			case x2 != 0:
				return n + 16 + bits.TrailingZeros64(x2)>>3
			}
			return n + 24 + bits.TrailingZeros64(x3)>>3
		}
		a, b = a[32:], b[32:]
		n += 32
	}
	for len(a) >= 8 && len(b) >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		a, b = a[8:], b[8:]
		n += 8
	}
	m := min(len(a), len(b))
	for i := 0; i < m; i++ {
		if a[i] != b[i] {
			return n + i
		}
	}
	return n + m
}

// LenAt is Len(src[i:], src[j:]) for two positions j < i of one input, for the page
// encoders' match finders, where most copies in kernel memory are shorter than 8
// bytes: one 8-byte comparison settles those before Len's loop.
func LenAt(src []byte, i, j int) int {
	if i+8 <= len(src) {
		if x := word.Load64(src, i) ^ word.Load64(src, j); x != 0 {
			return bits.TrailingZeros64(x) >> 3
		}
		return 8 + Len(src[i+8:], src[j+8:])
	}
	return Len(src[i:], src[j:])
}
