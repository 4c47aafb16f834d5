package flat

import (
	"encoding/binary"
	"io"
	"math"
)

// Writer writes a flattened stream: the start block, then each WriteAt as a
// record, then (Close) the end record, so that a writer that seeks can
// stream to a pipe. After a failed write the stream is out of step (a record
// header announces bytes that never came), so every later write fails too;
// but a record or end record refused whole (its header not written at all,
// as a bounded device refuses what does not fit) leaves it in step, and a
// later, smaller record may still be written.
type Writer struct {
	w       io.Writer
	started bool
	err     error
	hdr     [RecordHeaderLen]byte
}

// NewWriter returns a Writer of a flattened stream to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Start writes the start block, if it has not been written yet.
func (w *Writer) Start() error {
	if w.started {
		return w.err
	}
	w.started = true
	var b [StartBlockSize]byte
	copy(b[:], Signature)
	binary.BigEndian.PutUint64(b[16:], Type)
	binary.BigEndian.PutUint64(b[24:], Version)
	return w.raw(b[:])
}

// WriteAt writes p as a record of the bytes at offset off of the file the
// stream describes (after the start block, when that is not written yet).
// An empty p writes nothing: a record has a positive size.
func (w *Writer) WriteAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, w.err
	}
	if err := w.Start(); err != nil {
		return 0, err
	}
	binary.BigEndian.PutUint64(w.hdr[0:], uint64(off))
	binary.BigEndian.PutUint64(w.hdr[8:], uint64(len(p)))
	if err := w.header(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return n, err
}

// Close writes the end record (after the start block, when that is not
// written yet). It does not close the underlying writer.
func (w *Writer) Close() error {
	if err := w.Start(); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(w.hdr[0:], math.MaxUint64) // EndMarker, -1 as a big-endian int64
	binary.BigEndian.PutUint64(w.hdr[8:], math.MaxUint64)
	return w.header()
}

// header writes w.hdr; when nothing of it was written the error is not sticky.
func (w *Writer) header() error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(w.hdr[:])
	if err == nil && n < len(w.hdr) {
		err = io.ErrShortWrite
	}
	if err != nil && n > 0 {
		w.err = err
	}
	return err
}

func (w *Writer) raw(p []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}
