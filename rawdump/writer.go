package rawdump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/raw"
)

// ErrFull is wrapped by the error of a record refused because it does not fit the
// partition; it also matches syscall.ENOSPC, so the collector takes it as a full
// disk (and the capture retries at the next dump level, as makedumpfile does).
var ErrFull = fmt.Errorf("rawdump: the raw partition is full: %w", syscall.ENOSPC)

// checkpointEvery is how much stream is written between two checkpoints: the
// stream synced, then the header (still state writing) with the length and checksum
// so far, synced. A capture that stops leaves a header saying how much of the
// stream is its own: the partition beyond may hold an older dump's records.
var checkpointEvery int64 = 64 << 20 // a variable for the tests

// reserve is the room kept at the end of the partition once the first record is
// refused: for the collector's last records (the main header marked incomplete, the
// end record).
const reserve = 64 << 10

// Writer writes a raw dump: Begin writes the header (state writing) and syncs; the
// Writer is then the io.Writer the collector's flattened stream goes to (it must sit
// directly below a flat.Writer: it follows the records to refuse a whole record that
// does not fit, never part of one); Finish writes the final header and syncs. It
// writes only inside [0, size) of dev.
type Writer struct {
	dev  Device
	size int64
	h    raw.Header
	hash interface {
		Write([]byte) (int, error)
		Sum32() uint32
		Reset()
	}
	pos    int64 // bytes of the stream written
	synced int64 // pos at the last checkpoint
	limit  int64 // the stream may not go past this
	full   bool  // a record was refused
	ended  bool  // the end record was written
	hdr    [flat.RecordHeaderLen]byte
	nhdr   int   // bytes of hdr gathered
	data   int64 // bytes of the current record's data to come
	err    error // a write error of the device
}

// Begin checks that the device of size bytes can hold a dump, writes h with state
// Writing and syncs it. h's DeviceSize is set to size.
func Begin(dev Device, size int64, h raw.Header) (*Writer, error) {
	if size < raw.StreamOffset+flat.StartBlockSize+2*reserve {
		return nil, fmt.Errorf("rawdump: the raw partition has %d bytes: too small for a dump (at least %d)", size, raw.StreamOffset+flat.StartBlockSize+2*reserve)
	}
	h.State, h.StreamLen, h.StreamCRC, h.DeviceSize = raw.Writing, 0, 0, size
	w := &Writer{dev: dev, size: size, h: h, hash: raw.NewStreamHash()}
	w.Reset()
	if err := w.writeHeader(); err != nil {
		return nil, err
	}
	return w, nil
}

// Reset starts the stream again from its beginning (a retry at another dump level).
func (w *Writer) Reset() {
	w.pos, w.synced, w.full, w.ended, w.nhdr, w.data, w.err = 0, 0, false, false, 0, 0, nil
	w.limit = w.size - raw.StreamOffset - reserve
	w.hash.Reset()
}

func (w *Writer) writeHeader() error {
	if _, err := w.dev.WriteAt(w.h.Encode(), 0); err != nil {
		return fmt.Errorf("rawdump: writing the header: %w", err)
	}
	if err := w.dev.Sync(); err != nil {
		return fmt.Errorf("rawdump: syncing the header: %w", err)
	}
	return nil
}

// Write appends p to the stream. A record (header and data) that would go past the
// limit is refused whole, before any of it is written, with ErrFull; from then on
// the kept room at the end takes the records that still fit.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	need := int64(len(p))
	if w.pos >= flat.StartBlockSize && w.nhdr == 0 && w.data == 0 && len(p) >= flat.RecordHeaderLen {
		off := int64(binary.BigEndian.Uint64(p[0:]))
		size := int64(binary.BigEndian.Uint64(p[8:]))
		if off != flat.EndMarker && size > 0 {
			need = flat.RecordHeaderLen + size
		}
	}
	if w.pos+need > w.limit {
		// From now on the kept room takes what fits: the collector, told the
		// partition is full, only marks the dump incomplete and ends the stream.
		w.full, w.limit = true, w.size-raw.StreamOffset
		return 0, ErrFull
	}
	n, err := w.dev.WriteAt(p, raw.StreamOffset+w.pos)
	w.hash.Write(p[:n])
	w.follow(p[:n])
	w.pos += int64(n)
	if err == nil && n < len(p) {
		err = errors.New("rawdump: short write to the raw partition")
	}
	if err != nil {
		w.err = fmt.Errorf("rawdump: writing the stream at partition offset %d: %w", raw.StreamOffset+w.pos, err)
		return n, w.err
	}
	if w.pos-w.synced >= checkpointEvery {
		if err := w.checkpoint(); err != nil {
			w.err = err
			return n, err
		}
	}
	return n, nil
}

// checkpoint syncs the stream and records its length and checksum so far in the
// header, state still writing.
func (w *Writer) checkpoint() error {
	if err := w.dev.Sync(); err != nil {
		return fmt.Errorf("rawdump: syncing the stream: %w", err)
	}
	w.h.StreamLen, w.h.StreamCRC = w.pos, w.hash.Sum32()
	w.synced = w.pos
	return w.writeHeader()
}

// follow tracks the record boundaries through the bytes written.
func (w *Writer) follow(p []byte) {
	pos := w.pos
	if pos < flat.StartBlockSize {
		k := min(int64(len(p)), flat.StartBlockSize-pos)
		p, pos = p[k:], pos+k
	}
	for len(p) > 0 {
		if w.data > 0 {
			k := min(int64(len(p)), w.data)
			p, w.data = p[k:], w.data-k
			continue
		}
		k := copy(w.hdr[w.nhdr:], p)
		p, w.nhdr = p[k:], w.nhdr+k
		if w.nhdr < len(w.hdr) {
			return
		}
		w.nhdr = 0
		off := int64(binary.BigEndian.Uint64(w.hdr[0:]))
		size := int64(binary.BigEndian.Uint64(w.hdr[8:]))
		if off == flat.EndMarker && size == flat.EndMarker {
			w.ended = true
			continue
		}
		w.data = max(size, 0)
	}
}

// Full reports whether a record was refused for want of room.
func (w *Writer) Full() bool { return w.full }

// Ended reports whether the stream's end record was written.
func (w *Writer) Ended() bool { return w.ended }

// Len is the bytes of stream written.
func (w *Writer) Len() int64 { return w.pos }

// Finish syncs the stream and writes the final header: Complete when complete is
// true and the stream ended, else Incomplete, with the stream's length and
// checksum, synced. It returns the header written.
func (w *Writer) Finish(complete bool) (*raw.Header, error) {
	if err := w.dev.Sync(); err != nil {
		return nil, fmt.Errorf("rawdump: syncing the stream: %w", err)
	}
	w.h.State = raw.Incomplete
	if complete && w.ended && w.err == nil {
		w.h.State = raw.Complete
	}
	w.h.StreamLen, w.h.StreamCRC = w.pos, w.hash.Sum32()
	if err := w.writeHeader(); err != nil {
		return nil, err
	}
	h := w.h
	return &h, nil
}
