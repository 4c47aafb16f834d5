package vmcore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/vmcore"
)

// TestKdumpBadHeaders damages the headers of a small kdump file: each
// must give a FormatError at the damaged field.
func TestKdumpBadHeaders(t *testing.T) {
	good := smallKdump(t, compress.Zlib, false, 0)
	const bs = 512
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		edit func(b []byte) []byte
		off  int64
		msg  string
	}{
		{"diskdump", func(b []byte) []byte { copy(b, "DISKDUMP"); return b }, 0, "old diskdump format is not supported"},
		{"version 0", func(b []byte) []byte { le.PutUint32(b[8:], 0); return b }, 8, "header version 0"},
		{"version 7", func(b []byte) []byte { le.PutUint32(b[8:], 7); return b }, 8, "header version 7"},
		{"block size", func(b []byte) []byte { le.PutUint32(b[428:], 3000); return b }, 428, "block size 3000"},
		{"sub header size", func(b []byte) []byte { le.PutUint32(b[432:], 1<<30); return b }, 432, "past the end of the file"},
		{"odd bitmap blocks", func(b []byte) []byte { le.PutUint32(b[436:], 3); return b }, 436, "bitmap blocks 3"},
		{"max_mapnr", func(b []byte) []byte { le.PutUint64(b[bs+96:], 1<<40); return b }, bs + 96, "does not fit"},
		{"two codecs", func(b []byte) []byte { le.PutUint32(b[424:], 3); return b }, 424, "status 0x3"},
		{"notes past end", func(b []byte) []byte { le.PutUint64(b[bs+56:], 1<<20); return b }, bs + 48, "notes"},
		{"truncated", func(b []byte) []byte { return b[:100] }, 0, "truncated kdump main header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.edit(bytes.Clone(good))
			_, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), "bad.kdump")
			wantFormatError(t, err, "bad.kdump", c.off, c.msg)
		})
	}
}

// TestKdumpBadDescriptors damages descriptors and page data: reading the
// page gives a FormatError naming the pfn, the rest of the file still reads.
func TestKdumpBadDescriptors(t *testing.T) {
	good := smallKdump(t, compress.Zlib, false, 0)
	f, err := vmcore.NewFile(bytes.NewReader(good), int64(len(good)), "x")
	if err != nil {
		t.Fatal(err)
	}
	desc := f.Kdump.Descriptors
	// Dumped pfns in order: 0,1,2,3,5,... pfn 1 is descriptor 1, pfn 2 is 2.
	le := binary.LittleEndian
	dataOf := func(b []byte, i int64) int64 { return int64(le.Uint64(b[desc+24*i:])) }
	for _, c := range []struct {
		name string
		edit func(b []byte)
		msg  string
	}{
		{"size over block", func(b []byte) { le.PutUint32(b[desc+24+8:], 513) }, "pfn 0x1"},
		{"offset 0 in a complete dump", func(b []byte) { clear(b[desc+24 : desc+48]) }, "never written"},
		{"data past the end", func(b []byte) { le.PutUint64(b[desc+24:], uint64(len(b))) }, "past the end of the file"},
		{"unknown flags", func(b []byte) { le.PutUint32(b[desc+24+12:], 0x100) }, "unknown flags 0x100"},
		{"raw but short", func(b []byte) { le.PutUint32(b[desc+24+12:], 0) }, "uncompressed page of"},
		{"corrupt data", func(b []byte) { o := dataOf(b, 1); copy(b[o:o+8], "garbage!") }, "page data of pfn 0x1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(good)
			c.edit(b)
			f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), "bad.kdump")
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 512)
			_, err = f.ReadPhys(buf, 512)
			var fe *vmcore.FormatError
			if !errors.As(err, &fe) || fe.File != "bad.kdump" || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("ReadPhys(pfn 1) = %v, want a FormatError containing %q", err, c.msg)
			}
			if _, err := f.ReadPhys(buf, 2*512); err != nil {
				t.Errorf("pfn 2 after a bad pfn 1: %v", err)
			}
		})
	}
}
