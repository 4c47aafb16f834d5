package lzo

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"

	"github.com/gokdump/gokdump/compress/internal/match"
	"github.com/gokdump/gokdump/compress/internal/word"
)

const (
	// hashLog sizes the match finder's table for inputs over smallInput: 2^14 entries,
	// the dictionary size liblzo2's lzo1x_1 uses, so both find about the same matches
	// and compress about as well. Pages use the smaller Encoder.small.
	hashLog  = 14
	hashSize = 1 << hashLog

	// minMatch is the shortest copy the encoder looks for: a 4-byte hash probe, as
	// LZO1X-1 does. Shorter copies exist in the format but rarely pay.
	minMatch = 4

	// maxInputLen bounds one call so that positions, offset by Encoder.base, fit a uint32.
	maxInputLen = math.MaxUint32 / 2
)

// ErrInputTooLarge is returned by Compress for inputs of 2 GiB or more.
var ErrInputTooLarge = errors.New("lzo: input too large to compress in one call")

// Encoder compresses data into LZO1X streams. It holds the match finder's hash table so
// that compressing page after page allocates nothing; the zero value is ready to use.
// An Encoder is not safe for concurrent use: use one per goroutine.
type Encoder struct {
	// table maps a hash of 4 input bytes to base + the position where they were last
	// seen. Entries below base were written by earlier calls and are ignored, so a call
	// does not have to clear the 64 KiB table (that would cost more than compressing a
	// typical 4 KiB page).
	table [hashSize]uint32
	base  uint32
	// small is the table of inputs up to smallInput (pages): positions in the input,
	// cleared for each input, as liblzo2's lzo1x_1 keeps its dictionary. It has a
	// quarter of table's entries: on the 21,787 pages of a -d 31 dump of the bench's
	// 1 GiB vmcore, 2^12 entries (8 KiB) compress 5% faster than liblzo2's 2^14
	// (32 KiB to clear for every page, and less of the L1 cache left for the page and
	// the output) for output 0.16% larger; 2^13 gained 3%, 2^11 lost 0.4% of size.
	small [smallSize]uint16
}

const (
	smallLog  = 12
	smallSize = 1 << smallLog
)

// Compress appends the LZO1X-1 compression of src to dst and returns the extended
// buffer. When dst has room for MaxCompressedLen(len(src)) more bytes it is not
// reallocated. The output is a complete stream, end marker included, that liblzo2's
// lzo1x_decompress_safe accepts.
func (e *Encoder) Compress(dst, src []byte) ([]byte, error) {
	n := len(src)
	if n > maxInputLen {
		return dst, ErrInputTooLarge
	}
	if n <= smallInput {
		return e.compressSmall(dst, src), nil
	}
	src = src[:n:n] // putLiterals' 16-byte moves read no further than the input
	if e.base == 0 || uint64(e.base)+uint64(n) > math.MaxUint32 {
		clear(e.table[:])
		e.base = 1
	}
	base := e.base
	e.base += uint32(n)

	start := len(dst)
	bound := MaxCompressedLen(n)
	dst = slices.Grow(dst, bound)
	out := dst[start : start+bound]

	o := 0     // bytes written to out
	sPos := -1 // index in out of the byte holding the S bits of the last copy
	lit := 0   // start of the literals not yet written
	last := n - minMatch
	for i := 0; i <= last; {
		cur := binary.LittleEndian.Uint32(src[i:])
		h := hash4(cur)
		seen := e.table[h]
		e.table[h] = base + uint32(i)
		if seen < base {
			i += 1 + (i-lit)>>5
			continue
		}
		cand := int(seen - base)
		if i-cand > maxM4Distance || binary.LittleEndian.Uint32(src[cand:]) != cur {
			// Step further the longer nothing matched, as LZO1X-1 does: incompressible
			// data is skipped through quickly.
			i += 1 + (i-lit)>>5
			continue
		}
		// Grow the copy backwards over pending literals, then forwards.
		for cand > 0 && i > lit && src[cand-1] == src[i-1] {
			cand--
			i--
		}
		length := minMatch + match.Len(src[cand+minMatch:], src[i+minMatch:])
		o = putLiterals(out, o, sPos, src[lit:i])
		o, sPos = putCopy(out, o, i-cand, length)
		i += length
		lit = i
		// Positions inside the copy are not entered in the table, as in LZO1X-1:
		// entering the last one gained under 1% of size on kernel pages and cost
		// 10-20% of the speed.
	}
	o = putLiterals(out, o, sPos, src[lit:])
	out[o], out[o+1], out[o+2] = endMarker0, 0, 0
	o += 3
	return dst[:start+o], nil
}

// smallInput is the largest input compressSmall takes: its positions fit the uint16
// table, and its distances are all within an M4 copy's reach.
const smallInput = 1 << 15

