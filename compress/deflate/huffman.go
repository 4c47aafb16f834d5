package deflate

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/gokdump/gokdump/compress/internal/prefix"
)

// huffCode is a canonical Huffman code: a length per symbol (0: unused) and the code,
// bit-reversed for deflate's least-significant-bit-first packing.
type huffCode struct {
	len  [288]uint8
	code [288]uint16
	n    int // symbols the header lists: up to the last used one, at least the minimum

	// scratch for build
	sorted []uint64 // freq<<16 | symbol
	tmp    []uint64
	depth  []int
}

// build makes an optimal code for freq with no code longer than limit, listing at
// least minSyms symbols. Every code it makes is complete (its Kraft sum is exactly 1),
// with at least two symbols: a symbol alone is given a partner of length 1, as zlib
// does, since some decoders reject incomplete codes.
func (h *huffCode) build(freq []uint16, limit int, minSyms int) {
	clear(h.len[:])
	// The used symbols, gathered without a branch per symbol: each is written, and
	// kept only if used.
	if cap(h.sorted) < len(freq) {
		h.sorted = make([]uint64, len(freq))
	}
	sorted := h.sorted[:len(freq)]
	var most uint16
	n := 0
	for s, f := range freq {
		sorted[n] = uint64(f)<<16 | uint64(s)
		n += int(b2u(f != 0))
		most = max(most, f)
	}
	for s := 0; n < 2; s++ {
		if freq[s] == 0 {
			sorted[n] = uint64(s) // frequency 0 sorts first
			n++
		}
	}
	h.sorted = sorted[:n]
	h.sortByFreq(most)
	if cap(h.depth) < n {
		h.depth = make([]int, n, len(freq))
	}
	a := h.depth[:n]
	for i, v := range h.sorted {
		a[i] = int(v >> 16)
	}
	prefix.MinimumRedundancy(a)
	limitLengths(a, limit)
	// a is non-increasing, so each length's symbols are one run of it: count them
	// from where the runs end (counting symbol by symbol would make each step wait
	// on the last one's store whenever lengths repeat).
	var end [maxCodeBits + 1]int
	last := 0
	for i, v := range h.sorted {
		s := int(v & 0xffff)
		h.len[s] = uint8(a[i])
		end[a[i]] = i + 1
		last = max(last, s)
	}
	var count [maxCodeBits + 1]uint16
	done := 0
	for l := maxCodeBits; l > 0; l-- {
		if end[l] != 0 {
			count[l] = uint16(end[l] - done)
			done = end[l]
		}
	}
	h.n = max(last+1, minSyms)
	h.assign(&count)
}

// b2u is 1 for true and 0 for false.
func b2u(b bool) uint {
	if b {
		return 1
	}
	return 0
}

// sortBuckets is how many frequencies sortByFreq sorts by counting; the higher ones
// share its last bucket. A page's frequencies add up to about 4096, so no more than
// about 64 of its symbols are that frequent (a larger block's may be more: they are
// sorted all the same, only slower).
const sortBuckets = 64

// sortByFreq sorts h.sorted, which is in symbol order, by frequency (at most most),
// keeping symbol order among equal frequencies. A counting sort does most of it, since
// a page's few hundred symbols sort faster that way than by comparison; the few
// frequent symbols left in the last bucket are then sorted by comparison.
func (h *huffCode) sortByFreq(most uint16) {
	if cap(h.tmp) < len(h.sorted) {
		h.tmp = make([]uint64, len(h.sorted), cap(h.sorted))
	}
	v, tmp := h.sorted, h.tmp[:len(h.sorted)]
	var pos [sortBuckets]uint16
	nb := min(int(most)+1, sortBuckets)
	for _, x := range v {
		pos[min(x>>16, sortBuckets-1)]++
	}
	sum := uint16(0)
	for b, c := range pos[:nb] {
		pos[b] = sum
		sum += c
	}
	for _, x := range v {
		b := min(x>>16, sortBuckets-1)
		tmp[pos[b]] = x
		pos[b]++
	}
	if int(most) >= sortBuckets-1 {
		// The keys are unique (they hold the symbol), so any sort is stable.
		slices.Sort(tmp[pos[sortBuckets-2]:])
	}
	h.sorted, h.tmp = tmp, v
}

