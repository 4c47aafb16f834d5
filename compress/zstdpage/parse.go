package zstdpage

import (
	"encoding/binary"

	"github.com/gokdump/gokdump/compress/internal/match"
)

const (
	// hashLog sizes the match table: 4096 entries for a 4 KiB page.
	hashLog  = 13
	hashSize = 1 << hashLog

	// minMatch is the shortest match looked up through the table, as libzstd's
	// level 1 for inputs up to 16 KiB; repeat-offset matches may be 4 bytes.
	minMatch = 5

	// skipLog: after 1<<skipLog positions without a match the search steps two
	// positions at a time, and so on, so data that does not compress is passed over
	// quickly.
	skipLog = 8
)

// hashMM hashes the first minMatch bytes of u (little-endian).
func hashMM(u uint64) uint32 {
	return uint32(((u << (64 - 8*minMatch)) * 0xCF1BBCDCB7A56463) >> (64 - hashLog))
}

// parse finds the sequences of src[start:end] (matches may reach back to the frame's
// start), appending them to e.seqs and the literals to e.lits.
func (e *Encoder) parse(src []byte, start, end int) {
	e.seqs = e.seqs[:0]
	e.lits = e.lits[:0]
	table := e.table
	base := e.base
	lit := start
	i := start
	limit := end - 8 // the last position whose 8 bytes can be read
	rep0 := e.rep[0]
	for i <= limit {
		cur := binary.LittleEndian.Uint64(src[i:])
		h := hashMM(cur)
		// The most recent offset first, one byte on: structures repeat at fixed
		// strides, and a repeat offset costs a few bits where a new one costs more
		// than its length in bits.
		if r := i + 1; uint32(r) >= rep0 && binary.LittleEndian.Uint32(src[r-int(rep0):]) == uint32(cur>>8) {
			table[h] = base + uint32(i)
			i = r
			j := i - int(rep0)
			l := 4 + match.Len(src[i+4:end], src[j+4:])
			for i > lit && j > 0 && src[i-1] == src[j-1] {
				i--
				j--
				l++
			}
			e.emit(src, lit, i, rep0, l)
			i = e.afterMatch(src, i, i+l, end)
			lit = i
			rep0 = e.rep[0]
			continue
		}
		cand := table[h]
		table[h] = base + uint32(i)
		if cand >= base {
			j := int(cand - base)
			if (binary.LittleEndian.Uint64(src[j:])^cur)<<(64-8*minMatch) == 0 {
				l := minMatch + match.Len(src[i+minMatch:end], src[j+minMatch:])
				for i > lit && j > 0 && src[i-1] == src[j-1] {
					i--
					j--
					l++
				}
				e.emit(src, lit, i, uint32(i-j), l)
				i = e.afterMatch(src, i, i+l, end)
				lit = i
				rep0 = e.rep[0]
				continue
			}
		}
		i += 1 + (i-lit)>>skipLog
	}
	e.lits = append(e.lits, src[lit:end]...)
}

// afterMatch enters two positions of the match src[from:i] just emitted in the table,
// then takes matches at the second repeat offset right where the last one ended, as
// long as there are any. It returns where the literals start again.
func (e *Encoder) afterMatch(src []byte, from, i, end int) int {
	limit := end - 8
	table := e.table
	base := e.base
	if p := from + 2; p < i && p <= limit {
		table[hashMM(binary.LittleEndian.Uint64(src[p:]))] = base + uint32(p)
	}
	if p := i - 2; p > from+2 && p <= limit {
		table[hashMM(binary.LittleEndian.Uint64(src[p:]))] = base + uint32(p)
	}
	for i <= limit {
		r := e.rep[1]
		if uint32(i) < r || binary.LittleEndian.Uint32(src[i-int(r):]) != binary.LittleEndian.Uint32(src[i:]) {
			break
		}
		l := 4 + match.Len(src[i+4:end], src[i-int(r)+4:])
		table[hashMM(binary.LittleEndian.Uint64(src[i:]))] = base + uint32(i)
		e.emit(src, i, i, r, l)
		i += l
	}
	return i
}

// emit records the literals src[lit:i] and a match of l bytes at offset off, and
// updates the repeat offsets as the decoder will.
func (e *Encoder) emit(src []byte, lit, i int, off uint32, l int) {
	ll := uint32(i - lit)
	e.lits = append(e.lits, src[lit:i]...)
	r := &e.rep
	var offBase uint32
	switch {
	case ll > 0 && off == r[0]:
		offBase = 1
	case ll > 0 && off == r[1]:
		offBase = 2
		r[0], r[1] = r[1], r[0]
	case ll > 0 && off == r[2]:
		offBase = 3
		r[0], r[1], r[2] = r[2], r[0], r[1]
	case ll == 0 && off == r[1]:
		offBase = 1
		r[0], r[1] = r[1], r[0]
	case ll == 0 && off == r[2]:
		offBase = 2
		r[0], r[1], r[2] = r[2], r[0], r[1]
	case ll == 0 && off == r[0]-1:
		offBase = 3
		r[0], r[1], r[2] = off, r[0], r[1]
	default:
		offBase = off + 3
		r[0], r[1], r[2] = off, r[0], r[1]
	}
	ml := uint32(l - 3)
	e.seqs = append(e.seqs, sequence{
		ll: ll, ml: ml, offBase: offBase,
		llCode: llCode(ll), mlCode: mlCode(ml), ofCode: uint8(bitsLen32(offBase) - 1),
	})
}
