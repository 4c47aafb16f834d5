package deflate

// The format's alphabets (RFC 1951 section 3.2.5).
const (
	numLitLen      = 286 // literals 0-255, end of block 256, lengths 257-285
	numDist        = 30
	numCodeLen     = 19
	endOfBlock     = 256
	firstLengthSym = 257
	maxCodeBits    = 15 // literal/length and distance codes
	maxCodeLenBits = 7  // the code-length code
	maxStored      = 65535
)

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// codeLenOrder is the order in which a dynamic block header lists the lengths of
	// the code-length code.
	codeLenOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	// lengthCode maps length-3 to its index in lengthBase.
	lengthCode [256]uint8
	// distLow maps distance-1 below 256 to its distance code, distHigh maps
	// (distance-1)>>7 for larger ones.
	distLow  [256]uint8
	distHigh [256]uint8

	fixedLit  huffCode
	fixedDist huffCode
)

func init() {
	for c := range 28 {
		for l := int(lengthBase[c]); l < int(lengthBase[c])+1<<lengthExtra[c]; l++ {
			lengthCode[l-minMatch] = uint8(c)
		}
	}
	lengthCode[maxMatch-minMatch] = 28 // 258 has a code of its own, not 227+31
	for c := range numDist {
		for d := int(distBase[c]) - 1; d < int(distBase[c])-1+1<<distExtra[c]; d++ {
			if d < 256 {
				distLow[d] = uint8(c)
			} else {
				distHigh[d>>7] = uint8(c)
			}
		}
	}
	var lens [288]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	fixedLit.setLengths(lens[:])
	var dl [numDist]uint8
	for s := range dl {
		dl[s] = 5
	}
	fixedDist.setLengths(dl[:])
}

// distCode returns the distance code of distance d+1.
func distCode(d int) uint8 {
	if d < 256 {
		return distLow[d]
	}
	return distHigh[d>>7]
}

// writeBlock writes the block of the tokens parse recorded for in (the block's input
// bytes, for a stored block): the smallest of a dynamic, a fixed and a stored block.
func (e *Encoder) writeBlock(in []byte, final bool) {
	e.lit[endOfBlock] = 1
	cb := &e.codes
	cb.lit.build(e.lit[:], maxCodeBits, 257)
	cb.dist.build(e.dist[:], maxCodeBits, 1)
	hdrBits := cb.header()

	// No branch on unused symbols: their frequency 0 adds nothing, and whether a
	// symbol is used is too irregular to predict.
	var dynBits, fixBits int
	for s, f := range e.lit {
		dynBits += int(f) * int(cb.lit.len[s])
		fixBits += int(f) * int(fixedLit.len[s])
	}
	// The extra bits of lengths and distances cost the same in either block.
	extra := 0
	for c, f := range e.lit[firstLengthSym:] {
		extra += int(f) * int(lengthExtra[c])
	}
	for s, f := range e.dist {
		dynBits += int(f) * int(cb.dist.len[s])
		fixBits += int(f) * int(fixedDist.len[s])
		extra += int(f) * int(distExtra[s])
	}
	dynBits += hdrBits + extra
	fixBits += 3 + extra
	// A stored block: its 3 header bits, padding to a byte, LEN and NLEN, the bytes.
	storedBits := -1
	if len(in) <= maxStored {
		storedBits = 3 + (8-(int(e.bw.nbits)+3)%8)%8 + 32 + 8*len(in)
	}

	bw := &e.bw
	flag := uint64(0)
	if final {
		flag = 1
	}
	switch {
	case storedBits >= 0 && storedBits <= dynBits && storedBits <= fixBits:
		bw.bits(flag, 3) // BTYPE 00
		bw.align()
		bw.bytes([]byte{byte(len(in)), byte(len(in) >> 8), ^byte(len(in)), ^byte(len(in) >> 8)})
		bw.bytes(in)
	case fixBits <= dynBits:
		bw.bits(flag|1<<1, 3) // BTYPE 01
		e.writeTokens(&fixedLit, &fixedDist)
	default:
		bw.bits(flag|2<<1, 3) // BTYPE 10
		cb.writeHeader(bw)
		e.writeTokens(&cb.lit, &cb.dist)
	}
}

// writeTokens writes the block's tokens and its end with the given codes. It keeps
// the writer's state in locals: through the struct, each token's write would wait on
// the last one's store of the accumulator.
func (e *Encoder) writeTokens(lit, dist *huffCode) {
	out, pos, acc, nbits := e.bw.out, e.bw.pos, e.bw.acc, e.bw.nbits
	for _, t := range e.tokens {
		if t&matchFlag == 0 {
			acc |= uint64(lit.code[t]) << nbits
			nbits += uint(lit.len[t])
		} else {
			l := int(t>>16) & 0xff
			d := int(t & 0xffff)
			lc := lengthCode[l]
			s := firstLengthSym + int(lc)
			dc := distCode(d)
			// The length's code and extra bits, then the distance's: at most
			// 15+5 and 15+13 bits, 55 with the 7 left over, one write.
			v := uint64(lit.code[s]) | uint64(l-int(lengthBase[lc]-minMatch))<<lit.len[s]
			n := uint(lit.len[s]) + uint(lengthExtra[lc])
			v |= (uint64(dist.code[dc]) | uint64(d-int(distBase[dc]-1))<<dist.len[dc]) << n
			n += uint(dist.len[dc]) + uint(distExtra[dc])
			acc |= v << nbits
			nbits += n
		}
		pos, acc, nbits = flushBits(out, pos, acc, nbits)
	}
	e.bw.pos, e.bw.acc, e.bw.nbits = pos, acc, nbits
	e.bw.bits(uint64(lit.code[endOfBlock]), uint(lit.len[endOfBlock]))
}
