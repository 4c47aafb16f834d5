package compress

import (
	"fmt"
	"slices"

	"github.com/gokdump/gokdump/compress/lzo"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// PageCompressor compresses pages one at a time with one codec, keeping the codec's
// state (hash tables, encoder windows) between pages. It is not safe for concurrent use:
// give each goroutine its own.
type PageCompressor struct {
	codec Codec
	lzo   *lzo.Encoder
	zlib  *zlib.Writer
	sink  appendWriter // where zlib writes: the caller's dst
	zstd  *zstd.Encoder
}

// appendWriter is an io.Writer that appends to a byte slice, so the zlib writer can
// write straight into the caller's buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
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
		// Level 6, not makedumpfile's Z_BEST_SPEED: this deflate's level 1 is faster
		// than C zlib's but writes pages 4.5% larger; level 6 comes within 1% of C
		// zlib -1's size at a third of its time, where level 7 would be smaller but
		// as slow as C zlib (make bench; measured on the lab's vmcores).
		p.zlib, err = zlib.NewWriterLevel(&p.sink, 6)
	case Zstd:
		// The default level (about zstd's 3), not makedumpfile's level 1: on the lab's
		// vmcores it makes -d 31 dumps 3% smaller, smaller than makedumpfile's zlib
		// ones, for under a tenth more time (make bench). Any level decodes the same.
		// No checksum (a page is checked by its size, and ZSTD_compressCCtx adds none
		// either), one goroutine, since pages are small and the caller runs one
		// compressor per core.
		p.zstd, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderCRC(false),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true))
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
		p.sink.b = dst
		p.zlib.Reset(&p.sink)
		if _, err := p.zlib.Write(page); err != nil {
			return dst, fmt.Errorf("compress: zlib: %w", err)
		}
		if err := p.zlib.Close(); err != nil {
			return dst, fmt.Errorf("compress: zlib: %w", err)
		}
		out := p.sink.b
		p.sink.b = nil // do not keep the caller's buffer alive
		return out, nil
	case Zstd:
		return p.zstd.EncodeAll(page, dst), nil
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
		// Stored deflate blocks cost 5 bytes per 64 KiB, plus the zlib header,
		// checksum and the fast encoder's final block.
		return pageSize + 5*(pageSize/65535+1) + 2 + 4 + 16
	case Zstd:
		return zstdMaxCompressedLen(pageSize)
	}
	return pageSize
}

// zstdMaxCompressedLen is the zstd format's worst case (ZSTD_compressBound).
func zstdMaxCompressedLen(n int) int {
	extra := 0
	if n < 128<<10 {
		extra = ((128 << 10) - n) >> 11
	}
	return n + n>>8 + extra
}

// CompressPage appends what a kdump-compressed file stores for page, deciding as
// makedumpfile does: the page's compression when it is smaller than the page, with the
// codec's flag, else the page itself with flags 0. The descriptor then records
// len(out)-len(dst) as the size and flags as the flags. A codec error is returned (with
// dst unchanged) rather than hidden; makedumpfile would store such a page raw.
func (p *PageCompressor) CompressPage(dst, page []byte) (out []byte, flags uint32, err error) {
	n := len(dst)
	if p.codec != None {
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
