// Package zstdpage writes Zstandard frames (RFC 8878) of small buffers, such as the
// pages of a kdump-compressed dump, each compressed on its own (makedumpfile -z: one
// ZSTD_compressCCtx call at level 1 per page).
//
// It exists because a general-purpose encoder pays a set-up cost per call that
// dominates on 4 KiB inputs: on 16384 non-zero pages of a real Debian 6.1 vmcore, one
// core, klauspost/compress/zstd's EncodeAll took 12-13 µs a page at its default level
// (10 µs at its fastest, with output 3.6% larger than libzstd's), libzstd level 1
// 5.2-6.75 µs. This encoder takes 6.6-7.3 µs there (1.3x libzstd, 0.6x klauspost),
// and its output is 0.07% smaller than libzstd level 1's. It is built for one
// buffer, one frame:
//   - a frame with the content size and no window descriptor (Single_Segment_flag),
//     no checksum (makedumpfile's pages have none), and one block per 128 KiB:
//     compressed, raw when compressing does not pay, RLE for a page of one byte value;
//   - libzstd level 1's match search (its "fast" strategy: a hash of 5 bytes, pairs
//     of positions, the most recent offset tried first, two bytes ahead), with the
//     second repeat offset taken where it matches longer; the hash table's entries
//     from earlier buffers are told apart by position rather than cleared;
//   - literals Huffman-coded (our own code builder and streams, since
//     klauspost/compress/huff0 spent about 3 µs a page building its tables; a tree
//     description FSE-compressed when that is smaller), stored raw when that does
//     not save a 64th, as libzstd decides;
//   - sequences FSE-coded with the predefined tables or with tables sent in the block,
//     whichever the code lengths' estimate says is smaller (libzstd level 1 decides
//     by counts alone), RLE when one code only.
//
// It does not decode (compress's PageDecompressor uses klauspost's decoder), and does
// not use dictionaries, checksums or more than one thread. An Encoder is for one
// goroutine; once warm, Compress allocates nothing when dst has room.
package zstdpage

import (
	"encoding/binary"
	"slices"

	"github.com/gokdump/gokdump/compress/internal/match"
)

const (
	magic = 0xFD2FB528

	// maxBlock is Block_Maximum_Size's upper bound (128 KiB); a frame's blocks are at
	// most this big.
	maxBlock = 128 << 10

	// Block_Type values.
	blockRaw        = 0
	blockRLE        = 1
	blockCompressed = 2
)

// MaxCompressedLen is the most bytes Compress appends for n bytes of input: the
// input stored in raw blocks, with the frame and block headers.
func MaxCompressedLen(n int) int {
	blocks := max(1, (n+maxBlock-1)/maxBlock)
	return n + 4 + 1 + 8 + 3*blocks
}

// Encoder compresses buffers one at a time, each into one frame. The zero value is
// ready to use.
type Encoder struct {
	// table maps a hash of minMatch bytes to base + the position where they were
	// last seen. Entries below base were written for earlier buffers and are ignored,
	// so a buffer does not pay for clearing the table.
	table *[hashSize]uint32
	base  uint32

	rep [3]uint32 // the repeat offsets, as the decoder will hold them

	seqs []sequence
	lits []byte
	blk  []byte // the block being built

	huff huffEncoder

	// Per-block FSE work space.
	llCount, mlCount, ofCount [maxSymbols]uint32
	norm                      [maxSymbols]int16
	llTable, mlTable, ofTable fseTable
}

// sequence is one (literals length, match) pair of a block: ll literals, then a match
// of ml+3 bytes whose offset is offBase (repeat codes 1..3, else offset+3), with
// their codes.
type sequence struct {
	ll, ml, offBase        uint32
	llCode, mlCode, ofCode uint8
}

