package raw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
)

// The layout, written down once for the writer and the reader.
const (
	Magic        = "GOKDRAW\x00" // at offset 0
	Version      = 1
	HeaderSize   = 512  // the header record, its checksum in the last 4 bytes
	HeaderBlock  = 4096 // the header's block: the rest is zero
	StreamOffset = 4096 // where the flattened stream starts on the device
	nameLen      = 65   // as struct new_utsname's fields
)

// State says where a raw dump is in its life.
type State uint32

const (
	// Writing: the capture kernel started writing and did not finish (it stopped,
	// or the machine lost power): the stream's length is not recorded.
	Writing State = 1
	// Complete: the whole stream is there, StreamLen bytes, checksum StreamCRC.
	Complete State = 2
	// Incomplete: the dump did not fit (or could not be finished); the stream holds
	// what was written, a readable dump marked incomplete.
	Incomplete State = 3
	// Saved: the dump was converted to a dump directory on a later boot.
	Saved State = 4
)

func (s State) String() string {
	switch s {
	case Writing:
		return "writing"
	case Complete:
		return "complete"
	case Incomplete:
		return "incomplete"
	case Saved:
		return "saved"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Fresh reports whether the header marks a dump not converted yet.
func (s State) Fresh() bool { return s == Writing || s == Complete || s == Incomplete }

// diskHeader is the header as it is on the device, little-endian, HeaderSize bytes
// with CRC (CRC-32C of the bytes before it) last.
type diskHeader struct {
	Magic        [8]byte       // 0: Magic
	Version      uint32        // 8
	State        uint32        // 12
	StreamOffset uint64        // 16: StreamOffset
	StreamLen    uint64        // 24: bytes of the stream (0 while Writing)
	StreamCRC    uint32        // 32: CRC-32C of the stream's StreamLen bytes
	_            uint32        // 36
	DeviceSize   uint64        // 40: the partition's size when the capture wrote it
	CrashTime    int64         // 48: the crashed kernel's crash time, Unix seconds (0: unknown)
	WriteTime    int64         // 56: when the capture started writing, Unix seconds
	SavedTime    int64         // 64: when it was converted (state Saved), Unix seconds
	Release      [nameLen]byte // 72: the crashed kernel's release, NUL padded
	Host         [nameLen]byte // 137: its node name, NUL padded
	_            [HeaderSize - 206]byte
	CRC          uint32 // 508
}

// Offsets of fields in the encoded header (for error messages and tests).
const (
	offVersion   = 8
	offState     = 12
	offStreamOff = 16
	offStreamLen = 24
	offDevSize   = 40
	offRelease   = 72
	offHost      = 137
	offCRC       = HeaderSize - 4
)

// Header is a raw dump's header, decoded.
type Header struct {
	State      State
	StreamLen  int64  // bytes of the stream
	StreamCRC  uint32 // CRC-32C of them
	DeviceSize int64  // the partition's size when written
	CrashTime  time.Time
	WriteTime  time.Time
	SavedTime  time.Time
	Release    string // the crashed kernel's release
	Host       string // its node name
}

// castagnoli is the CRC-32C table (hardware-accelerated on x86_64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// NewStreamHash returns the checksum the stream is summed with: CRC-32C.
func NewStreamHash() interface {
	Write([]byte) (int, error)
	Sum32() uint32
	Reset()
} {
	return crc32.New(castagnoli)
}

// FormatError reports a header that is not well formed: Off is the byte offset of
// the bad field from the start of the device.
type FormatError struct {
	Off int64
	Msg string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("raw dump header: offset %d: %s", e.Off, e.Msg)
}

// ErrNoHeader is wrapped by DecodeHeader's error when the block does not start with
// Magic: no raw dump was ever written there.
var ErrNoHeader = errors.New("raw: no raw dump header (magic missing)")

// Encode returns the header's block, HeaderBlock bytes, checksum included.
func (h *Header) Encode() []byte {
	d := diskHeader{
		Version:      Version,
		State:        uint32(h.State),
		StreamOffset: StreamOffset,
		StreamLen:    uint64(h.StreamLen),
		StreamCRC:    h.StreamCRC,
		DeviceSize:   uint64(h.DeviceSize),
		CrashTime:    unix(h.CrashTime),
		WriteTime:    unix(h.WriteTime),
		SavedTime:    unix(h.SavedTime),
	}
	copy(d.Magic[:], Magic)
	putName(d.Release[:], h.Release)
	putName(d.Host[:], h.Host)
	b := make([]byte, HeaderBlock)
	if _, err := binary.Encode(b, binary.LittleEndian, &d); err != nil {
		panic("raw: encoding the header: " + err.Error()) // a fixed-size struct into a larger buffer
	}
	binary.LittleEndian.PutUint32(b[offCRC:], crc32.Checksum(b[:offCRC], castagnoli))
	return b
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// putName copies s, cut to nameLen-1 bytes, NUL padded, with bytes that are not
// printable ASCII as '?' (DecodeHeader refuses them).
func putName(dst []byte, s string) {
	for i := 0; i < len(s) && i < len(dst)-1; i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			c = '?'
		}
		dst[i] = c
	}
}

// DecodeHeader reads the header at the start of b (at least HeaderSize bytes) of a
// device of devSize bytes (0: unknown, not checked). A block without the magic is
// ErrNoHeader; any other problem is a *FormatError.
func DecodeHeader(b []byte, devSize int64) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, &FormatError{Off: int64(len(b)), Msg: fmt.Sprintf("short header: %d of %d bytes", len(b), HeaderSize)}
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: found %q", ErrNoHeader, b[:len(Magic)])
	}
	if got, want := binary.LittleEndian.Uint32(b[offCRC:]), crc32.Checksum(b[:offCRC], castagnoli); got != want {
		return nil, &FormatError{Off: offCRC, Msg: fmt.Sprintf("header checksum 0x%08x, want 0x%08x: the header is damaged", got, want)}
	}
	var d diskHeader
	if _, err := binary.Decode(b[:HeaderSize], binary.LittleEndian, &d); err != nil {
		return nil, &FormatError{Off: 0, Msg: err.Error()}
	}
	if d.Version != Version {
		return nil, &FormatError{Off: offVersion, Msg: fmt.Sprintf("version %d, want %d", d.Version, Version)}
	}
	h := &Header{
		State:     State(d.State),
		StreamCRC: d.StreamCRC,
		CrashTime: fromUnix(d.CrashTime),
		WriteTime: fromUnix(d.WriteTime),
		SavedTime: fromUnix(d.SavedTime),
		Release:   name(d.Release[:]),
		Host:      name(d.Host[:]),
	}
	switch h.State {
	case Writing, Complete, Incomplete, Saved:
	default:
		return nil, &FormatError{Off: offState, Msg: fmt.Sprintf("state %d, want 1 to 4", d.State)}
	}
	if d.StreamOffset != StreamOffset {
		return nil, &FormatError{Off: offStreamOff, Msg: fmt.Sprintf("stream offset %d, want %d", d.StreamOffset, StreamOffset)}
	}
	const maxSize = 1 << 62
	if d.DeviceSize > maxSize || d.StreamLen > maxSize || d.StreamLen > d.DeviceSize-min(d.DeviceSize, StreamOffset) {
		return nil, &FormatError{Off: offStreamLen, Msg: fmt.Sprintf("stream of %d bytes does not fit a %d-byte device after offset %d", d.StreamLen, d.DeviceSize, StreamOffset)}
	}
	if devSize > 0 && int64(d.DeviceSize) > devSize {
		return nil, &FormatError{Off: offDevSize, Msg: fmt.Sprintf("written to a %d-byte device, this one has %d bytes", d.DeviceSize, devSize)}
	}
	h.StreamLen, h.DeviceSize = int64(d.StreamLen), int64(d.DeviceSize)
	for _, f := range []struct {
		off int64
		s   string
	}{{offRelease, h.Release}, {offHost, h.Host}} {
		if !printable(f.s) {
			return nil, &FormatError{Off: f.off, Msg: fmt.Sprintf("name %q is not printable text", f.s)}
		}
	}
	return h, nil
}

// name is a NUL-padded field's text.
func name(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
