package zstdpage

import (
	"encoding/binary"
	"math/bits"
)

// Literals_Block_Type values.
const (
	litRaw        = 0
	litRLE        = 1
	litCompressed = 2
)

// minHuffLiterals: fewer literals than this are stored raw, as libzstd's fast levels
// do (a Huffman table description alone takes about 10-30 bytes).
const minHuffLiterals = 64

// literals appends the literals section of e.lits.
func (e *Encoder) literals(b []byte) []byte {
	lits := e.lits
	n := len(lits)
	if n >= minHuffLiterals {
		switch e.huff.plan(lits) {
		case storeRLE:
			return append(appendLitHeader(b, litRLE, n), lits[0])
		case storeHuffman:
			hdr := 3
			switch {
			case n > 1023 && n < 1<<14:
				hdr = 4
			case n >= 1<<14:
				hdr = 5
			}
			mark := len(b)
			b = append(b, 0, 0, 0, 0, 0)[:mark+hdr]
			b = e.huff.write(b, lits, e.huff.maxSym)
			c := len(b) - mark - hdr
			if c+hdr >= n-n>>6-2+1 || (hdr == 4 && c >= 1<<14) {
				b = b[:mark]
				break
			}
			h := b[mark : mark+hdr]
			switch hdr {
			case 3:
				// Size_Format 00: one stream, 10-bit sizes.
				v := uint32(litCompressed) | 0<<2 | uint32(n)<<4 | uint32(c)<<14
				h[0], h[1], h[2] = byte(v), byte(v>>8), byte(v>>16)
			case 4:
				v := uint32(litCompressed) | 2<<2 | uint32(n)<<4 | uint32(c)<<18
				binary.LittleEndian.PutUint32(h, v)
			default:
				v := uint64(litCompressed) | 3<<2 | uint64(n)<<4 | uint64(c)<<22
				h[0], h[1], h[2], h[3], h[4] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32)
			}
			return b
		}
	}
	b = appendLitHeader(b, litRaw, n)
	return append(b, lits...)
}

// appendLitHeader appends the header of a raw or RLE literals section of n bytes,
// and for RLE its byte.
func appendLitHeader(b []byte, typ uint32, n int) []byte {
	switch {
	case n < 32:
		b = append(b, byte(typ|uint32(n)<<3))
	case n < 4096:
		h := typ | 1<<2 | uint32(n)<<4
		b = append(b, byte(h), byte(h>>8))
	default:
		h := typ | 3<<2 | uint32(n)<<4
		b = append(b, byte(h), byte(h>>8), byte(h>>16))
	}
	return b
}

// Compression_Mode values of the sequences section.
const (
	modePredefined = 0
	modeRLE        = 1
	modeFSE        = 2
)

// sequences appends the sequences section of e.seqs.
func (e *Encoder) sequences(b []byte) []byte {
	seqs := e.seqs
	nb := len(seqs)
	switch {
	case nb < 128:
		b = append(b, byte(nb))
	case nb < 0x7f00:
		b = append(b, byte(nb>>8)+0x80, byte(nb))
	default:
		b = append(b, 0xff, byte(nb-0x7f00), byte((nb-0x7f00)>>8))
	}
	if nb == 0 {
		return b
	}
	clear(e.llCount[:])
	clear(e.mlCount[:])
	clear(e.ofCount[:])
	for i := range seqs {
		s := &seqs[i]
		e.llCount[s.llCode]++
		e.mlCount[s.mlCode]++
		e.ofCount[s.ofCode]++
	}
	modes := len(b)
	b = append(b, 0)
	var llMode, ofMode, mlMode uint8
	var llT, ofT, mlT *fseTable
	b, llMode, llT = e.chooseTable(b, e.llCount[:maxLLCode+1], nb, &llDefault, &e.llTable, maxLLLog)
	b, ofMode, ofT = e.chooseTable(b, e.ofCount[:maxOFCode+1], nb, &ofDefault, &e.ofTable, maxOFLog)
	b, mlMode, mlT = e.chooseTable(b, e.mlCount[:maxMLCode+1], nb, &mlDefault, &e.mlTable, maxMLLog)
	b[modes] = llMode<<6 | ofMode<<4 | mlMode<<2

	// The bitstream: the last sequence first, so the decoder reads the first first.
	// An RLE mode's table is rleTable, whose states write no bits.
	w := bitWriter{out: b}
	var llS, mlS, ofS fseState
	last := &seqs[nb-1]
	mlS.init(mlT, last.mlCode)
	ofS.init(ofT, last.ofCode)
	llS.init(llT, last.llCode)
	w.addBits(uint64(last.ll), uint(llBits[last.llCode]))
	w.addBits(uint64(last.ml), uint(mlBits[last.mlCode]))
	w.flush()
	w.addBits(uint64(last.offBase), uint(last.ofCode))
	w.flush()
	// The loop keeps the bit writer and the states in locals, so that they stay in
	// registers; the writer's buffer has 8 bytes of room beyond the bitstream.
	acc, nbits, out := w.acc, w.nbits, w.out
	ofState, mlState, llState := ofS.state, mlS.state, llS.state
	put := func(v uint64, n uint) {
		acc |= (v & (1<<n - 1)) << nbits
		nbits += n
	}
	flush := func() {
		o := len(out)
		binary.LittleEndian.PutUint64(out[o:o+8], acc)
		out = out[:o+int(nbits>>3)]
		acc >>= nbits &^ 7
		nbits &= 7
	}
	for i := nb - 2; i >= 0; i-- {
		s := &seqs[i]
		tt := ofT.symTT[s.ofCode]
		n := (ofState + tt.deltaNbBits) >> 16
		put(uint64(ofState), uint(n))
		ofState = uint32(ofT.state[int32(ofState>>n)+tt.deltaFindState])
		tt = mlT.symTT[s.mlCode]
		n = (mlState + tt.deltaNbBits) >> 16
		put(uint64(mlState), uint(n))
		mlState = uint32(mlT.state[int32(mlState>>n)+tt.deltaFindState])
		tt = llT.symTT[s.llCode]
		n = (llState + tt.deltaNbBits) >> 16
		put(uint64(llState), uint(n))
		llState = uint32(llT.state[int32(llState>>n)+tt.deltaFindState])
		flush()
		put(uint64(s.ll), uint(llBits[s.llCode]))
		put(uint64(s.ml), uint(mlBits[s.mlCode]))
		flush()
		put(uint64(s.offBase), uint(s.ofCode))
		flush()
	}
	w.acc, w.nbits, w.out = acc, nbits, out
	ofS.state, mlS.state, llS.state = ofState, mlState, llState
	mlS.flush(&w)
	ofS.flush(&w)
	llS.flush(&w)
	w.flush()
	return w.close()
}