// Compress appends the zstd frame of src to dst and returns the extended slice. When
// dst has room for MaxCompressedLen(len(src)) more bytes it is not reallocated.
func (e *Encoder) Compress(dst, src []byte) []byte {
	n := len(src)
	dst = slices.Grow(dst, MaxCompressedLen(n))
	dst = appendFrameHeader(dst, uint64(n))
	if n > maxMatchedInput {
		// Positions would not fit the table's entries: raw blocks (pages never
		// come near this).
		for start := 0; ; start += maxBlock {
			end := min(n, start+maxBlock)
			dst = appendBlockHeader(dst, boolBit(end == n)|blockRaw<<1|uint32(end-start)<<3)
			dst = append(dst, src[start:end]...)
			if end == n {
				return dst
			}
		}
	}
	e.init(n)
	e.rep = [3]uint32{1, 4, 8}
	for start := 0; ; {
		end := min(n, start+maxBlock)
		dst = e.block(dst, src, start, end, end == n)
		if end == n {
			break
		}
		start = end
	}
	e.base += uint32(n) + 1
	return dst
}

// maxMatchedInput is the largest input Compress looks for matches in: table
// entries hold base plus a position in 32 bits. (A variable for the tests.)
var maxMatchedInput = 1 << 30

// appendFrameHeader appends the magic number and a frame header for n bytes of
// content: Single_Segment_flag (so no window descriptor), no checksum, no
// dictionary, and the content size in the smallest field that holds it.
func appendFrameHeader(dst []byte, n uint64) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, magic)
	switch {
	case n < 256:
		return append(dst, 0<<6|1<<5, byte(n))
	case n < 65536+256:
		dst = append(dst, 1<<6|1<<5)
		return binary.LittleEndian.AppendUint16(dst, uint16(n-256))
	case n <= 1<<32-1:
		dst = append(dst, 2<<6|1<<5)
		return binary.LittleEndian.AppendUint32(dst, uint32(n))
	default:
		dst = append(dst, 3<<6|1<<5)
		return binary.LittleEndian.AppendUint64(dst, n)
	}
}

func boolBit(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// init readies the match table for an input of n bytes.
func (e *Encoder) init(n int) {
	if e.table == nil {
		e.table = new([hashSize]uint32)
		e.base = 1
	}
	if uint64(e.base)+uint64(n)+1 >= 1<<32 {
		clear(e.table[:])
		e.base = 1
	}
}

// block appends the block of src[start:end].
func (e *Encoder) block(dst, src []byte, start, end int, last bool) []byte {
	lastBit := boolBit(last)
	n := end - start
	rep := e.rep
	e.parse(src, start, end)
	if len(e.seqs) <= 1 && len(e.lits) <= 1 && n > 1 && match.Len(src[start+1:end], src[start:end-1]) == n-1 {
		// One byte value throughout: an RLE block.
		e.rep = rep
		dst = appendBlockHeader(dst, lastBit|blockRLE<<1|uint32(n)<<3)
		return append(dst, src[start])
	}
	blk := e.compressBlock(n)
	if len(blk) >= n {
		// A raw block; it does not update the repeat offsets.
		e.rep = rep
		dst = appendBlockHeader(dst, lastBit|blockRaw<<1|uint32(n)<<3)
		return append(dst, src[start:end]...)
	}
	dst = appendBlockHeader(dst, lastBit|blockCompressed<<1|uint32(len(blk))<<3)
	return append(dst, blk...)
}

func appendBlockHeader(dst []byte, h uint32) []byte {
	return append(dst, byte(h), byte(h>>8), byte(h>>16))
}

// compressBlock returns the compressed block of the parsed sequences and literals,
// or something at least n bytes long when it would be no smaller than the n bytes
// it holds.
func (e *Encoder) compressBlock(n int) []byte {
	// Room for the literals (Huffman-coded ones are written before they are found
	// not to pay, so up to 11 bits each, the tree and the streams' padding), their
	// header, and the sequences: their header, three tables, and at most 10 bytes
	// of bitstream each.
	need := 2*len(e.lits) + 512 + 10*len(e.seqs)
	if cap(e.blk) < need {
		e.blk = make([]byte, 0, need+need/2)
	}
	b := e.literals(e.blk[:0])
	if len(b) >= n {
		return b // the literals alone do not fit: stored raw
	}
	b = e.sequences(b)
	e.blk = b
	return b
}

// Compress appends the zstd frame of src to dst with a temporary Encoder. Code that
// compresses repeatedly should keep an Encoder instead.
func Compress(dst, src []byte) []byte {
	var e Encoder
	return e.Compress(dst, src)
}
