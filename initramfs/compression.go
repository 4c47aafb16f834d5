package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how an image is compressed. The kernel unpacks gzip and zstd
// initramfs images when built with CONFIG_RD_GZIP / CONFIG_RD_ZSTD (Debian's and
// Fedora's kernels have both).
type Compression int

const (
	None Compression = iota // a plain newc archive
	Gzip                    // gzip (RFC 1952), the format every kernel accepts
	Zstd                    // zstd, smaller and faster to unpack; kernel 5.9 and later
)

// ZstdWindowSize is the zstd window of the images we write. The kernel's unpacker
// allocates a buffer of the window size; the capture kernel has little memory
// (often 128-256 MiB in all), so a 1 MiB window is used instead of the library's
// 8 MiB default at a small cost in size.
const ZstdWindowSize = 1 << 20

func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// ParseCompression parses the names String returns ("none", "gzip", "zstd").
func ParseCompression(s string) (Compression, error) {
	for _, c := range []Compression{None, Gzip, Zstd} {
		if s == c.String() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("initramfs: unknown compression %q (want none, gzip or zstd)", s)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// newWriter returns a writer compressing with c into w; Close ends the stream
// without closing w.
func (c Compression) newWriter(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopCloser{w}, nil
	case Gzip:
		// The header carries no name and a zero time, so output depends only on input.
		zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		return zw, nil
	case Zstd:
		zw, err := zstd.NewWriter(w,
			zstd.WithWindowSize(ZstdWindowSize),
			zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			// One goroutine: deterministic output, and this runs on small machines.
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		return zw, nil
	}
	return nil, fmt.Errorf("initramfs: unknown compression %d", int(c))
}

// Magic numbers that start a compressed stream.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// NewReader returns the uncompressed archive stream of an image (close it to free
// the decompressor), detecting the
// compression from its first bytes (a newc archive starts with "070701"). It reads
// only the first compressed stream; images that concatenate several archives (an
// early microcode archive before the main one) are not split.
func NewReader(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(6)
	if err != nil && len(head) == 0 {
		return nil, None, fmt.Errorf("initramfs: reading the image's first bytes: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, Gzip, fmt.Errorf("initramfs: gzip image: %w", err)
		}
		zr.Multistream(false)
		return zr, Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		// The decoder refuses windows over 128 MiB (what the kernel accepts) and
		// bounds its memory accordingly.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, Zstd, fmt.Errorf("initramfs: zstd image: %w", err)
		}
		return zr.IOReadCloser(), Zstd, nil
	case bytes.HasPrefix(head, []byte("070701")) || bytes.HasPrefix(head, []byte("070702")):
		return io.NopCloser(br), None, nil
	}
	return nil, None, fmt.Errorf("initramfs: image starts with % x: neither a newc archive nor gzip or zstd", head)
}
