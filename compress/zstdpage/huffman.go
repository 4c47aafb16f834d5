package zstdpage

import (
	"encoding/binary"
	"math/bits"

	"github.com/gokdump/gokdump/compress/internal/prefix"
)

// maxHuffBits is the longest Huffman code the format allows (RFC 8878 4.2.1).
const maxHuffBits = 11

// maxFSEWeightLog is the largest accuracy log of the FSE table that compresses the
// Huffman weights (RFC 8878 4.2.1.2).
const maxFSEWeightLog = 6

// huffEncoder builds the Huffman code of a block's literals and writes the
// Compressed_Literals_Block: the tree description, then 1 or 4 streams.
type huffEncoder struct {
	count   [2][256]uint32 // histogram, two ways so repeated bytes stall less
	freq    [256]uint32
	sorted  [256]uint8 // present symbols, rarest first
	depth   [256]int
	nbBits  [256]uint8
	enc     [256]uint32 // code<<8 | length, per symbol
	weights [256]uint8
	maxSym  int // the last symbol present, after plan

	wCount [maxHuffBits + 2]uint32
	wNorm  [maxHuffBits + 2]int16
	wTable fseTable
}

// literalsResult says how literals are best stored.
type literalsResult int

const (
	storeRaw literalsResult = iota
	storeRLE
	storeHuffman
)

// plan counts the literals, builds their code and returns how to store them: as
// one repeated byte, or Huffman-coded when that is likely to save more than a 64th
// of their size plus 2 bytes (libzstd's bar), else raw. The caller checks the
// Huffman-coded size against the bar once written.
func (h *huffEncoder) plan(lits []byte) literalsResult {
	n := len(lits)
	clear(h.count[0][:])
	clear(h.count[1][:])
	c0, c1 := &h.count[0], &h.count[1]
	p := lits
	for len(p) >= 4 {
		c0[p[0]]++
		c1[p[1]]++
		c0[p[2]]++
		c1[p[3]]++
		p = p[4:]
	}
	for _, b := range p {
		c0[b]++
	}
	// Symbols present or not in no predictable order: the loops over all of them
	// are written without branches on it.
	present := 0
	maxCount := uint32(0)
	maxSym := 0
	for s := range h.freq {
		f := c0[s] + c1[s]
		h.freq[s] = f
		nz := int(uint32(-f) >> 31) // 1 when present
		present += nz
		maxSym = max(maxSym, s*nz)
		maxCount = max(maxCount, f)
	}
	h.maxSym = maxSym
	if int(maxCount) == n {
		return storeRLE
	}
	// Spread too evenly to pay for a table (libzstd's test).
	if int(maxCount) <= n>>7+4 {
		return storeRaw
	}
	want := n - n>>6 - 2
	// A lower bound of the coded size: the literals' entropy (no prefix code does
	// better) and a quarter byte per symbol of the description.
	log2n := log2x256Of(uint32(n))
	var entropy uint64
	for _, f := range h.freq[:maxSym+1] {
		var lf uint32 // an absent symbol adds 0 * (log2n - 0)
		if f < uint32(len(log2x256)) {
			lf = log2x256[f]
		} else {
			lf = log2x256Of(f)
		}
		entropy += uint64(f) * uint64(log2n-lf)
	}
	if int(entropy>>11)+maxSym/4 >= want {
		return storeRaw
	}
	h.buildLengths(present, maxSym)
	var total uint64
	for s, f := range h.freq[:maxSym+1] {
		total += uint64(f) * uint64(h.nbBits[s])
	}
	// The streams, and a guess at the tree description (FSE-compressed weights
	// take a few bits a symbol; a byte per 8 symbols came out best on kernel
	// pages): literals writes it and checks the real size.
	est := int(total+7)/8 + 1 + maxSym/8
	if n > 1023 {
		est += 6 + 3 // jump table, and the 4 streams' padding
	}
	if est >= want {
		return storeRaw
	}
	return storeHuffman
}

