package compress

import (
	"encoding/binary"
	"math"
)

// Pages that are already compressed or encrypted (file caches of compressed files,
// swap-encrypted or random data) do not shrink, and a kdump-compressed file stores them
// as they are. makedumpfile finds that out by compressing them; a deflate or zstd
// encoder spends most of its time on such a page searching for matches that are not
// there. likelyIncompressible tells them apart for a fraction of that cost, in two
// steps:
//
//  1. A scan for repeated strings (a hash table of every earlier position's 4 bytes,
//     looked up every 16 positions and checked): repeats are what a match finder
//     would find, and a page with one is compressed as usual. Text, code and kernel
//     structures repeat 4-byte strings within their first hundred bytes, so they
//     leave the scan almost at once; a repeat of 21 bytes or more is never missed.
//  2. Only for pages with none, the byte histogram's order-0 entropy: when the bytes
//     are spread so evenly that even ideal entropy coding of them one by one saves
//     under minSaving bytes, no entropy coder can pay for its own tables.
//
// A page both steps call incompressible would come out of zlib or zstd larger than the
// page (stored raw by CompressPage's rule anyway), except in contrived cases.

// minSaving: a page whose histogram promises less than this saving is a candidate.
// Deflate's dynamic block header for about 256 literal codes alone is over 100 bytes
// and zstd's Huffman table over 60; 32 leaves room.
const minSaving = 32

// probeBits sizes the repeat scan's table: 4096 entries, one per position of a page;
// probeStride is how often the scan looks a position up.
const (
	probeBits   = 12
	probeStride = 16
)

// nlog2n[c] is c*log2(c) for the counts of a histogram of a 4 KiB page.
var nlog2n = func() *[4097]float32 {
	var t [4097]float32
	for c := 2; c < len(t); c++ {
		t[c] = float32(float64(c) * math.Log2(float64(c)))
	}
	return &t
}()

// pageProbe is the state of likelyIncompressible, kept between pages so that a page
// costs no clearing of its table.
type pageProbe struct {
	table [1 << probeBits]uint32 // base + position of the last 4 bytes hashed here
	base  uint32
}

// likelyIncompressible says whether page (of 4 KiB; other sizes are never judged) is
// better stored raw than compressed: see the comment above.
func (pp *pageProbe) likelyIncompressible(page []byte) bool {
	const n = 4096
	if len(page) != n {
		return false
	}
	if pp.base == 0 || pp.base > math.MaxUint32-2*n {
		clear(pp.table[:])
		pp.base = 1
	}
	base := pp.base
	pp.base += n
	// Every even position goes into the table; at every probeStride-th position the
	// position and the one after it are looked up first. A repeat of probeStride+5
	// bytes or more holds a looked-up position, of either parity, whose earlier copy
	// at an even position was entered, with all 4 bytes inside: it is found. Shorter
	// repeats of otherwise random bytes would not shrink the page anyway.
	for blk := 0; blk+probeStride+3 <= n; blk += probeStride {
		for _, p := range [2]int{blk, blk + 1} {
			cur := binary.LittleEndian.Uint32(page[p:])
			if seen := pp.table[(cur*0x9e3779b1)>>(32-probeBits)]; seen >= base && binary.LittleEndian.Uint32(page[seen-base:]) == cur {
				return false
			}
		}
		for i := blk; i < blk+probeStride; i += 2 {
			v := binary.LittleEndian.Uint32(page[i:])
			pp.table[(v*0x9e3779b1)>>(32-probeBits)] = base + uint32(i)
		}
	}
	// Four histograms, so that runs of equal bytes do not serialise the increments.
	var h [4][256]uint16
	for i := 0; i < n; i += 8 {
		v := binary.LittleEndian.Uint64(page[i:])
		h[0][byte(v)]++
		h[1][byte(v>>8)]++
		h[2][byte(v>>16)]++
		h[3][byte(v>>24)]++
		h[0][byte(v>>32)]++
		h[1][byte(v>>40)]++
		h[2][byte(v>>48)]++
		h[3][byte(v>>56)]++
	}
	var sum float32
	for b := range 256 {
		sum += nlog2n[int(h[0][b])+int(h[1][b])+int(h[2][b])+int(h[3][b])]
	}
	// Ideal order-0 coding takes n*log2(n) - sum(c*log2(c)) bits.
	bits := nlog2n[n] - sum
	return bits/8 >= n-minSaving
}
