package deflate

import (
	"encoding/binary"
	"math/bits"

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
	h.sorted = h.sorted[:0]
	var most uint16
	for s, f := range freq {
		if f != 0 {
			h.sorted = append(h.sorted, uint64(f)<<16|uint64(s))
			most = max(most, f)
		}
	}
	for s := 0; len(h.sorted) < 2; s++ {
		if freq[s] == 0 {
			h.sorted = append(h.sorted, uint64(s)) // frequency 0 sorts first
		}
	}
	h.sortByFreq(most)
	n := len(h.sorted)
	if cap(h.depth) < n {
		h.depth = make([]int, n, len(freq))
	}
	a := h.depth[:n]
	for i, v := range h.sorted {
		a[i] = int(v >> 16)
	}
	prefix.MinimumRedundancy(a)
	limitLengths(a, limit)
	last := 0
	for i, v := range h.sorted {
		s := int(v & 0xffff)
		h.len[s] = uint8(a[i])
		last = max(last, s)
	}
	h.n = max(last+1, minSyms)
	h.assign(h.len[:h.n])
}

// sortByFreq sorts h.sorted, which is in symbol order, by frequency (at most most),
// keeping symbol order among equal frequencies: a radix sort over the frequency's
// bytes, since a page's few hundred symbols sort faster that way than by comparison.
func (h *huffCode) sortByFreq(most uint16) {
	if cap(h.tmp) < len(h.sorted) {
		h.tmp = make([]uint64, len(h.sorted), cap(h.sorted))
	}
	v, tmp := h.sorted, h.tmp[:len(h.sorted)]
	for shift := uint(16); shift <= 24; shift += 8 {
		if shift == 24 && most < 256 {
			break
		}
		var pos [256]uint16
		for _, x := range v {
			pos[byte(x>>shift)]++
		}
		sum := uint16(0)
		for b, c := range pos {
			pos[b] = sum
			sum += c
		}
		for _, x := range v {
			b := byte(x >> shift)
			tmp[pos[b]] = x
			pos[b]++
		}
		v, tmp = tmp, v
	}
	h.sorted, h.tmp = v, tmp
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

// assign gives the symbols with lengths lens their canonical codes.
func (h *huffCode) assign(lens []uint8) {
	var count [maxCodeBits + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeBits + 1]uint16
	code := uint16(0)
	for l := 1; l <= maxCodeBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lens {
		if l != 0 {
			h.len[s] = l
			h.code[s] = bits.Reverse16(next[l]) >> (16 - l)
			next[l]++
		}
	}
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
	var seq [numLitLen + numDist]uint8
	n := copy(seq[:], cb.lit.len[:cb.lit.n])
	n += copy(seq[n:], cb.dist.len[:cb.dist.n])
	cb.runLengths(seq[:n])
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

// runLengths encodes the code lengths in seq with the code-length alphabet: 0-15 a
// length, 16 the previous length 3-6 times, 17 zero 3-10 times, 18 zero 11-138 times.
func (cb *codeBuilder) runLengths(seq []uint8) {
	cb.rle = cb.rle[:0]
	clear(cb.clenFreq[:])
	emit := func(sym, extra int) {
		cb.rle = append(cb.rle, uint16(sym|extra<<8))
		cb.clenFreq[sym]++
	}
	for i := 0; i < len(seq); {
		l := seq[i]
		run := 1
		for i+run < len(seq) && seq[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, r-11)
				run -= r
			}
			if run >= 3 {
				emit(17, run-3)
				run = 0
			}
		} else {
			emit(int(l), 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, r-3)
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(int(l), 0)
		}
	}
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

// bitWriter packs bits least significant first, as deflate does.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

func (w *bitWriter) reset(dst []byte) {
	w.out, w.acc, w.nbits = dst, 0, 0
}

// bits writes the n low bits of v (n at most 32, higher bits of v zero).
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nbits
	w.nbits += n
	if w.nbits >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.nbits -= 32
	}
}

// align pads with zero bits to a byte boundary and writes out the whole bytes.
func (w *bitWriter) align() {
	for w.nbits > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nbits -= min(w.nbits, 8)
	}
	w.acc = 0
}

// bytes writes b; the writer must be aligned.
func (w *bitWriter) bytes(b []byte) { w.out = append(w.out, b...) }

// finish aligns and returns the output.
func (w *bitWriter) finish() []byte {
	w.align()
	out := w.out
	w.out = nil
	return out
}
