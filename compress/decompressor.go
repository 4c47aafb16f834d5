package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gokdump/gokdump/compress/lzo"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// maxPageSize bounds the page sizes Decompress accepts: the largest base page of any
// architecture kdump supports (64 KiB on arm64, ppc64 and others) with room to spare.
// It also bounds the zstd decoder's window, so a corrupt frame cannot make it allocate.
const maxPageSize = 1 << 20

// PageDecompressor decodes pages compressed with one codec, keeping the decoder's state
// between pages. It is not safe for concurrent use: give each goroutine its own.
type PageDecompressor struct {
	codec Codec
	input bytes.Reader
	zlib  io.ReadCloser // a zlib reader on input, made on first use
	zstd  *zstd.Decoder
	probe [1]byte // a read past the page's end; a field, as a local would escape
}

// NewPageDecompressor returns a decompressor for codec. Decompressing with None checks
// the size and copies.
func NewPageDecompressor(codec Codec) (*PageDecompressor, error) {
	d := &PageDecompressor{codec: codec}
	switch codec {
	case None, Zlib, LZO, Snappy:
	case Zstd:
		var err error
		d.zstd, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxPageSize),
			zstd.WithDecoderMaxWindow(maxPageSize),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return nil, fmt.Errorf("compress: zstd: %w", err)
		}
	default:
		return nil, unknownCodec(codec)
	}
	return d, nil
}

// Codec returns the decompressor's codec.
func (d *PageDecompressor) Codec() Codec { return d.codec }

// Decompress appends the page that src decodes to and returns the extended buffer. src
// must decode to exactly pageSize bytes (as makedumpfile requires), else the error wraps
// ErrPageSize; corrupt data gives an error, never a panic, and never more than pageSize
// bytes are produced. The error does not know where src came from: the caller adds the
// file offset.
func (d *PageDecompressor) Decompress(dst, src []byte, pageSize int) ([]byte, error) {
	if pageSize <= 0 || pageSize > maxPageSize {
		return dst, fmt.Errorf("compress: page size %d out of range 1..%d", pageSize, maxPageSize)
	}
	n := len(dst)
	switch d.codec {
	case None:
		if len(src) != pageSize {
			return dst, d.sizeError(len(src), pageSize)
		}
		return append(dst, src...), nil
	case LZO:
		out, err := lzo.Decompress(dst, src, pageSize)
		if errors.Is(err, lzo.ErrOutputLimit) {
			return dst, fmt.Errorf("%w: %w", ErrPageSize, err)
		}
		if err != nil {
			return dst, fmt.Errorf("compress: lzo page: %w", err)
		}
		if len(out)-n != pageSize {
			return dst, d.sizeError(len(out)-n, pageSize)
		}
		return out, nil
	case Snappy:
		size, err := snappy.DecodedLen(src)
		if err != nil {
			return dst, fmt.Errorf("compress: snappy page: %w", err)
		}
		if size != pageSize {
			return dst, d.sizeError(size, pageSize)
		}
		dst = slices.Grow(dst, pageSize)
		// DecodeStrict rejects what C snappy rejects (such as s2's repeat copies) and
		// writes into the room given when it is large enough.
		out, err := snappy.DecodeStrict(dst[n:n+pageSize], src)
		if err != nil {
			return dst, fmt.Errorf("compress: snappy page: %w", err)
		}
		if len(out) != pageSize {
			return dst, d.sizeError(len(out), pageSize)
		}
		return dst[:n+pageSize], nil
	case Zlib:
		return d.zlibPage(dst, src, pageSize)
	case Zstd:
		dst = slices.Grow(dst, pageSize)
		// With the capacity limit the decoder stops at pageSize bytes.
		out, err := d.zstd.DecodeAll(src, dst[:n:n+pageSize])
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return dst, d.sizeError(pageSize+1, pageSize)
		}
		if err != nil {
			return dst, fmt.Errorf("compress: zstd page: %w", err)
		}
		if len(out)-n != pageSize {
			return dst, d.sizeError(len(out)-n, pageSize)
		}
		return dst[:n+pageSize], nil
	}
	return dst, unknownCodec(d.codec)
}

func (d *PageDecompressor) zlibPage(dst, src []byte, pageSize int) ([]byte, error) {
	d.input.Reset(src)
	if d.zlib == nil {
		r, err := zlib.NewReader(&d.input)
		if err != nil {
			return dst, fmt.Errorf("compress: zlib page: %w", err)
		}
		d.zlib = r
	} else if err := d.zlib.(zlib.Resetter).Reset(&d.input, nil); err != nil {
		return dst, fmt.Errorf("compress: zlib page: %w", err)
	}
	n := len(dst)
	dst = slices.Grow(dst, pageSize)
	got, err := io.ReadFull(d.zlib, dst[n:n+pageSize])
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return dst[:n], d.sizeError(got, pageSize)
	}
	if err != nil {
		return dst[:n], fmt.Errorf("compress: zlib page: %w", err)
	}
	// The stream must end here: reading on checks the Adler-32 checksum and finds
	// data beyond the page.
	switch extra, err := d.zlib.Read(d.probe[:]); {
	case extra > 0:
		return dst[:n], d.sizeError(pageSize+1, pageSize)
	case err != io.EOF:
		if err == nil {
			err = io.ErrNoProgress
		}
		return dst[:n], fmt.Errorf("compress: zlib page: %w", err)
	}
	if d.input.Len() != 0 {
		return dst[:n], fmt.Errorf("compress: zlib page: %d bytes after the end of the zlib stream", d.input.Len())
	}
	return dst[:n+pageSize], nil
}

func (d *PageDecompressor) sizeError(got, want int) error {
	if got > want {
		return fmt.Errorf("%w: %s data decodes to more than %d bytes", ErrPageSize, d.codec, want)
	}
	return fmt.Errorf("%w: %s data decodes to %d bytes, want %d", ErrPageSize, d.codec, got, want)
}