// rleTable codes RLE_Mode's one symbol: its zero value has one state, 0, which every
// symbol leads back to with no bits written, and an accuracy log of 0.
var rleTable fseTable

// chooseTable picks the coding of one symbol kind with counts count over nb
// sequences: RLE when one symbol only, else the predefined table or a table
// described in the block, whichever the estimate says is smaller. It appends the
// description, if any, and returns the mode and the table.
func (e *Encoder) chooseTable(b []byte, count []uint32, nb int, def, own *fseTable, maxLog uint8) ([]byte, uint8, *fseTable) {
	maxSym := len(count) - 1
	for maxSym > 0 && count[maxSym] == 0 {
		maxSym--
	}
	if int(count[maxSym]) == nb {
		if nb > 2 || maxSym > def.maxSym {
			return append(b, byte(maxSym)), modeRLE, &rleTable
		}
		return b, modePredefined, def
	}
	// The predefined table's cost (it cannot code symbols beyond its last).
	defCost := uint32(1 << 31)
	if maxSym <= def.maxSym {
		defCost = 0
		for s, c := range count[:maxSym+1] {
			defCost += c * def.cost[s]
		}
	}
	if nb < 16 && defCost < 1<<31 {
		return b, modePredefined, def
	}
	log := optimalLog(maxLog, nb, maxSym)
	norm := e.norm[:maxSym+1]
	normalize(norm, count[:maxSym+1], nb, log)
	mark := len(b)
	b = writeNCount(b, norm, log)
	ownCost := uint32(len(b)-mark) << 11
	for s, c := range count[:maxSym+1] {
		ownCost += c * (uint32(log)<<8 - log2x256[norm[s]]) // 0 for absent symbols
	}
	if ownCost < defCost {
		own.build(norm, log)
		return b, modeFSE, own
	}
	return b[:mark], modePredefined, def
}

// Literals length codes (RFC 8878 3.1.1.3.2.1.1): the extra bits of each code; codes
// 0-15 are the lengths themselves.
var llBits = [maxLLCode + 1]uint8{
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16}

// Match length codes (3.1.1.3.2.1.1): the extra bits of each code; codes 0-31 are
// lengths 3-34.
var mlBits = [maxMLCode + 1]uint8{
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11,
	12, 13, 14, 15, 16}

// llCodeSmall and mlCodeSmall give the codes of small lengths; larger ones follow
// the bit length (each code from 25 on, and from 43 on, doubles the range).
var llCodeSmall [64]uint8
var mlCodeSmall [128]uint8

func init() {
	// Baselines from the extra bits: each code starts where the previous one ends.
	base := uint32(0)
	for c, nb := range llBits {
		for v := base; v < base+1<<nb && v < 64; v++ {
			llCodeSmall[v] = uint8(c)
		}
		base += 1 << nb
	}
	base = 0
	for c, nb := range mlBits {
		for v := base; v < base+1<<nb && v < 128; v++ {
			mlCodeSmall[v] = uint8(c)
		}
		base += 1 << nb
	}
}

func llCode(ll uint32) uint8 {
	if ll < 64 {
		return llCodeSmall[ll]
	}
	return uint8(bits.Len32(ll) - 1 + 19)
}

// mlCode takes the match length minus 3.
func mlCode(ml uint32) uint8 {
	if ml < 128 {
		return mlCodeSmall[ml]
	}
	return uint8(bits.Len32(ml) - 1 + 36)
}
