package flat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrTruncated is matched (with errors.Is) by the *FormatError of a stream
// that ends before its end record: a broken pipe, a dump cut short. A reader
// of a file may take what came as an incomplete dump; a rearranger refuses it.
var ErrTruncated = errors.New("flat: stream ends before its end record")

// FormatError reports a flattened stream that is not well formed. Off is the
// stream offset of the bad data (for a truncated stream, where it ends).
type FormatError struct {
	Off int64
	Msg string // what was found and what was expected
	Err error  // ErrTruncated when the stream ends too soon, else nil
}

func (e *FormatError) Error() string { return fmt.Sprintf("flat: offset 0x%x: %s", e.Off, e.Msg) }

// Unwrap returns ErrTruncated or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// IsSignature reports whether b starts with the start block's signature:
// "makedumpfile" NUL padded to 16 bytes, as makedumpfile writes it.
func IsSignature(b []byte) bool {
	return len(b) >= 16 && bytes.Equal(b[:16], []byte(Signature+"\x00\x00\x00\x00"))
}

// Reader reads the records of a flattened stream in stream order, as
// archive/tar's Reader reads entries: Next gives each record's header, Read
// its data. Data not read is skipped, with Seek when the source can (an
// io.SectionReader over a file), so indexing a file reads only the headers.
type Reader struct {
	r    io.Reader
	pos  int64 // stream offset of the next byte of r
	left int64 // bytes of the current record's data not read yet
	size int64 // of the current record
	err  error // sticky: the first error, or io.EOF after the end record
}

// NewReader reads and checks the start block of a flattened stream: the
// signature and the type (the version is not checked, as makedumpfile does
// not).
func NewReader(r io.Reader) (*Reader, error) {
	fr := &Reader{r: r}
	var start [StartBlockSize]byte
	if err := fr.readFull(start[:], "the start block"); err != nil {
		return nil, err
	}
	if !IsSignature(start[:]) {
		return nil, &FormatError{Off: 0, Msg: fmt.Sprintf("signature %q, want %q: not a flattened dump", start[:16], Signature)}
	}
	if t := int64(binary.BigEndian.Uint64(start[16:])); t != Type {
		return nil, &FormatError{Off: 16, Msg: fmt.Sprintf("flattened type %d, want %d", t, Type)}
	}
	return fr, nil
}

// readFull reads len(p) bytes of the stream; a stream that ends inside is a
// FormatError wrapping ErrTruncated.
func (fr *Reader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(fr.r, p)
	fr.pos += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FormatError{Off: fr.pos, Msg: fmt.Sprintf("stream ends inside %s (got %d of %d bytes)", what, n, len(p)), Err: ErrTruncated}
	}
	if err != nil {
		return fmt.Errorf("flat: reading the stream at offset 0x%x: %w", fr.pos, err)
	}
	return nil
}

// Next skips what is left of the current record and reads the next record's
// header. It returns io.EOF after the end record. A record must have a
// non-negative offset and a positive size whose sum fits an int64.
func (fr *Reader) Next() (RecordHeader, error) {
	if fr.err != nil {
		return RecordHeader{}, fr.err
	}
	if fr.left > 0 {
		if err := fr.skip(fr.left); err != nil {
			fr.err = err
			return RecordHeader{}, err
		}
		fr.left = 0
	}
	at := fr.pos
	var b [RecordHeaderLen]byte
	if err := fr.readFull(b[:], "a record header (no end record)"); err != nil {
		fr.err = err
		return RecordHeader{}, err
	}
	h := RecordHeader{Offset: int64(binary.BigEndian.Uint64(b[0:])), Size: int64(binary.BigEndian.Uint64(b[8:]))}
	if h.Offset == EndMarker && h.Size == EndMarker {
		fr.err = io.EOF
		return RecordHeader{}, io.EOF
	}
	if h.Offset < 0 || h.Size <= 0 || h.Size > math.MaxInt64-h.Offset {
		fr.err = &FormatError{Off: at, Msg: fmt.Sprintf("flattened record for offset %d size %d: want a non-negative offset and a positive size", h.Offset, h.Size)}
		return RecordHeader{}, fr.err
	}
	fr.left, fr.size = h.Size, h.Size
	return h, nil
}

// skip moves n bytes on in the stream, seeking when the source can.
func (fr *Reader) skip(n int64) error {
	if s, ok := fr.r.(io.Seeker); ok {
		if _, err := s.Seek(n, io.SeekCurrent); err != nil {
			return fmt.Errorf("flat: skipping record data at offset 0x%x: %w", fr.pos, err)
		}
		fr.pos += n
		return nil
	}
	k, err := io.CopyN(io.Discard, fr.r, n)
	fr.pos += k
	if err == io.EOF {
		return &FormatError{Off: fr.pos, Msg: fmt.Sprintf("stream ends inside record data (got %d of %d bytes)", fr.size-n+k, fr.size), Err: ErrTruncated}
	}
	if err != nil {
		return fmt.Errorf("flat: reading the stream at offset 0x%x: %w", fr.pos, err)
	}
	return nil
}

// Pos returns the stream offset of the next byte Read returns: right after
// Next, where the record's data starts.
func (fr *Reader) Pos() int64 { return fr.pos }

// Read reads the current record's data; it returns io.EOF at its end, and a
// FormatError wrapping ErrTruncated when the stream ends inside it.
func (fr *Reader) Read(p []byte) (int, error) {
	if fr.err != nil {
		return 0, fr.err
	}
	if fr.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > fr.left {
		p = p[:fr.left]
	}
	n, err := fr.r.Read(p)
	fr.pos += int64(n)
	fr.left -= int64(n)
	if err == io.EOF && fr.left > 0 {
		err = &FormatError{Off: fr.pos, Msg: fmt.Sprintf("stream ends inside record data (got %d of %d bytes)", fr.size-fr.left, fr.size), Err: ErrTruncated}
		fr.err = err
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}
