package raw_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz")

var testHeader = raw.Header{
	State:      raw.Complete,
	StreamLen:  123456,
	StreamCRC:  0xdeadbeef,
	DeviceSize: 64 << 20,
	CrashTime:  time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC),
	WriteTime:  time.Date(2026, 12, 7, 1, 2, 9, 0, time.UTC),
	Release:    "6.1.0-31-amd64",
	Host:       "crashbox",
}

func TestRoundTrip(t *testing.T) {
	for _, st := range []raw.State{raw.Writing, raw.Complete, raw.Incomplete, raw.Saved} {
		h := testHeader
		h.State = st
		if st == raw.Saved {
			h.SavedTime = time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
		}
		b := h.Encode()
		if len(b) != raw.HeaderBlock || !bytes.Equal(b[raw.HeaderSize:], make([]byte, raw.HeaderBlock-raw.HeaderSize)) {
			t.Fatalf("%s: block of %d bytes, want %d with zeros after the header", st, len(b), raw.HeaderBlock)
		}
		got, err := raw.DecodeHeader(b, h.DeviceSize)
		if err != nil {
			t.Fatal(err)
		}
		if *got != h {
			t.Errorf("%s: decoded %+v, want %+v", st, *got, h)
		}
	}
	// Names are cut to 64 bytes and unprintable bytes replaced, so they decode.
	h := testHeader
	h.Host = strings.Repeat("h", 70) + "\n"
	got, err := raw.DecodeHeader(h.Encode(), 0)
	if err != nil || got.Host != strings.Repeat("h", 64) {
		t.Errorf("long host: %q, %v", got.Host, err)
	}
	h.Release = "a\x01b"
	if got, err := raw.DecodeHeader(h.Encode(), 0); err != nil || got.Release != "a?b" {
		t.Errorf("unprintable release: %+v, %v", got, err)
	}
	if !raw.Writing.Fresh() || !raw.Incomplete.Fresh() || raw.Saved.Fresh() {
		t.Error("Fresh: want writing, complete and incomplete, not saved")
	}
}

// layout pins the offsets the header's comment documents.
func TestLayout(t *testing.T) {
	b := testHeader.Encode()
	le := binary.LittleEndian
	if string(b[:8]) != raw.Magic || le.Uint32(b[8:]) != raw.Version || le.Uint32(b[12:]) != uint32(raw.Complete) ||
		le.Uint64(b[16:]) != raw.StreamOffset || le.Uint64(b[24:]) != 123456 || le.Uint32(b[32:]) != 0xdeadbeef ||
		le.Uint64(b[40:]) != 64<<20 || int64(le.Uint64(b[48:])) != testHeader.CrashTime.Unix() ||
		string(b[72:72+14]) != "6.1.0-31-amd64" || string(b[137:137+8]) != "crashbox" ||
		le.Uint32(b[508:]) != crc32.Checksum(b[:508], crc32.MakeTable(crc32.Castagnoli)) {
		t.Errorf("header bytes do not follow the documented layout:\n% x", b[:raw.HeaderSize])
	}
}

// reseal fixes the header checksum after a change, so the field check is reached.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[508:], crc32.Checksum(b[:508], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestDecodeErrors(t *testing.T) {
	good := testHeader.Encode()
	mod := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	if _, err := raw.DecodeHeader(make([]byte, raw.HeaderBlock), 0); !errors.Is(err, raw.ErrNoHeader) {
		t.Errorf("zeros: %v, want ErrNoHeader", err)
	}
	for _, c := range []struct {
		name    string
		b       []byte
		devSize int64
		off     int64
		msg     string
	}{
		{"short", good[:100], 0, 100, "short header"},
		{"checksum", mod(func(b []byte) { b[200]++ }), 0, 508, "header checksum"},
		{"version", reseal(mod(func(b []byte) { b[8] = 9 })), 0, 8, "version 9"},
		{"state", reseal(mod(func(b []byte) { b[12] = 7 })), 0, 12, "state 7"},
		{"stream offset", reseal(mod(func(b []byte) { b[17] = 0x20 })), 0, 16, "stream offset"},
		{"stream too long", reseal(mod(func(b []byte) { binary.LittleEndian.PutUint64(b[24:], 64<<20) })), 0, 24, "does not fit"},
		{"device shrank", good, 32 << 20, 40, "written to a 67108864-byte device"},
		{"host", reseal(mod(func(b []byte) { b[137] = 0x7f })), 0, 137, "not printable"},
	} {
		_, err := raw.DecodeHeader(c.b, c.devSize)
		var fe *raw.FormatError
		if !errors.As(err, &fe) || fe.Off != c.off || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a FormatError at offset %d saying %q", c.name, err, c.off, c.msg)
		}
	}
}

func seeds(t testing.TB) map[string]map[string][]any {
	saved := testHeader
	saved.State, saved.SavedTime = raw.Saved, testHeader.WriteTime.Add(time.Hour)
	writing := raw.Header{State: raw.Writing, DeviceSize: 1 << 20, WriteTime: testHeader.WriteTime}
	return map[string]map[string][]any{
		"FuzzDecodeHeader": {
			"complete": {testHeader.Encode()[:raw.HeaderSize]},
			"saved":    {saved.Encode()[:raw.HeaderSize]},
			"writing":  {writing.Encode()[:raw.HeaderSize]},
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with Encode.
// Regenerate with: go test ./format/raw -run TestFuzzSeeds -update
func TestFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, seeds(t), *update, "go test ./format/raw -run TestFuzzSeeds -update")
}

// FuzzDecodeHeader: what decodes encodes to the same header and decodes again to
// the same value (a round trip through the package's own writer).
func FuzzDecodeHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := raw.DecodeHeader(data, 0)
		if err != nil {
			var fe *raw.FormatError
			if !errors.As(err, &fe) && !errors.Is(err, raw.ErrNoHeader) {
				t.Fatalf("error is neither a FormatError nor ErrNoHeader: %v", err)
			}
			return
		}
		if h.StreamLen < 0 || h.DeviceSize < 0 || h.StreamLen > h.DeviceSize {
			t.Fatalf("accepted %+v", h)
		}
		b := h.Encode()
		again, err := raw.DecodeHeader(b, 0)
		if err != nil || *again != *h {
			t.Fatalf("re-encoded header decodes to %+v, %v; want %+v", again, err, h)
		}
	})
}
