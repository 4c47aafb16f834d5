// Package compress holds the per-page codecs of the kdump-compressed format: zlib, LZO1X-1,
// snappy and zstd, each named by the flag bit the format stores in its main header and
// in every page descriptor.
//
// makedumpfile compresses every page on its own, with no dictionary shared between
// pages, so that a reader can decode any page alone. This package does the same, with
// the settings makedumpfile uses, so that crash, makedumpfile and libkdumpfile read our
// pages: a zlib stream (RFC 1950, as zlib's compress2), a raw LZO1X-1
// stream, a raw snappy block (not the framed stream), and one complete zstd frame per
// page (as ZSTD_compressCCtx writes at makedumpfile's level 1; compress/zstdpage, our
// own page-sized encoder, writes them no larger).
//
// Compressors keep their state between pages so that compressing allocates nothing once
// warm; each PageCompressor and PageDecompressor is for one goroutine:
//
//	pc, err := compress.NewPageCompressor(compress.Zstd)
//	...
//	data, flags, err := pc.CompressPage(buf[:0], page) // flags 0: data is the raw page
package compress

import (
	"errors"
	"fmt"
	"strings"
)

// Codec is a page compression method, valued as its flag bit in the kdump-compressed
// main header's status field and in page descriptors' flags.
type Codec uint32

// The codecs. None is the absence of compression: pages are stored as they are.
const (
	None   Codec = 0
	Zlib   Codec = 0x1  // DUMP_DH_COMPRESSED_ZLIB, makedumpfile -c
	LZO    Codec = 0x2  // DUMP_DH_COMPRESSED_LZO, makedumpfile -l
	Snappy Codec = 0x4  // DUMP_DH_COMPRESSED_SNAPPY, makedumpfile -p
	Zstd   Codec = 0x20 // DUMP_DH_COMPRESSED_ZSTD, makedumpfile -z
)

// Codecs lists the compressing codecs.
var Codecs = []Codec{Zlib, LZO, Snappy, Zstd}

// flagMask holds every compression bit; other bits of the header's status field
// (INCOMPLETE 0x8, EXCLUDED_VMEMMAP 0x10) are not about compression.
const flagMask = uint32(Zlib | LZO | Snappy | Zstd)

// String returns the codec's name as the command line spells it.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Zlib:
		return "zlib"
	case LZO:
		return "lzo"
	case Snappy:
		return "snappy"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Codec(%#x)", uint32(c))
}

// Flag returns the codec's bit for the header's status and the descriptors' flags.
func (c Codec) Flag() uint32 { return uint32(c) }

// ParseCodec returns the codec with the given name ("none", "zlib", "lzo", "snappy",
// "zstd"; case does not matter).
func ParseCodec(name string) (Codec, error) {
	for _, c := range append([]Codec{None}, Codecs...) {
		if strings.EqualFold(name, c.String()) {
			return c, nil
		}
	}
	return None, fmt.Errorf("compress: unknown compression %q, want one of none, zlib, lzo, snappy, zstd", name)
}

// CodecFromFlags returns the codec a set of header status or descriptor flags names:
// None when no compression bit is set, an error when more than one is.
func CodecFromFlags(flags uint32) (Codec, error) {
	c := Codec(flags & flagMask)
	switch c {
	case None, Zlib, LZO, Snappy, Zstd:
		return c, nil
	}
	return None, fmt.Errorf("compress: flags %#x name more than one compression method", flags)
}

// ErrPageSize is wrapped by Decompress errors when the data does not decode to exactly
// one page.
var ErrPageSize = errors.New("compress: decompressed data is not one page")

func unknownCodec(c Codec) error {
	return fmt.Errorf("compress: unsupported codec %v", c)
}
