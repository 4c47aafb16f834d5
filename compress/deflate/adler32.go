package deflate

import "encoding/binary"

// adler32Checksum is RFC 1950's Adler-32 checksum of p, as hash/adler32.Checksum, eight bytes
// a step: s1 grows by the eight bytes' sum and s2 by eight times s1 plus the bytes
// weighted 8 down to 1, both sums made with 64-bit lane arithmetic, instead of the
// byte-by-byte recurrence whose additions wait on each other.
func adler32Checksum(p []byte) uint32 {
	const (
		mod = 65521
		// nmax is the most bytes before s2 could overflow a uint32 (as zlib's NMAX),
		// rounded down to a multiple of 8.
		nmax = 5552
	)
	s1, s2 := uint32(1), uint32(0)
	for len(p) > 0 {
		q := p
		if len(q) > nmax {
			q = q[:nmax]
		}
		p = p[len(q):]
		for len(q) >= 8 {
			// The even and the odd bytes in four 16-bit lanes each; a multiplication
			// sums the lanes, weighted by the multiplier's lanes in reverse, into the
			// top lane (no lane sum reaches 2^16, so nothing carries into it).
			v := binary.LittleEndian.Uint64(q)
			even := v & 0x00ff00ff00ff00ff
			odd := v >> 8 & 0x00ff00ff00ff00ff
			sum := uint32((even + odd) * 0x0001000100010001 >> 48)
			weighted := uint32(even*0x0008000600040002>>48) + uint32(odd*0x0007000500030001>>48)
			s2 += 8*s1 + weighted
			s1 += sum
			q = q[8:]
		}
		for _, b := range q {
			s1 += uint32(b)
			s2 += s1
		}
		s1 %= mod
		s2 %= mod
	}
	return s2<<16 | s1
}
