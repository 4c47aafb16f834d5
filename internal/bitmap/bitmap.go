// Package bitmap holds the bit operations on dump bitmaps: bit i (byte i>>3, bit i&7,
// least significant first) stands for pfn start+i, as in the kdump-compressed format.
// Package mm clears the bits of the pages a dump level leaves out; package collector
// also counts them and finds the runs of pages to write. It is not the format's layout
// (where a bitmap sits in a file): that is the dump file's.
package bitmap

import (
	"encoding/binary"
	"math/bits"
)

// Set sets bits [from, from+n).
func Set(b []byte, from, n uint64) {
	end := from + n
	for from < end && from&7 != 0 {
		b[from>>3] |= 1 << (from & 7)
		from++
	}
	for ; from+8 <= end; from += 8 {
		b[from>>3] = 0xff
	}
	for ; from < end; from++ {
		b[from>>3] |= 1 << (from & 7)
	}
}

// Clear clears bits [from, from+n) and returns how many were set.
func Clear(b []byte, from, n uint64) uint64 {
	var cnt uint64
	end := from + n
	for from < end && from&7 != 0 {
		m := byte(1) << (from & 7)
		if b[from>>3]&m != 0 {
			cnt++
			b[from>>3] &^= m
		}
		from++
	}
	for ; from+8 <= end; from += 8 {
		cnt += uint64(bits.OnesCount8(b[from>>3]))
		b[from>>3] = 0
	}
	for ; from < end; from++ {
		m := byte(1) << (from & 7)
		if b[from>>3]&m != 0 {
			cnt++
			b[from>>3] &^= m
		}
	}
	return cnt
}

// Test reports whether bit i is set.
func Test(b []byte, i uint64) bool { return b[i>>3]&(1<<(i&7)) != 0 }

// Count returns the number of set bits in b.
func Count(b []byte) uint64 {
	var n uint64
	for len(b) >= 8 {
		n += uint64(bits.OnesCount64(binary.LittleEndian.Uint64(b)))
		b = b[8:]
	}
	for _, x := range b {
		n += uint64(bits.OnesCount8(x))
	}
	return n
}

// NextRun finds the first run of bits equal to set at or after from and below limit,
// returning its start and length; length 0 means none.
func NextRun(b []byte, from, limit uint64, set bool) (start, n uint64) {
	i := from
	for i < limit {
		// Skip whole bytes that cannot start a run.
		if i&7 == 0 && i+8 <= limit {
			x := b[i>>3]
			if (set && x == 0) || (!set && x == 0xff) {
				i += 8
				continue
			}
		}
		if Test(b, i) == set {
			break
		}
		i++
	}
	if i >= limit {
		return limit, 0
	}
	start = i
	for i < limit {
		if i&7 == 0 && i+8 <= limit {
			x := b[i>>3]
			if (set && x == 0xff) || (!set && x == 0) {
				i += 8
				continue
			}
		}
		if Test(b, i) != set {
			break
		}
		i++
	}
	return start, i - start
}
