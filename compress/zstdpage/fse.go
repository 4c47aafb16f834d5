package zstdpage

import (
	"encoding/binary"
	"math/bits"
)

// The three FSE-coded symbol kinds of the sequences section (RFC 8878 section
// 3.1.1.3.2.1): literals length codes, match length codes and offset codes.
const (
	maxLLCode = 35
	maxMLCode = 52
	maxOFCode = 31

	// The largest accuracy logs FSE_Compressed_Mode may use (RFC 8878 3.1.1.3.2.2).
	maxLLLog = 9
	maxMLLog = 9
	maxOFLog = 8

	minTableLog = 5 // the table description's Accuracy_Log is low4bits + 5
	maxSymbols  = maxMLCode + 1
)

// The predefined distributions (Predefined_Mode), RFC 8878 3.1.1.3.2.2.
var (
	llDefaultNorm = []int16{4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
		-1, -1, -1, -1}
	mlDefaultNorm = []int16{1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1,
		-1, -1, -1, -1, -1}
	ofDefaultNorm = []int16{1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1}
)

const (
	llDefaultLog = 6
	mlDefaultLog = 6
	ofDefaultLog = 5
)

// fseTable is an FSE encoding table: for each symbol where its states start
// (deltaFindState) and how many bits leave a state (deltaNbBits), and the states
// themselves, grouped by symbol in increasing order. It is the encoder's view of the
// decoding table RFC 8878 3.1.1.3.2.2 (From normalized distribution to decoding
// tables) builds from the same distribution.
type fseTable struct {
	log    uint8
	state  [1 << maxLLLog]uint16
	symTT  [maxSymbols]symbolTransform
	cost   [maxSymbols]uint32 // bits per occurrence, in 1/256 bits
	maxSym int
}

type symbolTransform struct {
	deltaFindState int32
	deltaNbBits    uint32
}

// build makes the table for the normalized distribution norm (a count per symbol
// summing to 1<<log, -1 for "less than 1", which takes one state).
func (t *fseTable) build(norm []int16, log uint8) {
	size := 1 << log
	mask := size - 1
	step := size>>1 + size>>3 + 3
	high := size - 1
	var cumul [maxSymbols + 1]int
	var symbolAt [1 << maxLLLog]uint8
	for s, n := range norm {
		if n == -1 {
			cumul[s+1] = cumul[s] + 1
			symbolAt[high] = uint8(s)
			high--
		} else {
			cumul[s+1] = cumul[s] + int(n)
		}
	}
	pos := 0
	for s, n := range norm {
		for i := 0; i < int(n); i++ {
			symbolAt[pos] = uint8(s)
			pos = (pos + step) & mask
			for pos > high {
				pos = (pos + step) & mask
			}
		}
	}
	// The decoder gives each symbol's states their baselines in increasing state
	// order; the encoder lists them in that order.
	for u := 0; u < size; u++ {
		s := symbolAt[u]
		t.state[cumul[s]] = uint16(size + u)
		cumul[s]++
	}
	total := int32(0)
	for s, n := range norm {
		tt := &t.symTT[s]
		switch n {
		case 0:
			tt.deltaNbBits = uint32(log+1)<<16 - uint32(size)
			t.cost[s] = 0
		case -1, 1:
			tt.deltaNbBits = uint32(log)<<16 - uint32(size)
			tt.deltaFindState = total - 1
			total++
			t.cost[s] = uint32(log) << 8
		default:
			maxBitsOut := uint32(log) - uint32(bits.Len16(uint16(n-1))-1)
			minStatePlus := uint32(n) << maxBitsOut
			tt.deltaNbBits = maxBitsOut<<16 - minStatePlus
			tt.deltaFindState = total - int32(n)
			total += int32(n)
			t.cost[s] = uint32(log)<<8 - log2x256[n]
		}
	}
	t.log = log
	t.maxSym = len(norm) - 1
}

// log2x256[n] is 256*log2(n), rounded, for the cost estimates.
var log2x256 [1<<maxLLLog + 1]uint32

func init() {
	// Fixed point log2 by repeated squaring, so the tables do not depend on the
	// floating point library.
	for n := 1; n < len(log2x256); n++ {
		ip := bits.Len(uint(n)) - 1
		// x in [1,2) as a 1.30 fixed point number.
		x := uint64(n) << (30 - ip)
		frac := uint32(0)
		for b := 7; b >= 0; b-- {
			x = x * x >> 30
			if x >= 2<<30 {
				x >>= 1
				frac |= 1 << b
			}
		}
		log2x256[n] = uint32(ip)<<8 | frac
	}
	llDefault.build(llDefaultNorm, llDefaultLog)
	mlDefault.build(mlDefaultNorm, mlDefaultLog)
	ofDefault.build(ofDefaultNorm, ofDefaultLog)
}