// buildLengths gives each present symbol a code length (at most maxHuffBits) and
// its canonical code.
func (h *huffEncoder) buildLengths(present, maxSym int) {
	// Sort the symbols by count, rarest first: a counting sort on counts below
	// 256, then an insertion sort of the few larger ones. Absent symbols sort
	// first and are then left out.
	var start [257]uint16
	for _, f := range h.freq[:maxSym+1] {
		start[min(f, 255)+1]++
	}
	sum := uint16(0)
	for i, c := range start {
		sum += c
		start[i] = sum
	}
	for s, f := range h.freq[:maxSym+1] {
		k := min(f, 255)
		h.sorted[start[k]] = uint8(s)
		start[k]++
	}
	absent := maxSym + 1 - present
	sorted := h.sorted[absent : maxSym+1]
	big := int(start[254]) - absent
	for i := big + 1; i < present; i++ {
		s := sorted[i]
		f := h.freq[s]
		j := i
		for j > big && h.freq[sorted[j-1]] > f {
			sorted[j] = sorted[j-1]
			j--
		}
		sorted[j] = s
	}
	a := h.depth[:present]
	for i := range a {
		a[i] = int(h.freq[sorted[i]])
	}
	prefix.MinimumRedundancy(a)
	limitLengths(a, maxHuffBits)
	clear(h.nbBits[:maxSym+1])
	maxBits := a[0]
	var perRank [maxHuffBits + 1]uint16
	for i, l := range a {
		h.nbBits[sorted[i]] = uint8(l)
		perRank[l]++
	}
	// Canonical codes (RFC 8878 4.2.1.3): the longest codes take the smallest
	// values; within a length, symbols in natural order.
	var next [maxHuffBits + 1]uint16
	val := uint16(0)
	for l := maxBits; l >= 1; l-- {
		next[l] = val
		val += perRank[l]
		val >>= 1
	}
	for s, l := range h.nbBits[:maxSym+1] {
		h.enc[s] = uint32(next[l])<<8 | uint32(l) // next[0] counts absent ones
		next[l]++
	}
}

// write appends the tree description and the streams of lits, with the code plan
// built, and returns the extended slice; b must have room for the estimate plus
// 8 bytes a stream (the bit writer stores whole words).
func (h *huffEncoder) write(b []byte, lits []byte, maxSym int) []byte {
	b = h.writeTree(b, maxSym)
	n := len(lits)
	if n <= 1023 {
		return h.writeStream(b, lits)
	}
	seg := (n + 3) / 4
	jump := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0)
	for k := 0; k < 4; k++ {
		from := len(b)
		b = h.writeStream(b, lits[min(n, k*seg):min(n, (k+1)*seg)])
		if k < 3 {
			binary.LittleEndian.PutUint16(b[jump+2*k:], uint16(len(b)-from))
		}
	}
	return b
}

// writeStream appends one Huffman-coded stream of lits: the last literal first, so
// that the decoder, reading backwards, meets the first first.
func (h *huffEncoder) writeStream(b []byte, lits []byte) []byte {
	w := bitWriter{out: b}
	enc := &h.enc
	i := len(lits)
	for i&3 != 0 {
		i--
		e := enc[lits[i]]
		w.addBits(uint64(e>>8), uint(e&0xff))
	}
	w.flush()
	for i > 0 {
		e0, e1, e2, e3 := enc[lits[i-1]], enc[lits[i-2]], enc[lits[i-3]], enc[lits[i-4]]
		i -= 4
		w.acc |= uint64(e0>>8) << w.nbits
		w.nbits += uint(e0 & 0xff)
		w.acc |= uint64(e1>>8) << w.nbits
		w.nbits += uint(e1 & 0xff)
		w.acc |= uint64(e2>>8) << w.nbits
		w.nbits += uint(e2 & 0xff)
		w.acc |= uint64(e3>>8) << w.nbits
		w.nbits += uint(e3 & 0xff)
		w.flush()
	}
	return w.close()
}

