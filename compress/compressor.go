package compress

import (
	"fmt"
	"slices"

	"github.com/gokdump/gokdump/compress/deflate"
	"github.com/gokdump/gokdump/compress/lzo"
	"github.com/gokdump/gokdump/compress/zstdpage"
	"github.com/klauspost/compress/s2"
)

// PageCompressor compresses pages one at a time with one codec, keeping the codec's
// state (hash tables, encoder windows) between pages. It is not safe for concurrent use:
// give each goroutine its own.
type PageCompressor struct {
	codec Codec
	lzo   *lzo.Encoder
	zlib  *deflate.Encoder
	zstd  *zstdpage.Encoder
	// probe, for the codec whose search is slow on data that does not compress
	// (zlib), picks out such pages to store raw at once (incompressible.go).
	probe *pageProbe
}

// NewPageCompressor returns a compressor for codec. Compressing with None copies the
// page.
func NewPageCompressor(codec Codec) (*PageCompressor, error) {
	p := &PageCompressor{codec: codec}
	var err error
	switch codec {
	case None, Snappy:
	case LZO:
		p.lzo = new(lzo.Encoder)
	case Zlib:
		// Our own page-sized deflate, not a general-purpose one: klauspost's levels
		// look for 4-byte matches and end with an extra block, which made pages 0.7%
		// larger than C zlib -1's (makedumpfile's setting) even at level 6; ours
		// writes them about 1% smaller, in a quarter of C zlib's time (compress/deflate).
		p.zlib = new(deflate.Encoder)
		p.probe = new(pageProbe)
	case Zstd:
		// Our own page-sized zstd encoder: makedumpfile's level 1 (libzstd's fast
		// strategy) in its matches, frames a little smaller than libzstd level 1's.
		// klauspost's EncodeAll paid a set-up cost per call that dominated on 4 KiB
		// pages: on a real 6.1 vmcore, one core, 12 µs a page at its default level
		// against 7 for ours and 5.5 for libzstd level 1 (compress/zstdpage). One
		// frame per page with the content size and no checksum, as
		// ZSTD_compressCCtx writes. No probe: the encoder passes over data that does
		// not compress quickly.
		p.zstd = new(zstdpage.Encoder)
	default:
		return nil, unknownCodec(codec)
	}
	if err != nil {
		return nil, fmt.Errorf("compress: %v: %w", codec, err)
	}
	return p, nil
}

// Codec returns the compressor's codec.
func (p *PageCompressor) Codec() Codec { return p.codec }

// Compress appends the compression of page to dst and returns the extended buffer,
// whatever its size. Once warm it allocates nothing when dst has room for the result
// (MaxCompressedLen bytes more than its length).
func (p *PageCompressor) Compress(dst, page []byte) ([]byte, error) {
	switch p.codec {
	case None:
		return append(dst, page...), nil
	case LZO:
		return p.lzo.Compress(dst, page)
	case Snappy:
		// s2.EncodeSnappy writes the standard snappy block format (the varint length,
		// then tagged literals and copies) that the C library's snappy_uncompress
		// reads, with the fast match finder, as snappy_compress.
		n := len(dst)
		dst = slices.Grow(dst, s2.MaxEncodedLen(len(page)))
		out := s2.EncodeSnappy(dst[n:cap(dst)], page)
		return dst[:n+len(out)], nil
	case Zlib:
		return p.zlib.Zlib(dst, page), nil
	case Zstd:
		return p.zstd.Compress(dst, page), nil
	}
	return dst, unknownCodec(p.codec)
}

// MaxCompressedLen returns the most bytes Compress appends for a page of pageSize bytes.
func (p *PageCompressor) MaxCompressedLen(pageSize int) int {
	switch p.codec {
	case LZO:
		return lzo.MaxCompressedLen(pageSize)
	case Snappy:
		return s2.MaxEncodedLen(pageSize)
	case Zlib:
		return deflate.MaxZlibLen(pageSize)
	case Zstd:
		return zstdpage.MaxCompressedLen(pageSize)
	}
	return pageSize
}

// CompressPage appends what a kdump-compressed file stores for page, deciding as
// makedumpfile does: the page's compression when it is smaller than the page, with the
// codec's flag, else the page itself with flags 0. The descriptor then records
// len(out)-len(dst) as the size and flags as the flags. A codec error is returned (with
// dst unchanged) rather than hidden; makedumpfile would store such a page raw. With zlib
// a 4 KiB page whose bytes are spread evenly and hold no repeats (already compressed or
// random data) is stored raw without trying the codec, whose output would be larger
// than the page.
func (p *PageCompressor) CompressPage(dst, page []byte) (out []byte, flags uint32, err error) {
	n := len(dst)
	if p.codec != None && (p.probe == nil || !p.probe.likelyIncompressible(page)) {
		out, err = p.Compress(dst, page)
		if err != nil {
			return dst, 0, err
		}
		if len(out)-n < len(page) {
			return out, p.codec.Flag(), nil
		}
		dst = out[:n]
	}
	return append(dst, page...), 0, nil
}
