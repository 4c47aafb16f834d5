// Package deflate writes deflate (RFC 1951) and zlib (RFC 1950) streams of small
// buffers, such as the pages of a kdump-compressed dump, each compressed on its own.
//
// It exists because the general-purpose encoders are tuned for long streams: they look
// for matches of 4 bytes or more and end a stream with an extra empty block, and on
// kernel memory (arrays of 32- and 64-bit values whose repeats are often just 3 bytes
// long) that makes pages about 1% larger than C zlib's level 1, makedumpfile's setting.
// This encoder is built for a buffer compressed whole:
//   - 3-byte matches, found through hash chains, as zlib's fast levels do;
//   - one set of Huffman codes per buffer, each limited to the format's code lengths,
//     and whichever of a dynamic, fixed or stored block is smallest, as one final block
//     (several only when the buffer is larger than a block can hold);
//   - hash tables that are not cleared between buffers (stale entries are told apart
//     by position), so that a 4 KiB page costs no more than its own bytes.
//
// An Encoder is for one goroutine; once warm, Zlib and Deflate allocate nothing when
// dst has room.
package deflate

import (
	"encoding/binary"
	"slices"

	"github.com/gokdump/gokdump/compress/internal/match"
)

const (
	minMatch   = 3
	maxMatch   = 258
	windowSize = 1 << 15 // the largest distance deflate can express
	windowMask = windowSize - 1
	hashBits   = 14
	hashSize   = 1 << hashBits

	// maxBlockTokens bounds the tokens of one block, so the token buffer stays small
	// for any input; a larger input becomes several blocks.
	maxBlockTokens = 1 << 15
)

// Tuning of the match search, measured on the 1 GiB bench vmcore's 100,247 non-zero
// pages (kernel 6.1) against C zlib -1's 80.46 MB: chains of 4 with a nice length of 8
// (zlib -1's) give 0.999 of that size, chains of 8 0.990, chains of 16 with a nice
// length of 64 0.986, chains of 32 with no early stop 0.986 at 10% more time. The
// chains of 4 with a nice length of 32 kept here are 0.99: against chains of 16 and 64,
// 0.4-0.8% more output for 7-14% less time on the kernel's pages (a -d 31 dump of the
// 1 GiB vmcore: 0.977x makedumpfile -c's size, was 0.969x), and 0.2% more for 19% less
// on the text of the bench's stale-data vmcore (the pages that compress, where the
// search is most of the time). A nice length of 16 or 24 saved no time
// beyond the measurement's noise and lost size.
const (
	// maxChain is how many earlier positions with the same hash are tried.
	maxChain = 4
	// niceMatch ends the search early: a match this long is taken at once.
	niceMatch = 32
	// maxInsert: the positions inside a match are added to the hash chains only when
	// the match is at most this long; long matches (runs, repeated structures) are
	// skipped over, which keeps highly repetitive pages fast.
	maxInsert = 16
)

// Encoder compresses buffers one at a time. The zero value is ready to use.
type Encoder struct {
	// head[h] is the position (plus base) of the last string hashed to h; prev[p &
	// windowMask] the one before that with the same hash. Positions below base belong
	// to earlier buffers and are ignored.
	head *[hashSize]uint32
	prev *[windowSize]uint32
	base uint32

	tokens []token
	lit    [numLitLen]uint16 // frequencies of literal/length symbols in the block
	dist   [numDist]uint16   // frequencies of distance symbols

	bw    bitWriter
	codes codeBuilder
}

// token is a literal byte (below 1<<16) or a match: matchFlag | (length-3)<<16 |
// (distance-1).
type token uint32

const matchFlag = 1 << 31

// MaxZlibLen is the room Zlib needs past dst's length for n bytes of input, as
// MaxDeflateLen is for Deflate: the input stored in blocks, with their headers and the
// zlib framing, and the writer's slack.
func MaxZlibLen(n int) int { return MaxDeflateLen(n) + 2 + 4 }

// MaxDeflateLen is the room Deflate needs past dst's length for n bytes of input: the
// most bytes it appends, and a few its writer touches beyond them. With less, Deflate
// allocates.
func MaxDeflateLen(n int) int {
	return maxDeflateOut(n) + writeSlack
}

// maxDeflateOut is the most bytes Deflate appends for n bytes of input.
func maxDeflateOut(n int) int {
	// Every block but the last covers at least maxBlockTokens-1 bytes (it ends at
	// that many tokens, or a match short of maxStored bytes); a stored block costs 5
	// bytes (and 7 bits of padding at most) more than its input, and each block is
	// at most that.
	blocks := (n + maxBlockTokens - 2) / (maxBlockTokens - 1)
	return n + 5*max(blocks, 1) + 1
}

// Zlib appends the zlib stream of src (header, deflate data, Adler-32), as C zlib's
// compress2 would write it, to dst and returns the extended slice.
func (e *Encoder) Zlib(dst, src []byte) []byte {
	// CMF 0x78: deflate with a 32 KiB window. FLG 0x01: the fastest level's hint, no
	// dictionary, and the check bits that make 0x7801 a multiple of 31.
	dst = append(dst, 0x78, 0x01)
	dst = e.Deflate(dst, src)
	return binary.BigEndian.AppendUint32(dst, adler32Checksum(src))
}

