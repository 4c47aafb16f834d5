package cpio

import (
	"fmt"
	"io"
	"strings"
)

// Writer writes a newc archive: WriteHeader starts an entry, Write supplies its
// Header.Size bytes of data, Close writes the trailer. Padding is added by the Writer.
type Writer struct {
	w         io.Writer
	remaining int64 // data bytes the current entry still expects
	padding   int64 // padding owed after the current entry's data
	closed    bool
	err       error // first write error; sticky because the output is then corrupt
}

// NewWriter returns a Writer that writes an archive to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHeader finishes the previous entry (which must have received all its data)
// and writes hdr. Names are written as given: the kernel and GNU cpio both accept
// names without a leading "/", which is what initramfs images conventionally use.
func (w *Writer) WriteHeader(hdr *Header) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrWriteAfterEnd
	}
	if err := w.finishEntry(); err != nil {
		return err
	}
	if err := checkHeader(hdr); err != nil {
		return err
	}
	if err := w.writeRaw(hdr); err != nil {
		return err
	}
	w.remaining = hdr.Size
	w.padding = pad4(hdr.Size)
	return nil
}

// checkHeader refuses headers that cannot be encoded or that the kernel would reject.
func checkHeader(hdr *Header) error {
	switch {
	case hdr.Name == "":
		return fmt.Errorf("cpio: empty name")
	case strings.IndexByte(hdr.Name, 0) >= 0:
		return fmt.Errorf("cpio: name %q contains a NUL byte", hdr.Name)
	case len(hdr.Name)+1 > MaxNameSize:
		return fmt.Errorf("cpio: name of %d bytes is longer than the %d-byte limit: %.40q...", len(hdr.Name), MaxNameSize-1, hdr.Name)
	case hdr.Size < 0 || hdr.Size > maxSize:
		return fmt.Errorf("cpio: %s: size %d does not fit a newc header (0 to %d)", hdr.Name, hdr.Size, int64(maxSize))
	}
	if t := hdr.Type(); (t == TypeDir || t == TypeChar || t == TypeBlock || t == TypeFifo || t == TypeSocket) && hdr.Size != 0 {
		return fmt.Errorf("cpio: %s: a %s has no data but size is %d", hdr.Name, typeName(t), hdr.Size)
	}
	if !hdr.ModTime.IsZero() {
		if s := hdr.ModTime.Unix(); s < 0 || s > maxSize {
			return fmt.Errorf("cpio: %s: modification time %v is outside what a newc header holds (1970 to 2106)", hdr.Name, hdr.ModTime)
		}
	}
	return nil
}

func typeName(t uint32) string {
	switch t {
	case TypeDir:
		return "directory"
	case TypeChar:
		return "character device"
	case TypeBlock:
		return "block device"
	case TypeFifo:
		return "FIFO"
	case TypeSocket:
		return "socket"
	case TypeSymlink:
		return "symbolic link"
	case TypeReg:
		return "regular file"
	}
	return fmt.Sprintf("file type %#o", t)
}

// writeRaw writes the header and padded name of hdr, which checkHeader accepted.
func (w *Writer) writeRaw(hdr *Header) error {
	var mtime int64
	if !hdr.ModTime.IsZero() {
		mtime = hdr.ModTime.Unix()
	}
	nameSize := int64(len(hdr.Name) + 1)
	buf := make([]byte, 0, headerSize+nameSize+3)
	buf = append(buf, MagicNewc...)
	for _, v := range [...]uint64{
		uint64(hdr.Ino), uint64(hdr.Mode), uint64(hdr.UID), uint64(hdr.GID),
		uint64(hdr.Nlink), uint64(mtime), uint64(hdr.Size),
		uint64(hdr.DevMajor), uint64(hdr.DevMinor), uint64(hdr.RdevMajor), uint64(hdr.RdevMinor),
		uint64(nameSize), 0, // the check field is 0 in the newc format
	} {
		buf = fmt.Appendf(buf, "%08X", v)
	}
	buf = append(buf, hdr.Name...)
	buf = append(buf, 0)
	buf = append(buf, make([]byte, pad4(headerSize+nameSize))...)
	return w.write(buf)
}

// finishEntry pads the current entry's data, which must be complete.
func (w *Writer) finishEntry() error {
	if w.remaining > 0 {
		return fmt.Errorf("cpio: previous entry is missing %d bytes of data", w.remaining)
	}
	if w.padding > 0 {
		n := w.padding
		w.padding = 0
		return w.write(make([]byte, n))
	}
	return nil
}

// Write writes data of the current entry; writing more than Header.Size bytes
// returns ErrWriteTooLong after writing what fits.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrWriteAfterEnd
	}
	tooLong := false
	if int64(len(p)) > w.remaining {
		p = p[:w.remaining]
		tooLong = true
	}
	n, err := w.w.Write(p)
	w.remaining -= int64(n)
	if err != nil {
		w.err = err
		return n, err
	}
	if tooLong {
		return n, ErrWriteTooLong
	}
	return n, nil
}

// Close finishes the last entry and writes the trailer. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if err := w.finishEntry(); err != nil {
		return err
	}
	if err := w.writeRaw(&Header{Name: Trailer, Nlink: 1}); err != nil {
		return err
	}
	w.closed = true
	return nil
}

func (w *Writer) write(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		w.err = err
		return err
	}
	return nil
}
