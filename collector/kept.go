package collector

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/gokdump/gokdump/internal/bitmap"
)

// keepBitmapMax is the most memory pass 1's kept 2nd bitmap may take: 512 KiB.
// Classifying a window again reads its struct pages again (16 MiB of them for each GiB
// of memory, page-cache or /proc/vmcore reads) for verdicts that cannot have changed,
// so pass 1 keeps its verdicts for pass 2 (keptBitmap), window by window, until they
// fill this much; the windows past that are classified again, so that the collector's
// memory stays flat however large the machine. Tests set it to 0 to hold the kept path
// to classifying twice, and low to keep only some windows.
var keepBitmapMax = 512 << 10

// keptBitmap is pass 1's 2nd bitmap, kept for pass 2 one window at a time from the
// first, each window's bytes as runs: of 0x00 bytes, of 0xff bytes, and of other
// bytes stored as they are. Memory the dump leaves out (free, user and cache pages)
// makes long runs of 0x00 and the kernel's own runs of 0xff: the -d 31 bitmaps of the
// bench's lab vmcores (1 and 2 GiB, 32 and 64 KiB as plain bits) take 98 and 84 bytes.
// At worst a window takes its plain bits and one literal's header (4 bytes for a 16 KiB
// window's bitmap): no run is cut out unless that costs no more than leaving it. The
// budget holds the encodings and their index (4 bytes a window), by capacity; one
// window's encoding is made beside them before it is known to fit. It is
// ours, not a library's: what it holds never leaves the process, and the encoding is
// a few lines.
//
// A window's encoding is a sequence of (kind, count) pairs, kind a byte (runZero,
// runOnes, runLiteral) and count a uvarint, a literal's count bytes after it; the counts
// add up to the window's bitmap bytes. Once pass 1's adds are done the bitmap is
// read-only, and get may be called from several goroutines (the parts of a split dump
// share it).
type keptBitmap struct {
	windowPFNs uint64
	data       []byte   // the windows' encodings, one after the other
	ends       []uint32 // ends[i]: where window i's encoding ends in data
	budget     int      // the most data and ends may hold together, in bytes
	full       bool     // a window did not fit: it and those after it are not kept
	scratch    []byte   // one window's encoding, before it is known to fit
}

const (
	runZero = iota
	runOnes
	runLiteral
)

// newKeptBitmap keeps encoded windows of windowPFNs pfns in at most budget bytes
// (data and ends, by capacity). They grow as windows come: a small machine's verdicts
// take a few hundred bytes, and the budget is not set aside in advance.
func newKeptBitmap(windowPFNs uint64, budget int) *keptBitmap {
	return &keptBitmap{windowPFNs: windowPFNs, budget: min(budget, math.MaxUint32)}
}

// add keeps the bitmap of window w, the next one in pfn order, if it fits.
func (k *keptBitmap) add(w *window) {
	if k.full {
		return
	}
	if w.start != uint64(len(k.ends))*k.windowPFNs {
		panic(fmt.Sprintf("collector: kept bitmap: window at pfn %#x out of order", w.start))
	}
	k.scratch = encodeRuns(k.scratch[:0], w.dumped[:w.bytes()])
	needData, needEnds := len(k.data)+len(k.scratch), len(k.ends)+1
	// Grow as append would, but so that the two capacities stay within the budget.
	if needData > cap(k.data) {
		c := min(max(2*cap(k.data), needData), k.budget-4*cap(k.ends))
		if c < needData {
			k.stop()
			return
		}
		k.data = append(make([]byte, 0, c), k.data...)
	}
	if needEnds > cap(k.ends) {
		c := min(max(2*cap(k.ends), needEnds), (k.budget-cap(k.data))/4)
		if c < needEnds {
			k.stop()
			return
		}
		k.ends = append(make([]uint32, 0, c), k.ends...)
	}
	k.data = append(k.data, k.scratch...)
	k.ends = append(k.ends, uint32(len(k.data)))
}

// stop ends the keeping: the window that did not fit and those after it are
// classified again by pass 2.
func (k *keptBitmap) stop() {
	k.full = true
	k.scratch = nil
}

// done is called when pass 1 is over: the scratch buffer is not needed again.
func (k *keptBitmap) done() { k.scratch = nil }

// get fills dst, the bitmap of the window starting at pfn start, and says whether the
// window was kept.
func (k *keptBitmap) get(dst []byte, start uint64) bool {
	if start%k.windowPFNs != 0 {
		return false
	}
	i := start / k.windowPFNs
	if i >= uint64(len(k.ends)) {
		return false
	}
	from := uint32(0)
	if i > 0 {
		from = k.ends[i-1]
	}
	if err := decodeRuns(dst, k.data[from:k.ends[i]]); err != nil {
		// Only a bug gets here: what add wrote is what this reads.
		panic(fmt.Sprintf("collector: kept bitmap of the window at pfn %#x: %v", start, err))
	}
	return true
}

// encodeRuns appends the encoding of b to dst.
func encodeRuns(dst, b []byte) []byte {
	lit := 0 // where the pending literal stretch starts
	for i := 0; i < len(b); {
		v := b[i]
		if v != 0x00 && v != 0xff {
			i++
			continue
		}
		n := 1
		for i+n < len(b) && b[i+n] == v {
			n++
		}
		// Cut the run out only where that costs no more than leaving it in the
		// literal: the run's own kind and count, and the next literal's header.
		cost := 1 + uvarintLen(n)
		if rest := len(b) - i - n; rest > 0 {
			cost += 1 + uvarintLen(rest)
		}
		if cost > n {
			i += n
			continue
		}
		dst = appendLiteral(dst, b[lit:i])
		kind := byte(runZero)
		if v == 0xff {
			kind = runOnes
		}
		dst = binary.AppendUvarint(append(dst, kind), uint64(n))
		i += n
		lit = i
	}
	return appendLiteral(dst, b[lit:])
}

// uvarintLen is the length of n's uvarint.
func uvarintLen(n int) int { return (bits.Len64(uint64(n)|1) + 6) / 7 }

func appendLiteral(dst, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(append(dst, runLiteral), uint64(len(b)))
	return append(dst, b...)
}

// decodeRuns fills dst from enc, which must describe exactly len(dst) bytes.
func decodeRuns(dst, enc []byte) error {
	pos := 0
	for off := 0; off < len(enc); {
		kind := enc[off]
		n, w := binary.Uvarint(enc[off+1:])
		if w <= 0 || n > uint64(len(dst)-pos) {
			return fmt.Errorf("offset %d: bad count for %d bytes left", off, len(dst)-pos)
		}
		off += 1 + w
		run := dst[pos : pos+int(n)]
		switch kind {
		case runZero:
			clear(run)
		case runOnes:
			bitmap.Set(run, 0, n*8)
		case runLiteral:
			if uint64(len(enc)-off) < n {
				return fmt.Errorf("offset %d: literal of %d bytes, %d left", off, n, len(enc)-off)
			}
			copy(run, enc[off:])
			off += int(n)
		default:
			return fmt.Errorf("offset %d: unknown kind %d", off-1-w, kind)
		}
		pos += int(n)
	}
	if pos != len(dst) {
		return fmt.Errorf("%d bytes, want %d", pos, len(dst))
	}
	return nil
}
