// Package lzo implements the LZO1X compressed data format: an LZO1X-1 style encoder and a
// bounds-checked LZO1X decoder, in pure Go.
//
// kdump-compressed dumps written with makedumpfile -l store each page as one LZO1X
// stream made by liblzo2's lzo1x_1_compress and read back with lzo1x_decompress_safe
// (makedumpfile, crash and libkdumpfile all link liblzo2). gokdump is one static binary
// without cgo, so it carries its own codec. The encoder is written from the description
// of the stream in the Linux kernel's Documentation/staging/lzo.rst; its output is a
// standard LZO1X stream that liblzo2 decodes, ending with the end-of-stream marker
// 0x11 0x00 0x00.
//
// A stream is a sequence of instructions. The first byte may be a literal run of 17+n
// (n bytes follow). After that, each instruction is one of
//
//	0000LLLL             literal run of 3+L bytes (L==0: 18 + 255*zeros + next byte);
//	                     only when the previous instruction left no trailing literals
//	0000DDSS HHHHHHHH    2-byte copy (after 1..3 trailing literals, distance <= 1 KiB)
//	                     or 3-byte copy at distance 2049..3072 (after a literal run)
//	0001HLLL  LE16       copy of 2+L bytes at distance 16384+(H<<14)+(LE16>>2);
//	                     distance exactly 16384 is the end of the stream
//	001LLLLL  LE16       copy of 2+L bytes at distance (LE16>>2)+1 (up to 16 KiB)
//	01LDDDSS HHHHHHHH    copy of 3..4 bytes at distance (H<<3)+D+1 (up to 2 KiB)
//	1LLDDDSS HHHHHHHH    copy of 5..8 bytes at distance (H<<3)+D+1 (up to 2 KiB)
//
// where the two S bits (in the instruction byte or in the low byte of LE16) give 0..3
// literal bytes that follow the copy, and a length field of zero means an extended
// length: 255 for every following zero byte plus the first non-zero byte.
//
// Usage, one Encoder per goroutine:
//
//	var enc lzo.Encoder
//	buf, err := enc.Compress(buf[:0], page)
//	...
//	page, err = lzo.Decompress(page[:0], buf, 4096)
package lzo

import (
	"errors"
	"fmt"
)

// Limits of the instruction encodings (distances are 1-based byte counts back from the
// output position).
const (
	maxM2Distance = 0x800  // 01LDDDSS / 1LLDDDSS: 3 + 8 bits
	maxM2Length   = 8      // 1LL: 5..8
	maxM3Distance = 0x4000 // 001LLLLL: 14-bit distance - 1
	m4DistanceMin = 0x4000 // 0001HLLL: 16384 + (H<<14) + D; 16384 itself ends the stream
	maxM4Distance = 0xbfff // liblzo2's M4_MAX_OFFSET: 16384 + 32767

	maxFirstLiteralRun = 238 // a first byte of 17+n holds n <= 238 (byte <= 255)

	m2Marker = 0x40
	m3Marker = 0x20
	m4Marker = 0x10

	endMarker0 = m4Marker | 1 // 0001 0 001: length 3, distance 16384 + 0: the end
)

// MaxCompressedLen returns the largest output Compress can produce for n input bytes:
// LZO1X's documented worst case of n + n/16 + 64 + 3 (incompressible input costs one
// length byte per 255 literals plus the 3-byte end marker).
func MaxCompressedLen(n int) int {
	return n + n/16 + 64 + 3
}

// ErrOutputLimit is wrapped by the FormatError Decompress returns when the stream would
// decode to more bytes than the limit it was given.
var ErrOutputLimit = errors.New("lzo: decompressed data exceeds the output limit")

// FormatError describes a corrupt or truncated LZO1X stream.
type FormatError struct {
	Off int    // offset in the compressed input of the instruction that failed
	Msg string // what was wrong or what was expected
	Err error  // ErrOutputLimit when the output bound was hit, else nil
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("lzo: corrupt input at offset %d: %s", e.Off, e.Msg)
}

func (e *FormatError) Unwrap() error { return e.Err }