// Deflate appends the raw deflate stream of src to dst and returns the extended slice.
func (e *Encoder) Deflate(dst, src []byte) []byte {
	e.init(len(src))
	dst = slices.Grow(dst, MaxDeflateLen(len(src)))
	e.bw.reset(dst)
	for start := 0; ; {
		end := e.parse(src, start)
		final := end == len(src)
		e.writeBlock(src[start:end], final)
		if final {
			return e.bw.finish()
		}
		start = end
	}
}

// init readies the tables for an input of n bytes.
func (e *Encoder) init(n int) {
	if e.head == nil {
		e.head = new([hashSize]uint32)
		e.prev = new([windowSize]uint32)
		e.base = windowSize
	}
	// Positions are base+i; leave room for this input and one window of margin.
	if uint64(e.base)+uint64(n)+2*windowSize > 1<<31 {
		clear(e.head[:])
		clear(e.prev[:])
		e.base = windowSize
	}
	if cap(e.tokens) == 0 {
		e.tokens = make([]token, 0, min(n+1, maxBlockTokens))
	}
}

func hash3(u uint32) uint32 {
	return ((u & 0xffffff) * 0x9E3779B1) >> (32 - hashBits)
}

// parse finds matches in src from pos on, recording the block's tokens and symbol
// frequencies, until the end of src or until the block's token buffer is full. It
// returns where the block ends.
func (e *Encoder) parse(src []byte, pos int) int {
	e.tokens = e.tokens[:0]
	clear(e.lit[:])
	clear(e.dist[:])
	head, prev, base := e.head, e.prev, e.base
	n := len(src)
	limit := maxBlockTokens - 1 // room for this token
	// The last position a 3-byte string (read as 4 bytes) can be hashed at.
	hashEnd := n - 4
	tail := true // the block runs to the end of src
	if n-pos > maxStored {
		// A block also ends before it covers more input than a stored block can
		// hold, so that storing is always an option and MaxDeflateLen holds: no
		// match may start where it could run past pos+maxStored.
		hashEnd = pos + maxStored - maxMatch - 4
		tail = false
	}
	i := pos
	for i <= hashEnd && len(e.tokens) < limit {
		cur := binary.LittleEndian.Uint32(src[i:])
		h := hash3(cur)
		p := base + uint32(i)
		cand := head[h]
		head[h] = p
		prev[p&windowMask] = cand
		bestLen, bestDist := 0, 0
		if cand >= base && p-cand <= windowSize {
			bestLen, bestDist = e.longest(src, i, cand-base, p)
		}
		if bestLen < minMatch {
			e.literal(src[i])
			i++
			continue
		}
		e.match(bestLen, bestDist)
		if bestLen <= maxInsert {
			stop := min(i+bestLen, hashEnd+1)
			for j := i + 1; j < stop; j++ {
				h := hash3(binary.LittleEndian.Uint32(src[j:]))
				q := base + uint32(j)
				prev[q&windowMask] = head[h]
				head[h] = q
			}
		}
		i += bestLen
	}
	for tail && i < n && len(e.tokens) < limit {
		e.literal(src[i])
		i++
	}
	if i == n {
		// The next input starts a window beyond this one's last position.
		e.base += uint32(n) + windowSize
	}
	return i
}

// longest returns the longest match for src[i:] among the chain starting at the
// earlier position c (an index into src; p is i's position), or a length below
// minMatch.
func (e *Encoder) longest(src []byte, i int, c uint32, p uint32) (int, int) {
	n := len(src)
	maxLen := min(maxMatch, n-i)
	bestLen, bestDist := minMatch-1, 0
	base := e.base
	prev := e.prev
	cur := src[i:]
	first := binary.LittleEndian.Uint32(cur) & 0xffffff
	for chain := maxChain; ; {
		j := int(c)
		// Cheap rejections first: the byte that would make the match longer than the
		// best so far, then the first three.
		if bestLen < maxLen && src[j+bestLen] == cur[bestLen] &&
			binary.LittleEndian.Uint32(src[j:])&0xffffff == first {
			l := match.Len(src[j:j+maxLen], cur[:maxLen])
			if l > bestLen {
				bestLen, bestDist = l, i-j
				if l >= niceMatch || l == maxLen {
					break
				}
			}
		}
		chain--
		if chain == 0 {
			break
		}
		next := prev[(c+base)&windowMask]
		// Chains run strictly backwards within the window and this input; anything
		// else is a stale or overwritten entry.
		if next < base || next >= c+base || p-next > windowSize {
			break
		}
		c = next - base
	}
	if bestLen < minMatch {
		return 0, 0
	}
	return bestLen, bestDist
}

func (e *Encoder) literal(b byte) {
	e.tokens = append(e.tokens, token(b))
	e.lit[b]++
}

func (e *Encoder) match(length, dist int) {
	e.tokens = append(e.tokens, matchFlag|token(length-minMatch)<<16|token(dist-1))
	lc := lengthCode[length-minMatch]
	dc := distCode(dist - 1)
	e.lit[firstLengthSym+int(lc)]++
	e.dist[dc]++
}
