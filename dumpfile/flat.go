package dumpfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/vmcore"
)

// makedumpfile's flattened format carries a dump through a pipe: every
// write of the dump file becomes a record {offset, size} + bytes, so that
// a writer that seeks can stream (see flat.RecordHeader).

// flatSink writes records of the flattened format. After a failed write
// the stream is out of step (a record header announces bytes that never
// came), so every later write fails too.
type flatSink struct {
	w   io.Writer
	err error
	hdr [flat.RecordHeaderLen]byte
}

func (s *flatSink) writeAt(p []byte, off int64) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	binary.BigEndian.PutUint64(s.hdr[0:], uint64(off))
	binary.BigEndian.PutUint64(s.hdr[8:], uint64(len(p)))
	if _, err := s.w.Write(s.hdr[:]); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = err
	}
	return n, err
}

func (s *flatSink) raw(p []byte) error {
	if s.err != nil {
		return s.err
	}
	_, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return err
}

// Rearrange turns a flattened stream (makedumpfile -F, or
// NewFlattenedKdumpWriter) read from src into the file it describes,
// written to dst, as `makedumpfile -R` does: each record's bytes go to its
// offset, later records overwriting earlier ones. Memory use is a fixed
// buffer whatever the stream. dst should be a new file: bytes no record
// covers are left as they are. A stream without its end record is an error.
func Rearrange(dst io.WriterAt, src io.Reader) error {
	var pos int64 // offset in the stream, for errors
	errorf := func(off int64, format string, args ...any) error {
		return &vmcore.FormatError{File: "flattened stream", Off: off, Msg: fmt.Sprintf(format, args...)}
	}
	readFull := func(p []byte, what string) error {
		n, err := io.ReadFull(src, p)
		pos += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errorf(pos, "stream ends inside %s (got %d of %d bytes)", what, n, len(p))
		}
		if err != nil {
			return fmt.Errorf("dumpfile: reading flattened stream at offset 0x%x: %w", pos, err)
		}
		return nil
	}
	buf := make([]byte, rearrangeBuf)
	start := buf[:flat.StartBlockSize]
	if err := readFull(start, "the start block"); err != nil {
		return err
	}
	sig := start[:16]
	if !bytes.Equal(bytes.TrimRight(sig, "\x00"), []byte(flat.Signature)) || bytes.IndexByte(sig, 0) != len(flat.Signature) {
		return errorf(0, "signature %q, want %q: not a flattened dump", sig, flat.Signature)
	}
	if t := int64(binary.BigEndian.Uint64(start[16:])); t != flat.Type {
		return errorf(16, "flattened type %d, want %d", t, flat.Type)
	}
	// Each pass reads at least a record header, so the loop ends with the stream.
	for {
		hdrAt := pos
		var h [flat.RecordHeaderLen]byte
		if err := readFull(h[:], "a record header (no end record)"); err != nil {
			return err
		}
		off := int64(binary.BigEndian.Uint64(h[0:]))
		size := int64(binary.BigEndian.Uint64(h[8:]))
		if off == flat.EndMarker && size == flat.EndMarker {
			return nil
		}
		if off < 0 || size <= 0 || size > math.MaxInt64-off {
			return errorf(hdrAt, "record for offset %d size %d: want a non-negative offset and a positive size", off, size)
		}
		for done := int64(0); done < size; {
			k := min(size-done, int64(len(buf)))
			if err := readFull(buf[:k], "record data"); err != nil {
				return err
			}
			if _, err := dst.WriteAt(buf[:k], off+done); err != nil {
				return fmt.Errorf("dumpfile: rearranging: writing offset 0x%x: %w", off+done, err)
			}
			done += k
		}
	}
}
