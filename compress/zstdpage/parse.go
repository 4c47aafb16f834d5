package zstdpage

import (
	"encoding/binary"
	"math/bits"

	"github.com/gokdump/gokdump/compress/internal/match"
	"github.com/gokdump/gokdump/compress/internal/word"
)

const (
	// hashLog sizes the match table as libzstd level 1 sizes it for a 4 KiB input
	// (its hash log capped at the window's log plus one): 8192 entries.
	hashLog  = 13
	hashSize = 1 << hashLog

	// minMatch is how many bytes a table entry's hash covers (libzstd level 1's
	// for inputs up to 16 KiB); a candidate is taken when 4 of them match.
	minMatch = 5

	// stepEvery: the gap between the pairs of positions search looks at grows by
	// one every stepEvery bytes without a match.
	stepEvery = 128
)

// hashMM hashes the first minMatch bytes of u (little-endian).
func hashMM(u uint64) uint32 {
	return uint32(((u << (64 - 8*minMatch)) * 0xCF1BBCDCB7A56463) >> (64 - hashLog))
}

// parse finds the sequences of src[start:end] (matches may reach back to the frame's
// start), appending them to e.seqs and the literals to e.lits.
func (e *Encoder) parse(src []byte, start, end int) {
	n := end - start
	// Room for every literal and sequence the block can have, and for the literal
	// copies' overrun: the loop below writes by index, without append's checks.
	if cap(e.lits) < n+16 {
		e.lits = make([]byte, 0, n+n/4+16)
	}
	if cap(e.seqs) < n/3+1 {
		e.seqs = make([]sequence, 0, n/3+n/8+1)
	}
	lits := e.lits[:cap(e.lits)]
	seqs := e.seqs[:cap(e.seqs)]
	nl, ns := 0, 0
	src = src[:end]
	table := e.table
	base := e.base
	r0, r1, r2 := e.rep[0], e.rep[1], e.rep[2]
	lit := start
	i := start
	limit := end - 8 // the last position whose 8 bytes can be read
	for {
		var j int
		i, j = search(table, base, src, i, limit, r0)
		if j < 0 {
			break
		}
		// At least 4 bytes match; count the rest, then grow the match backwards
		// over the pending literals.
		l := 4 + match.LenAt(src, i+4, j+4)
		b := backLen(src, i, j, lit)
		// The second repeat offset may match as well, and further: structures
		// that repeat at two strides (a table of entries, the same table further
		// back).
		if k := i - int(r1); k >= 0 && k != j && binary.LittleEndian.Uint32(src[k:]) == binary.LittleEndian.Uint32(src[i:]) {
			l1 := 4 + match.LenAt(src, i+4, k+4)
			if b1 := backLen(src, i, k, lit); l1+b1 > l+b {
				j, l, b = k, l1, b1
			}
		}
		i, j, l = i-b, j-b, l+b
		from := i
		off := uint32(i - j)
		for {
			// The literals src[lit:i], copied 16 bytes at a time (lits has room).
			ll := i - lit
			if ll <= 16 && lit+16 <= len(src) {
				copy(lits[nl:nl+16], src[lit:lit+16])
			} else {
				copy(lits[nl:nl+ll], src[lit:i])
			}
			nl += ll
			// The offset's code, with the repeat offsets updated as the decoder
			// will (RFC 8878 3.1.2.5).
			var offBase uint32
			switch {
			case ll > 0 && off == r0:
				offBase = 1
			case ll > 0 && off == r1:
				offBase = 2
				r0, r1 = r1, r0
			case ll > 0 && off == r2:
				offBase = 3
				r0, r1, r2 = r2, r0, r1
			case ll == 0 && off == r1:
				offBase = 1
				r0, r1 = r1, r0
			case ll == 0 && off == r2:
				offBase = 2
				r0, r1, r2 = r2, r0, r1
			case ll == 0 && off == r0-1:
				offBase = 3
				r0, r1, r2 = off, r0, r1
			default:
				offBase = off + 3
				r0, r1, r2 = off, r0, r1
			}
			ml := uint32(l - 3)
			// Field by field: a composite literal is built on the stack and then
			// copied as one 16-byte word, which stalls on its own byte stores.
			sq := &seqs[ns]
			sq.ll, sq.ml, sq.offBase = uint32(ll), ml, offBase
			sq.llCode, sq.mlCode, sq.ofCode = llCode(uint32(ll)), mlCode(ml), uint8(bits.Len32(offBase)-1)
			ns++
			i += l
			lit = i
			if i > limit {
				break
			}
			// Enter two positions of the match in the table, then take a match at
			// the second repeat offset right where this one ended, if there is one.
			if p := from + 2; p < i {
				table[hashMM(binary.LittleEndian.Uint64(src[p:]))] = base + uint32(p)
			}
			if p := i - 2; p > from+2 {
				table[hashMM(binary.LittleEndian.Uint64(src[p:]))] = base + uint32(p)
			}
			if uint32(i) < r1 || binary.LittleEndian.Uint32(src[i-int(r1):]) != binary.LittleEndian.Uint32(src[i:]) {
				break
			}
			table[hashMM(binary.LittleEndian.Uint64(src[i:]))] = base + uint32(i)
			from, off = i, r1
			l = 4 + match.LenAt(src, i+4, i-int(r1)+4)
		}
	}
	nl += copy(lits[nl:], src[lit:end])
	e.lits = lits[:nl]
	e.seqs = seqs[:ns]
	e.rep = [3]uint32{r0, r1, r2}
}