// writeTree appends the Huffman tree description: the weights of symbols 0 to
// maxSym-1 (the last one's is implied), FSE-compressed when that is smaller, else
// four bits each.
func (h *huffEncoder) writeTree(b []byte, maxSym int) []byte {
	maxBits := uint8(0)
	for _, l := range h.nbBits[:maxSym+1] {
		maxBits = max(maxBits, l)
	}
	clear(h.wCount[:])
	maxW := 0
	var weightOf [maxHuffBits + 1]uint8 // 0 for absent symbols
	for l := 1; l <= int(maxBits); l++ {
		weightOf[l] = maxBits + 1 - uint8(l)
	}
	for s, l := range h.nbBits[:maxSym] {
		w := weightOf[l]
		h.weights[s] = w
		h.wCount[w]++
		maxW = max(maxW, int(w))
	}
	direct := (maxSym + 1) / 2
	mark := len(b)
	if maxSym >= 2 && int(h.wCount[h.mostCommonWeight(maxW)]) < maxSym {
		b = append(b, 0)
		b = h.writeWeightsFSE(b, h.weights[:maxSym], maxW)
		size := len(b) - mark - 1
		if size < 128 && (size < direct || maxSym > 128) {
			b[mark] = byte(size)
			return b
		}
		b = b[:mark]
	}
	// Direct representation: Number_of_Weights = header - 127.
	b = append(b, byte(127+maxSym))
	for i := 0; i < maxSym; i += 2 {
		hi := h.weights[i]
		lo := uint8(0)
		if i+1 < maxSym {
			lo = h.weights[i+1]
		}
		b = append(b, hi<<4|lo)
	}
	return b
}

func (h *huffEncoder) mostCommonWeight(maxW int) int {
	best := 0
	for w := 1; w <= maxW; w++ {
		if h.wCount[w] > h.wCount[best] {
			best = w
		}
	}
	return best
}

// writeWeightsFSE appends the FSE compression of the weights: the table
// description, then one bitstream with two interleaved states (RFC 8878 4.2.1.2),
// the first state for the even-indexed weights.
func (h *huffEncoder) writeWeightsFSE(b []byte, wts []uint8, maxW int) []byte {
	n := len(wts)
	log := optimalLog(maxFSEWeightLog, n, maxW)
	norm := h.wNorm[:maxW+1]
	normalize(norm, h.wCount[:maxW+1], n, log)
	b = writeNCount(b, norm, log)
	h.wTable.build(norm, log)
	// The bit writer stores whole words: make sure there is room.
	if cap(b)-len(b) < n+16 {
		nb := make([]byte, len(b), len(b)+n+64)
		copy(nb, b)
		b = nb
	}
	w := bitWriter{out: b}
	var s1, s2 fseState
	i := n
	if n&1 != 0 {
		s1.init(&h.wTable, wts[i-1])
		s2.init(&h.wTable, wts[i-2])
		s1.encode(&w, wts[i-3])
		i -= 3
	} else {
		s2.init(&h.wTable, wts[i-1])
		s1.init(&h.wTable, wts[i-2])
		i -= 2
	}
	w.flush()
	for i > 0 {
		s2.encode(&w, wts[i-1])
		s1.encode(&w, wts[i-2])
		i -= 2
		w.flush()
	}
	s2.flush(&w)
	s1.flush(&w)
	w.flush()
	return w.close()
}

// log2x256Of returns about 256*log2(x) for x > 0.
func log2x256Of(x uint32) uint32 {
	ip := bits.Len32(x) - 1
	var m uint32
	if ip >= 8 {
		m = x >> (ip - 8)
	} else {
		m = x << (8 - ip)
	}
	// m is in [256, 512): log2(m/256) from the table of small logs.
	return uint32(ip)<<8 + log2x256[m] - 8<<8
}

// limitLengths caps the code lengths in a (non-increasing, the rarest symbols
// first) at limit, keeping the code complete. It works on the number of codes of each
// length, as zlib-style encoders do: lengths over the limit are cut to it, and each
// unit of Kraft sum that overfills is paid back by moving a code of the limit's
// length under a shorter code, which becomes two codes one longer. The rarest
// symbols then take the longest lengths.
func limitLengths(a []int, limit int) {
	if a[0] <= limit {
		return
	}
	var count [maxHuffBits + 1]int
	for _, l := range a {
		count[min(l, limit)]++
	}
	kraft := 0
	for l := 1; l <= limit; l++ {
		kraft += count[l] << (limit - l)
	}
	for ; kraft > 1<<limit; kraft-- {
		count[limit]--
		for l := limit - 1; l > 0; l-- {
			if count[l] > 0 {
				count[l]--
				count[l+1] += 2
				break
			}
		}
	}
	k := 0
	for l := limit; l >= 1; l-- {
		for c := count[l]; c > 0; c-- {
			a[k] = l
			k++
		}
	}
}
