package kdump_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz")

// header returns a main header and sub header as gokdump writes them for a
// machine of maxMapnr 4 KiB pages, encoded one after the other.
func header(t testing.TB, version int32, maxMapnr uint64) []byte {
	h := kdump.Header{HeaderVersion: version, BlockSize: 4096, SubHdrSize: 1, Status: kdump.CompressedZlib, NrCPUs: 2}
	copy(h.Signature[:], kdump.Signature)
	bitmapBlocks := (maxMapnr/8 + 4095) / 4096
	h.BitmapBlocks = uint32(2 * bitmapBlocks)
	h.MaxMapnr = uint32(maxMapnr)
	h.TimestampSec, h.TimestampUsec = 1700000000, 250000
	if err := h.SetUTSName(kdump.UTSName{Sysname: "Linux", Nodename: "box", Release: "6.1.0-test", Version: "#1 SMP", Machine: "x86_64", Domainname: "(none)"}); err != nil {
		t.Fatal(err)
	}
	s := kdump.SubHeader{PhysBase: 0x1000000, DumpLevel: 31, OffsetNote: 4096 + kdump.SubHeaderSize, SizeNote: 0x200,
		OffsetVMCOREINFO: 4096 + kdump.SubHeaderSize + 0x100, SizeVMCOREINFO: 0x100, MaxMapnr64: maxMapnr}
	return append(h.Bytes(), s.Bytes()...)
}

func seeds(t testing.TB) map[string]map[string][]any {
	split := header(t, 6, 0x8000)
	copy(split[kdump.HeaderSize+12:], []byte{1, 0, 0, 0})                   // split
	copy(split[kdump.HeaderSize+80:], []byte{0x00, 0x10, 0, 0, 0, 0, 0, 0}) // start_pfn_64
	copy(split[kdump.HeaderSize+88:], []byte{0x00, 0x20, 0, 0, 0, 0, 0, 0}) // end_pfn_64
	diskdump := bytes.Clone(header(t, 6, 0x8000))
	copy(diskdump, kdump.DiskdumpSignature)
	return map[string]map[string][]any{
		"FuzzHeader": {
			"v6":       {header(t, 6, 0x48000)},
			"v1":       {header(t, 1, 0x8000)},
			"split":    {split},
			"diskdump": {diskdump},
			"short":    {header(t, 6, 0x8000)[:100]},
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with the headers seeds makes.
// Regenerate with: go test ./format/kdump -run TestFuzzSeeds -update
func TestFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, seeds(t), *update, "go test ./format/kdump -run TestFuzzSeeds -update")
}

func TestDecodeHeaderErrors(t *testing.T) {
	good := header(t, 6, 0x8000)
	put := func(off int, b ...byte) []byte { c := bytes.Clone(good); copy(c[off:], b); return c }
	for _, c := range []struct {
		name string
		in   []byte
		off  int64
		msg  string
	}{
		{"short", good[:100], 100, "truncated kdump main header"},
		{"diskdump", put(0, []byte(kdump.DiskdumpSignature)...), 0, "old diskdump format is not supported"},
		{"signature", put(0, 'X'), 0, "signature"},
		{"version 0", put(8, 0), 8, "kdump header version 0"},
		{"version 7", put(8, 7), 8, "kdump header version 7"},
		{"block size", put(428, 0, 3, 0, 0), 428, "block size 768"},
		{"sub header", put(432, 0, 0, 0, 0), 432, "sub header size 0"},
		{"bitmap blocks", put(436, 3, 0, 0, 0), 436, "bitmap blocks 3"},
	} {
		_, err := kdump.DecodeHeader(c.in)
		var fe *kdump.FormatError
		if !errors.As(err, &fe) || fe.Off != c.off || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a FormatError at 0x%x saying %q", c.name, err, c.off, c.msg)
		}
	}
	h, err := kdump.DecodeHeader(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   []byte
		off  int64
		msg  string
	}{
		{"max_mapnr", put(kdump.HeaderSize+96, 0, 0, 0, 1), 96, "does not fit"},
		{"split-reversed", splitRange(put(kdump.HeaderSize+12, 1), 2, 1), 80, "split part range [2, 1)"},
	} {
		_, err := kdump.DecodeSubHeader(c.in[kdump.HeaderSize:], h)
		var fe *kdump.FormatError
		if !errors.As(err, &fe) || fe.Off != c.off || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a FormatError at 0x%x saying %q", c.name, err, c.off, c.msg)
		}
	}
}

// FuzzHeader decodes a main header, a sub header and a page descriptor and
// encodes them again: what decodes must encode to the same bytes (but for
// the main header's padding and the sub header fields its version lacks) and
// decode to the same values.
func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := kdump.DecodeHeader(data)
		if err != nil {
			var fe *kdump.FormatError
			if !errors.As(err, &fe) || fe.Off < 0 || fe.Off > int64(len(data)) {
				t.Fatalf("error is not a FormatError inside the data: %v", err)
			}
			return
		}
		want := bytes.Clone(data[:kdump.HeaderSize])
		clear(want[402:408]) // the padding before the timeval
		b := h.Bytes()
		if !bytes.Equal(b, want) {
			t.Fatalf("main header re-encodes differently:\n got % x\nwant % x", b, want)
		}
		h2, err := kdump.DecodeHeader(b)
		if err != nil || *h2 != *h {
			t.Fatalf("re-encoded main header decodes to %+v, %v; want %+v", h2, err, h)
		}
		// A field without its NUL (65 bytes) cannot be set again.
		u := h.GetUTSName()
		var h3 kdump.Header
		if err := h3.SetUTSName(u); err == nil && h3.GetUTSName() != u {
			t.Fatalf("utsname %+v does not round-trip", u)
		}
		rest := data[kdump.HeaderSize:]
		s, err := kdump.DecodeSubHeader(rest, h)
		if err != nil {
			var fe *kdump.FormatError
			if !errors.As(err, &fe) || fe.Off < 0 || fe.Off > int64(len(rest)) {
				t.Fatalf("sub header error is not a FormatError inside the data: %v", err)
			}
			return
		}
		s2, err := kdump.DecodeSubHeader(s.Bytes(), h)
		if err != nil || *s2 != *s {
			t.Fatalf("re-encoded sub header decodes to %+v, %v; want %+v", s2, err, s)
		}
		if m := kdump.MaxMapnr(h, s); m > uint64(h.Layout().BitmapLen)*8 {
			t.Fatalf("max_mapnr %d accepted for %d-byte bitmaps", m, h.Layout().BitmapLen)
		}
		if len(rest) >= kdump.SubHeaderSize+kdump.PageDescSize {
			raw := rest[kdump.SubHeaderSize : kdump.SubHeaderSize+kdump.PageDescSize]
			d := kdump.DecodePageDesc(raw)
			var out [kdump.PageDescSize]byte
			d.Put(out[:])
			if !bytes.Equal(out[:], raw) {
				t.Fatalf("page descriptor re-encodes to % x, want % x", out, raw)
			}
		}
	})
}

// splitRange sets the 64-bit split range of the sub header in b (a whole file's start).
func splitRange(b []byte, start, end byte) []byte {
	b[kdump.HeaderSize+80] = start
	b[kdump.HeaderSize+88] = end
	return b
}