// compressSmall is Compress for inputs of at most smallInput bytes, with the uint16
// table.
func (e *Encoder) compressSmall(dst, src []byte) []byte {
	n := len(src)
	src = src[:n:n] // putLiterals' 16-byte moves read no further than the input
	clear(e.small[:])
	start := len(dst)
	bound := MaxCompressedLen(n)
	dst = slices.Grow(dst, bound)
	out := dst[start : start+bound]

	o := 0     // bytes written to out
	sPos := -1 // index in out of the byte holding the S bits of the last copy
	lit := 0   // start of the literals not yet written
	last := n - minMatch
	tab := &e.small
	// Position 0 is never looked up, so an entry 0 (empty) is never taken for it; any
	// other entry is an earlier position whose bytes are checked. Every entry is below
	// the i that reads it (a copy always ends past the position that found it), so
	// cand < i <= last: the word loads below, without bounds checks, read inside src.
	for i := 1; i <= last; {
		cur := word.Load32(src, i)
		h := hashSmall(cur)
		cand := int(tab[h])
		tab[h] = uint16(i)
		if word.Load32(src, cand) != cur {
			// Step further the longer nothing matched, as LZO1X-1 does.
			i += 1 + (i-lit)>>5
			continue
		}
		for cand > 0 && i > lit && src[cand-1] == src[i-1] {
			cand--
			i--
		}
		// Most copies in kernel memory are short: one 8-byte comparison settles them
		// without a call. This is match.LenAt written out: called, it cost 4% here.
		var length int
		if i+minMatch+8 <= n {
			if x := word.Load64(src, cand+minMatch) ^ word.Load64(src, i+minMatch); x != 0 {
				length = minMatch + bits.TrailingZeros64(x)>>3
			} else {
				length = minMatch + 8 + match.Len(src[cand+minMatch+8:], src[i+minMatch+8:])
			}
		} else {
			length = minMatch + match.Len(src[cand+minMatch:], src[i+minMatch:])
		}
		o = putLiterals(out, o, sPos, src[lit:i])
		o, sPos = putCopy(out, o, i-cand, length)
		i += length
		lit = i
	}
	o = putLiterals(out, o, sPos, src[lit:])
	out[o], out[o+1], out[o+2] = endMarker0, 0, 0
	o += 3
	return dst[:start+o]
}

// Compress appends the LZO1X-1 compression of src to dst with a temporary Encoder.
// Code that compresses repeatedly should keep an Encoder instead.
func Compress(dst, src []byte) ([]byte, error) {
	e := new(Encoder)
	return e.Compress(dst, src)
}

func hash4(u uint32) uint32 {
	return (u * 0x9e3779b1) >> (32 - hashLog)
}

func hashSmall(u uint32) uint32 {
	return (u * 0x9e3779b1) >> (32 - smallLog)
}

// putLiterals writes a run of literal bytes at out[o:] and returns the new length.
// sPos is the byte of the previous copy whose S bits can carry a run of 1..3.
func putLiterals(out []byte, o, sPos int, lits []byte) int {
	n := len(lits)
	switch {
	case n == 0:
		return o
	case o == 0 && n <= maxFirstLiteralRun:
		// Only the stream's first byte has this form.
		out[0] = byte(17 + n)
		o = 1
	case n <= 3:
		// o > 0 here, so a copy was written and sPos is valid.
		out[sPos] |= byte(n)
	case n <= 18:
		out[o] = byte(n - 3)
		o++
	default:
		out[o] = 0
		o = putLengthTail(out, o+1, n-18)
	}
	if n <= 16 && cap(lits) >= 16 && o+16 <= len(out) {
		// Short runs, the common ones, as one 16-byte move instead of a call to
		// memmove: the bytes past the run are overwritten by what follows or lie
		// past the end of the output. The callers cap lits at the input's end.
		*(*[16]byte)(out[o : o+16]) = [16]byte(lits[:16])
		return o + n
	}
	return o + copy(out[o:], lits)
}

// putCopy writes a copy of length bytes from distance bytes back and returns the new
// length of out and the index of the byte that holds the copy's S bits.
func putCopy(out []byte, o, distance, length int) (int, int) {
	switch {
	case length <= maxM2Length && distance <= maxM2Distance:
		d := distance - 1
		out[o] = byte((length-1)<<5 | (d&7)<<2)
		out[o+1] = byte(d >> 3)
		return o + 2, o
	case distance <= maxM3Distance:
		if length-2 <= 31 {
			out[o] = m3Marker | byte(length-2)
			o++
		} else {
			out[o] = m3Marker
			o = putLengthTail(out, o+1, length-2-31)
		}
		d := distance - 1
		out[o] = byte(d << 2)
		out[o+1] = byte(d >> 6)
		return o + 2, o
	default:
		d := distance - m4DistanceMin // 1..0x7fff: never 0, which would end the stream
		h := byte(d>>14) << 3
		if length-2 <= 7 {
			out[o] = m4Marker | h | byte(length-2)
			o++
		} else {
			out[o] = m4Marker | h
			o = putLengthTail(out, o+1, length-2-7)
		}
		d &= 0x3fff
		out[o] = byte(d << 2)
		out[o+1] = byte(d >> 6)
		return o + 2, o
	}
}

// putLengthTail writes the rest r >= 1 of an extended length: a zero byte for each 255,
// then a final non-zero byte.
func putLengthTail(out []byte, o, r int) int {
	for r > 255 {
		out[o] = 0
		o++
		r -= 255
	}
	out[o] = byte(r)
	return o + 1
}