var llDefault, mlDefault, ofDefault fseTable

// fseState is one FSE encoder state.
type fseState struct {
	t     *fseTable
	state uint32
}

// init starts the state with the last symbol to be encoded (the first decoded).
func (s *fseState) init(t *fseTable, sym uint8) {
	s.t = t
	tt := t.symTT[sym]
	nbBitsOut := (tt.deltaNbBits + 1<<15) >> 16
	value := nbBitsOut<<16 - tt.deltaNbBits
	s.state = uint32(t.state[int32(value>>nbBitsOut)+tt.deltaFindState])
}

// encode writes the bits that take the decoder from sym's state to the current one.
func (s *fseState) encode(w *bitWriter, sym uint8) {
	tt := s.t.symTT[sym]
	nbBitsOut := (s.state + tt.deltaNbBits) >> 16
	w.addBits(uint64(s.state), uint(nbBitsOut))
	s.state = uint32(s.t.state[int32(s.state>>nbBitsOut)+tt.deltaFindState])
}

// flush writes the final state, which the decoder reads first.
func (s *fseState) flush(w *bitWriter) {
	w.addBits(uint64(s.state), uint(s.t.log))
}

// optimalLog chooses the accuracy log of a table for nbSeq symbols up to maxSym, as
// the reference encoder's FSE_optimalTableLog does: no more states than the symbols
// can use, enough for every symbol present.
func optimalLog(maxLog uint8, nbSeq int, maxSym int) uint8 {
	log := maxLog
	maxBitsSrc := uint8(0)
	if hb := bits.Len(uint(nbSeq - 1)); hb > 3 {
		maxBitsSrc = uint8(hb - 3) // highbit(nbSeq-1) - 2
	}
	minBitsSrc := uint8(bits.Len(uint(nbSeq)))          // highbit(nbSeq) + 1
	minBitsSymbols := uint8(bits.Len(uint(maxSym))) + 1 // highbit(maxSym) + 2
	minBits := min(minBitsSrc, minBitsSymbols)
	if maxBitsSrc < log {
		log = maxBitsSrc
	}
	if minBits > log {
		log = minBits
	}
	return max(minTableLog, min(log, maxLog))
}

// normalize scales count (summing to total, at least two symbols present) to a
// distribution summing to 1<<log with every present symbol at least 1, rounding as
// the reference encoder's FSE_normalizeCount does (small probabilities round up a
// little less readily than halves; the most frequent symbol takes the rest).
func normalize(norm []int16, count []uint32, total int, log uint8) {
	scale := uint64(62 - log)
	step := (uint64(1) << 62) / uint64(total)
	vStep := uint64(1) << (scale - 20)
	still := 1 << log
	lowThreshold := uint32(total >> log)
	largest, largestP := 0, int16(0)
	for s, c := range count {
		switch {
		case c == 0:
			norm[s] = 0
		case c <= lowThreshold:
			norm[s] = 1
			still--
		default:
			proba := int16((uint64(c) * step) >> scale)
			if proba < 8 {
				restToBeat := vStep * roundUpThreshold[proba]
				if uint64(c)*step-uint64(proba)<<scale > restToBeat {
					proba++
				}
			}
			if proba > largestP {
				largest, largestP = s, proba
			}
			norm[s] = proba
			still -= int(proba)
		}
	}
	if -still >= int(norm[largest]>>1) {
		normalizeSpread(norm, count, total, log)
		return
	}
	norm[largest] += int16(still)
}

// roundUpThreshold[p], in millionths (of 2^20), is how much of the next state a
// probability of p must reach to be rounded up.
var roundUpThreshold = [8]uint64{0, 473195, 504333, 520860, 550000, 700000, 750000, 830000}

