// Package word reads little-endian words from a byte slice without bounds checks, for
// the match searches of the page encoders (lzo, zstdpage), where a check and its slice
// arithmetic cost about a tenth of the encoder's time on kernel pages.
//
// It is the only place in compress that uses unsafe. A caller proves its positions in
// range itself (the reason is written beside each search loop), and its tests compress
// inputs that end right before an inaccessible page (testpage.ReadPastEnd), so that a
// read past the end faults instead of passing unnoticed. Everything else reads through
// encoding/binary.
package word

import (
	"encoding/binary"
	"unsafe"
)

// Load32 returns the 4 bytes of src at i; i+4 <= len(src) is the caller's to prove.
// The loads go through array pointers: unsafe.Slice would check the address for
// overflow on every call.
func Load32(src []byte, i int) uint32 {
	p := (*[4]byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), i))
	return binary.LittleEndian.Uint32(p[:])
}

// Load64 returns the 8 bytes of src at i; i+8 <= len(src) is the caller's to prove.
func Load64(src []byte, i int) uint64 {
	p := (*[8]byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), i))
	return binary.LittleEndian.Uint64(p[:])
}
