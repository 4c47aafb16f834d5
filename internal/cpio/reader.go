package cpio

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// Reader reads a newc (or "070702") archive entry by entry. Next returns the next
// header; Read then returns that entry's data. The data is streamed from the
// underlying reader, so a size field from the input never drives an allocation.
type Reader struct {
	r         io.Reader
	off       int64  // bytes consumed from r
	remaining int64  // unread data bytes of the current entry
	padding   int64  // padding after the current entry's data
	entryOff  int64  // offset of the current entry's header, for error messages
	entryName string // name of the current entry, for error messages
	done      bool   // trailer seen
	err       error  // sticky error
}

// NewReader returns a Reader that reads an archive from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Offset returns the number of bytes consumed from the underlying reader so far.
func (r *Reader) Offset() int64 { return r.off }

// Next skips the rest of the current entry and returns the next header. At the
// trailer it returns io.EOF. Input that ends elsewhere is an error wrapping
// io.ErrUnexpectedEOF; malformed headers are *FormatError.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.done {
		return nil, io.EOF
	}
	hdr, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return hdr, nil
}

func (r *Reader) next() (*Header, error) {
	if err := r.skip(r.remaining+r.padding, r.dataWhat()); err != nil {
		return nil, err
	}
	r.remaining, r.padding = 0, 0

	start := r.off
	var raw [headerSize]byte
	if err := r.readFull(raw[:], "an entry header (no TRAILER!!! entry before the end)"); err != nil {
		return nil, err
	}
	magic := string(raw[:6])
	if magic != MagicNewc && magic != MagicCRC {
		return nil, &FormatError{Off: start, Msg: "bad magic, want 070701 (newc)", Val: printable(raw[:6])}
	}
	var f [13]uint32
	for i := range f {
		pos := 6 + 8*i
		v, ok := parseHex8(raw[pos : pos+8])
		if !ok {
			return nil, &FormatError{Off: start + int64(pos), Msg: "header field " + fieldNames[i] + " is not 8 hexadecimal digits", Val: printable(raw[pos : pos+8])}
		}
		f[i] = v
	}
	nameSize := int64(f[11])
	if nameSize == 0 || nameSize > MaxNameSize {
		return nil, &FormatError{Off: start + 6 + 8*11, Msg: "name size out of range (1 to 4096 bytes including the NUL)", Val: nameSize}
	}
	nameOff := r.off
	name := make([]byte, nameSize+pad4(headerSize+nameSize))
	if err := r.readFull(name, fmt.Sprintf("the %d-byte name of the entry at offset %#x", nameSize, start)); err != nil {
		return nil, err
	}
	name = name[:nameSize]
	if name[nameSize-1] != 0 {
		return nil, &FormatError{Off: nameOff + nameSize - 1, Msg: "name is not NUL-terminated"}
	}
	name = name[:nameSize-1]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		return nil, &FormatError{Off: nameOff + int64(i), Msg: "name contains a NUL byte before its end"}
	}
	hdr := &Header{
		Name:      string(name),
		Ino:       f[0],
		Mode:      f[1],
		UID:       f[2],
		GID:       f[3],
		Nlink:     f[4],
		Size:      int64(f[6]),
		DevMajor:  f[7],
		DevMinor:  f[8],
		RdevMajor: f[9],
		RdevMinor: f[10],
		Check:     f[12],
	}
	if f[5] != 0 {
		hdr.ModTime = time.Unix(int64(f[5]), 0)
	}
	if hdr.Name == Trailer {
		r.done = true
		return nil, io.EOF
	}
	r.remaining = hdr.Size
	r.padding = pad4(hdr.Size)
	r.entryOff = start
	r.entryName = hdr.Name
	return hdr, nil
}

var fieldNames = [13]string{"ino", "mode", "uid", "gid", "nlink", "mtime", "filesize",
	"devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"}

// Read reads data of the current entry; it returns io.EOF at the entry's end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.remaining -= int64(n)
	if err == io.EOF && r.remaining > 0 {
		err = r.truncated(r.dataWhat(), r.remaining)
		r.err = err
	} else if err == io.EOF {
		err = nil
	} else if err != nil {
		r.err = err
	}
	return n, err
}

// readFull reads len(b) bytes, reporting a short input as truncation at what.
func (r *Reader) readFull(b []byte, what string) error {
	n, err := io.ReadFull(r.r, b)
	r.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.truncated(what, int64(len(b)-n))
	}
	return err
}

// skip discards n bytes in bounded chunks.
func (r *Reader) skip(n int64, what string) error {
	if n == 0 {
		return nil
	}
	got, err := io.CopyN(io.Discard, r.r, n)
	r.off += got
	if err == io.EOF {
		return r.truncated(what, n-got)
	}
	return err
}

func (r *Reader) dataWhat() string {
	return fmt.Sprintf("the data of %q (entry at offset %#x)", r.entryName, r.entryOff)
}

func (r *Reader) truncated(what string, missing int64) error {
	return &TruncatedError{Off: r.off, What: what, Missing: missing}
}

// TruncatedError reports input that ends inside an entry. It matches
// io.ErrUnexpectedEOF with errors.Is.
type TruncatedError struct {
	Off     int64  // offset where the input ended
	What    string // the part being read
	Missing int64  // bytes that were still expected
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("cpio: input ends at offset %#x inside %s (%d more bytes expected)", e.Off, e.What, e.Missing)
}

// Is makes errors.Is(err, io.ErrUnexpectedEOF) true.
func (e *TruncatedError) Is(target error) bool { return target == io.ErrUnexpectedEOF }

func parseHex8(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint32(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | uint32(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// printable quotes raw bytes for an error message.
func printable(b []byte) string {
	return string(bytes.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, b))
}
