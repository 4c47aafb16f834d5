package deflate

import "encoding/binary"

// adler32Checksum is RFC 1950's Adler-32 checksum of p, as hash/adler32.Checksum, 64
// bytes a step with no multiplication per byte, instead of the byte-by-byte recurrence
// whose additions wait on each other.
//
// Within a step of eight 8-byte words, the even and the odd bytes of each word are
// added into four 16-bit lanes each (a), and a is added into a second pair of lanes
// (pre) before each word: after the step, a's lanes hold each byte position's sum and
// pre's the sums of the words before each word. Then s1 grows by the sum of a's lanes,
// and s2 by 64 times s1 at the step's start, 8 times the sum of pre's lanes (every
// earlier word counts once for each of a word's 8 bytes) and a's lanes weighted 8 down
// to 1 by byte position. No lane, and no sum a multiplication gathers into the top
// lane, reaches 2^16 (a: 8*255 a lane; pre: 28*255 a lane, its eight lanes' sum
// 224*255, the largest; the weighted sums: 20*8*255 and 16*8*255), so nothing carries
// between lanes: a longer step would overflow pre's sum. At the step boundaries s1 and
// s2 are the recurrence's own values, so zlib's bound on bytes between reductions
// holds.
func adler32Checksum(p []byte) uint32 {
	const (
		mod = 65521
		// nmax is the most bytes before s2 could overflow a uint32 (as zlib's NMAX).
		nmax = 5552
		lo   = 0x00ff00ff00ff00ff
		ones = 0x0001000100010001 // a multiplication by it sums the lanes into the top one
	)
	s1, s2 := uint32(1), uint32(0)
	for len(p) > 0 {
		q := p
		if len(q) > nmax {
			q = q[:nmax]
		}
		p = p[len(q):]
		for len(q) >= 64 {
			w := (*[64]byte)(q)
			var ae, ao, pe, po uint64
			for j := 0; j < 64; j += 8 {
				v := binary.LittleEndian.Uint64(w[j:])
				pe += ae
				po += ao
				ae += v & lo
				ao += v >> 8 & lo
			}
			sum := uint32((ae + ao) * ones >> 48)
			before := uint32((pe + po) * ones >> 48)
			weighted := uint32(ae*0x0008000600040002>>48) + uint32(ao*0x0007000500030001>>48)
			s2 += 64*s1 + 8*before + weighted
			s1 += sum
			q = q[64:]
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