// backLen returns how far the match of src[i:] at src[j:] extends backwards, over
// the pending literals from lit on.
func backLen(src []byte, i, j, lit int) int {
	b := 0
	for i-b > lit && j-b > 0 && src[i-b-1] == src[j-b-1] {
		b++
	}
	return b
}

// search looks for the next match in src from position i0 to limit and returns
// its position and source (j < i), or j < 0 when there is none. It walks the
// positions in pairs, as libzstd's fast strategy does: the two positions' table
// candidates, and the most recent offset at the next pair's first position, which
// wins over both candidates (structures repeat at fixed strides, and a repeat offset
// costs a few bits where a new one costs more than its length in bits). Every
// position looked at is entered in the table. The gap between pairs grows by one
// every 128 bytes without a match, so data that does not compress is passed over
// quickly.
func search(table *[hashSize]uint32, base uint32, src []byte, i0, limit int, rep0 uint32) (int, int) {
	// Every load below is at a position from 0 to i0 (table candidates, clamped
	// to i0, and repeat sources) or at i0, i1, i2 < i3 < limit <= len(src)-8: the
	// loop runs while i3, the pair after next's second position, is below limit.
	if limit > len(src)-8 || i0 < 0 {
		return i0, -1
	}
	step := 2
	nextStep := i0 + stepEvery
	i1 := i0 + 1
	i2 := i0 + step
	if i2+1 >= limit {
		return i0, -1
	}
	h0 := hashMM(word.Load64(src, i0))
	h1 := hashMM(word.Load64(src, i1))
	cand := int(table[h0] - base) // stale entries (below base) wrap to beyond i
	for {
		table[h0] = base + uint32(i0)
		if k := i2 - int(rep0); k >= 0 && word.Load32(src, k) == word.Load32(src, i2) {
			table[h1] = base + uint32(i1)
			return i2, k
		}
		c := cand ^ (cand^i0)&((i0-cand)>>63) // min(cand, i0), without a branch
		diff := word.Load32(src, c) ^ word.Load32(src, i0)
		if uint64(diff)|uint64(i0-cand-1)>>63 == 0 {
			table[h1] = base + uint32(i1)
			return i0, cand
		}
		cand = int(table[h1] - base)
		h0, h1 = h1, hashMM(word.Load64(src, i2))
		i0, i1 = i1, i2
		i2 = i1 + 1
		table[h0] = base + uint32(i0)
		c = cand ^ (cand^i0)&((i0-cand)>>63)
		diff = word.Load32(src, c) ^ word.Load32(src, i0)
		if uint64(diff)|uint64(i0-cand-1)>>63 == 0 {
			if step <= 4 {
				table[h1] = base + uint32(i1)
			}
			return i0, cand
		}
		cand = int(table[h1] - base)
		h0, h1 = h1, hashMM(word.Load64(src, i2))
		i0, i1 = i1, i2
		i2 = i0 + step
		if i2 >= nextStep {
			step++
			nextStep += stepEvery
		}
		if i1+step >= limit {
			return i0, -1
		}
	}
}