// limitLengths caps the code lengths in a (non-increasing, as minimumRedundancy leaves
// them: the rarest symbols first) at limit, keeping the code complete. Lengths over
// the limit are cut to it; the Kraft sum this overfills is paid back by lengthening
// the rarest of the shorter codes, and any room left is given back by shortening the
// most frequent of the longest codes.
func limitLengths(a []int, limit int) {
	if a[0] <= limit {
		return
	}
	full := 1 << limit
	kraft := 0
	for i := range a {
		a[i] = min(a[i], limit)
		kraft += 1 << (limit - a[i])
	}
	for kraft > full {
		i := 0
		for a[i] == limit {
			i++
		}
		a[i]++
		kraft -= 1 << (limit - a[i])
	}
	for kraft < full {
		j := 0
		for j+1 < len(a) && a[j+1] == a[0] {
			j++
		}
		kraft += 1 << (limit - a[j])
		a[j]--
	}
}

// assign gives the symbols h.len[:h.n] lists their canonical codes; count holds how
// many there are of each length.
func (h *huffCode) assign(count *[maxCodeBits + 1]uint16) {
	var next [maxCodeBits + 1]uint16
	code := uint16(0)
	for l := 2; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	// Unused symbols (length 0) are given code 0 from next[0], which nothing reads.
	for s, l := range h.len[:h.n] {
		h.code[s] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}

// setLengths makes h the canonical code with lengths lens.
func (h *huffCode) setLengths(lens []uint8) {
	var count [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	copy(h.len[:], lens)
	h.n = len(lens)
	h.assign(&count)
}

// codeBuilder holds a dynamic block's codes and its header's code-length code.
type codeBuilder struct {
	lit, dist, clen huffCode
	rle             []uint16 // code-length symbols, each with its extra bits above bit 8
	clenFreq        [numCodeLen]uint16
	nclen           int
}

// header prepares the dynamic block header for lit and dist and returns its size in
// bits, the 3 block header bits included.
func (cb *codeBuilder) header() int {
	// The lengths, then a byte no length has, where runLengths' scan stops, and room
	// for its 8-byte reads.
	var seq [numLitLen + numDist + 8]uint8
	n := copy(seq[:], cb.lit.len[:cb.lit.n])
	n += copy(seq[n:], cb.dist.len[:cb.dist.n])
	for i := n; i < len(seq); i++ {
		seq[i] = 0xff
	}
	cb.runLengths(seq[:], n)
	cb.clen.build(cb.clenFreq[:], maxCodeLenBits, 0)
	cb.nclen = numCodeLen
	for cb.nclen > 4 && cb.clen.len[codeLenOrder[cb.nclen-1]] == 0 {
		cb.nclen--
	}
	total := 3 + 5 + 5 + 4 + 3*cb.nclen
	for _, r := range cb.rle {
		total += int(cb.clen.len[r&0xff]) + int(clenExtra[r&0xff])
	}
	return total
}

// clenExtra is the number of extra bits of each code-length symbol.
var clenExtra = [numCodeLen]uint8{16: 2, 17: 3, 18: 7}

// runLengths encodes the code lengths seq[:n] with the code-length alphabet: 0-15 a
// length, 16 the previous length 3-6 times, 17 zero 3-10 times, 18 zero 11-138 times.
// seq[n] must differ from every length, and seq must hold 8 bytes past any run.
func (cb *codeBuilder) runLengths(seq []uint8, n int) {
	rle := cb.rle[:0]
	var freq [numCodeLen]uint16
	for i := 0; i < n; {
		l := seq[i]
		// The run's length, 8 bytes at a time: the first byte that differs ends it
		// (seq[n] at the latest).
		pat := uint64(l) * 0x0101010101010101
		run := 0
		for {
			x := binary.LittleEndian.Uint64(seq[i+run:]) ^ pat
			if x != 0 {
				run += bits.TrailingZeros64(x) / 8
				break
			}
			run += 8
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				rle = appendClen(rle, &freq, 18, r-11)
				run -= r
			}
			if run >= 3 {
				rle = appendClen(rle, &freq, 17, run-3)
				run = 0
			}
		} else {
			rle = appendClen(rle, &freq, int(l), 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				rle = appendClen(rle, &freq, 16, r-3)
				run -= r
			}
		}
		for ; run > 0; run-- {
			rle = appendClen(rle, &freq, int(l), 0)
		}
	}
	cb.rle, cb.clenFreq = rle, freq
}

// appendClen appends code-length symbol sym with its extra bits to rle and counts it:
// a function the compiler inlines, with the counts in runLengths' local array.
func appendClen(rle []uint16, freq *[numCodeLen]uint16, sym, extra int) []uint16 {
	freq[sym]++
	return append(rle, uint16(sym|extra<<8))
}

// writeHeader writes the dynamic block header header prepared, after the 3 block
// header bits.
func (cb *codeBuilder) writeHeader(bw *bitWriter) {
	bw.bits(uint64(cb.lit.n-257)|uint64(cb.dist.n-1)<<5|uint64(cb.nclen-4)<<10, 14)
	for _, s := range codeLenOrder[:cb.nclen] {
		bw.bits(uint64(cb.clen.len[s]), 3)
	}
	for _, r := range cb.rle {
		s := r & 0xff
		bw.bits(uint64(cb.clen.code[s])|uint64(r>>8)<<cb.clen.len[s], uint(cb.clen.len[s])+uint(clenExtra[s]))
	}
}

// bitWriter packs bits least significant first, as deflate does. Each write stores the
// whole 64-bit accumulator at the output's end and then advances past the bytes it
// completed, so a write costs no branch; the output therefore needs writeSlack bytes
// of room past its end, which Deflate makes sure of before it starts. The bits of acc
// above nbits are always zero, so the partial byte is already stored as it must end
// up, and align only steps past it.
type bitWriter struct {
	out   []byte // the output is out[:pos]; out runs to the buffer's capacity
	pos   int
	acc   uint64 // the bits after out[:pos], nbits of them (at most 7 between writes)
	nbits uint
}

// writeSlack is the room a write may touch past the output's end.
const writeSlack = 8

// reset starts writing at the end of dst, which must have room for the output and
// writeSlack bytes more.
func (w *bitWriter) reset(dst []byte) {
	w.out, w.pos, w.acc, w.nbits = dst[:cap(dst)], len(dst), 0, 0
}

// bits writes the n low bits of v (n at most 57, higher bits of v zero).
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nbits
	w.nbits += n
	w.flush()
}

// flush stores the accumulator at the output's end and moves past its whole bytes.
func (w *bitWriter) flush() {
	w.pos, w.acc, w.nbits = flushBits(w.out, w.pos, w.acc, w.nbits)
}

// flushBits is flush on a writer's state held elsewhere (writeTokens keeps it in
// locals): it stores acc at out[pos:] and returns the state past acc's whole bytes.
func flushBits(out []byte, pos int, acc uint64, nbits uint) (int, uint64, uint) {
	binary.LittleEndian.PutUint64(out[pos:], acc)
	k := nbits >> 3
	return pos + int(k), acc >> (k << 3), nbits & 7 // a shift by 64 leaves 0, as it should
}

// align pads with zero bits to a byte boundary; the last flush already stored the
// partial byte.
func (w *bitWriter) align() {
	if w.nbits > 0 {
		w.pos++
	}
	w.acc, w.nbits = 0, 0
}

// bytes writes b; the writer must be aligned.
func (w *bitWriter) bytes(b []byte) { w.pos += copy(w.out[w.pos:], b) }

// finish aligns and returns the output.
func (w *bitWriter) finish() []byte {
	w.align()
	out := w.out[:w.pos]
	w.out = nil
	return out
}