// normalizeSpread is normalize for distributions where the most frequent symbol
// cannot absorb the rounding: the rare symbols get one state each, the others share
// the rest in proportion (FSE_normalizeM2).
func normalizeSpread(norm []int16, count []uint32, total int, log uint8) {
	const unassigned = -2
	distributed := 0
	lowThreshold := uint32(total >> log)
	lowOne := uint32((total * 3) >> (log + 1))
	for s, c := range count {
		switch {
		case c == 0:
			norm[s] = 0
		case c <= lowThreshold || c <= lowOne:
			norm[s] = 1
			distributed++
			total -= int(c)
		default:
			norm[s] = unassigned
		}
	}
	toDistribute := (1 << log) - distributed
	if toDistribute == 0 {
		return
	}
	if total/toDistribute > int(lowOne) {
		lowOne = uint32((total * 3) / (toDistribute * 2))
		for s, c := range count {
			if norm[s] == unassigned && c <= lowOne {
				norm[s] = 1
				distributed++
				total -= int(c)
			}
		}
		toDistribute = (1 << log) - distributed
	}
	if total == 0 || distributed == len(count) {
		// Every symbol got one state: hand out the rest one by one.
		for s := 0; toDistribute > 0; s = (s + 1) % len(count) {
			if norm[s] > 0 {
				norm[s]++
				toDistribute--
			}
		}
		return
	}
	vStepLog := uint64(62 - log)
	mid := uint64(1)<<(vStepLog-1) - 1
	rStep := (uint64(1)<<vStepLog*uint64(toDistribute) + mid) / uint64(total)
	tmpTotal := mid
	for s, c := range count {
		if norm[s] == unassigned {
			end := tmpTotal + uint64(c)*rStep
			norm[s] = int16(end>>vStepLog - tmpTotal>>vStepLog)
			tmpTotal = end
		}
	}
}

// writeNCount appends the FSE table description of norm (RFC 8878 4.1.1).
func writeNCount(dst []byte, norm []int16, log uint8) []byte {
	size := 1 << log
	var bitStream uint32
	bitCount := uint(0)
	bitStream = uint32(log - minTableLog)
	bitCount = 4
	remaining := size + 1
	threshold := size
	nbBits := uint(log) + 1
	previousIs0 := false
	symbol := 0
	alphabet := len(norm)
	for symbol < alphabet && remaining > 1 {
		if previousIs0 {
			start := symbol
			for symbol < alphabet && norm[symbol] == 0 {
				symbol++
			}
			for symbol >= start+24 {
				start += 24
				bitStream += 0xffff << bitCount
				dst = append(dst, byte(bitStream), byte(bitStream>>8))
				bitStream >>= 16
			}
			for symbol >= start+3 {
				start += 3
				bitStream += 3 << bitCount
				bitCount += 2
			}
			bitStream += uint32(symbol-start) << bitCount
			bitCount += 2
			if bitCount > 16 {
				dst = append(dst, byte(bitStream), byte(bitStream>>8))
				bitStream >>= 16
				bitCount -= 16
			}
		}
		count := int(norm[symbol])
		symbol++
		maxv := 2*threshold - 1 - remaining
		if count < 0 {
			remaining += count
		} else {
			remaining -= count
		}
		count++
		if count >= threshold {
			count += maxv
		}
		bitStream += uint32(count) << bitCount
		bitCount += nbBits
		if count < maxv {
			bitCount--
		}
		previousIs0 = count == 1
		for remaining < threshold {
			nbBits--
			threshold >>= 1
		}
		if bitCount > 16 {
			dst = append(dst, byte(bitStream), byte(bitStream>>8))
			bitStream >>= 16
			bitCount -= 16
		}
	}
	dst = append(dst, byte(bitStream), byte(bitStream>>8))
	return dst[:len(dst)-2+int(bitCount+7)/8]
}

// bitWriter writes the sequences bitstream forwards, least significant bit first.
// out must have 8 bytes of capacity beyond what is written (flush stores a whole
// word); the sequences section grows it for its worst case first.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

func (w *bitWriter) addBits(v uint64, n uint) {
	w.acc |= (v & (1<<n - 1)) << w.nbits
	w.nbits += n
}

// flush moves the whole bytes of the accumulator to out.
func (w *bitWriter) flush() {
	n := w.nbits >> 3
	o := len(w.out)
	binary.LittleEndian.PutUint64(w.out[o:o+8], w.acc)
	w.out = w.out[:o+int(n)]
	w.acc >>= n * 8
	w.nbits &= 7
}

// close ends the stream with a 1 bit and pads it to a byte.
func (w *bitWriter) close() []byte {
	w.addBits(1, 1)
	w.flush()
	if w.nbits > 0 {
		w.out = append(w.out, byte(w.acc))
	}
	w.acc, w.nbits = 0, 0
	return w.out
}
