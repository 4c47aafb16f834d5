package dumpfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/kdump"
)

type memAt struct{ b []byte }

func (m *memAt) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func testHeader() *dumpfile.KdumpHeader {
	notes := dumpfile.VMCOREINFONote([]byte("OSRELEASE=6.1.0-test\n"))
	return &dumpfile.KdumpHeader{
		UTSName:   kdump.UTSName{Sysname: "Linux", Nodename: "box", Release: "6.1.0-test", Version: "#1 SMP", Machine: "x86_64", Domainname: "(none)"},
		CrashTime: time.Unix(1764132830, 250000000),
		PageSize:  4096, PhysBase: 0x3a00000, DumpLevel: 31, Notes: notes,
		VMCOREINFOOffset: 24, VMCOREINFOSize: 21,
		MaxMapnr: 40000, NrCPUs: 2, Codec: compress.LZO,
	}
}

// TestKdumpHeaderBytes checks the fields at the offsets of makedumpfile's
// diskdump_mod.h (x86_64): what crash and makedumpfile read.
func TestKdumpHeaderBytes(t *testing.T) {
	var m memAt
	w := dumpfile.NewKdumpWriter(&m)
	h := testHeader()
	if err := w.Begin(h, 3); err != nil {
		t.Fatal(err)
	}
	b1 := make([]byte, 5000)
	b2 := make([]byte, 5000)
	b1[0], b2[0] = 0xff, 0x07
	if err := w.WriteBitmaps(0, b1, b2); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteZeroPage(0); err != nil {
		t.Fatal(err)
	}
	page := bytes.Repeat([]byte{1}, 4096)
	if err := w.WritePage(1, page, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePage(2, []byte("compressed"), uint32(compress.LZO)); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	b := m.b
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return le.Uint64(b[off:]) }
	str := func(off int) string { return strings.TrimRight(string(b[off:off+65]), "\x00") }
	// Main header.
	if string(b[:8]) != "KDUMP   " || u32(8) != 6 {
		t.Errorf("signature %q version %d", b[:8], u32(8))
	}
	if str(12) != "Linux" || str(12+65) != "box" || str(12+2*65) != "6.1.0-test" || str(12+5*65) != "(none)" {
		t.Errorf("utsname %q", b[12:402])
	}
	if u64(408) != 1764132830 || u64(416) != 250000 {
		t.Errorf("timestamp %d.%06d", u64(408), u64(416))
	}
	// 40000 pfns: 5000 bytes, two blocks per bitmap; notes fit the sub header block.
	if u32(424) != 0x2 || u32(428) != 4096 || u32(432) != 1 || u32(436) != 4 || u32(440) != 40000 || u32(460) != 2 {
		t.Errorf("status %#x block %d sub %d bitmap blocks %d max_mapnr %d cpus %d", u32(424), u32(428), u32(432), u32(436), u32(440), u32(460))
	}
	for off := 444; off < 460; off += 4 {
		if u32(off) != 0 {
			t.Errorf("offset %d = %d, makedumpfile leaves 0", off, u32(off))
		}
	}
	// Sub header at 4096.
	s := 4096
	if u64(s) != 0x3a00000 || u32(s+8) != 31 || u32(s+12) != 0 || u64(s+96) != 40000 {
		t.Errorf("sub header phys_base %#x level %d split %d max_mapnr_64 %d", u64(s), u32(s+8), u32(s+12), u64(s+96))
	}
	if u64(s+48) != 4096+104 || u64(s+56) != uint64(len(h.Notes)) || u64(s+32) != 4096+104+24 || u64(s+40) != 21 {
		t.Errorf("notes at %d+%d, vmcoreinfo at %d+%d", u64(s+48), u64(s+56), u64(s+32), u64(s+40))
	}
	if got := string(b[u64(s+32):][:21]); got != "OSRELEASE=6.1.0-test\n" {
		t.Errorf("offset_vmcoreinfo points at %q", got)
	}
	// Bitmaps at blocks 2 and 4, descriptors at block 6, data after 3 of them.
	if b[2*4096] != 0xff || b[4*4096] != 0x07 {
		t.Errorf("bitmaps: %#x %#x", b[2*4096], b[4*4096])
	}
	desc, data := 6*4096, 6*4096+3*24
	type pd struct {
		off         uint64
		size, flags uint32
	}
	d := func(i int) pd { o := desc + 24*i; return pd{u64(o), u32(o + 8), u32(o + 12)} }
	want := []pd{{uint64(data), 4096, 0}, {uint64(data + 4096), 4096, 0}, {uint64(data + 8192), 10, 2}}
	for i, w := range want {
		if d(i) != w {
			t.Errorf("descriptor %d = %+v, want %+v", i, d(i), w)
		}
	}
	if len(b) != data+8192+10 || !bytes.Equal(b[data:data+4096], make([]byte, 4096)) || string(b[data+8192:]) != "compressed" {
		t.Errorf("data: file is %d bytes", len(b))
	}
}

func TestKdumpWriterMisuse(t *testing.T) {
	begin := func(h *dumpfile.KdumpHeader, n uint64) (*dumpfile.KdumpWriter, error) {
		w := dumpfile.NewKdumpWriter(&memAt{})
		return w, w.Begin(h, n)
	}
	bad := []func(h *dumpfile.KdumpHeader){
		func(h *dumpfile.KdumpHeader) { h.PageSize = 3000 },
		func(h *dumpfile.KdumpHeader) { h.MaxMapnr = 0 },
		func(h *dumpfile.KdumpHeader) { h.Codec = 0x8 },
		func(h *dumpfile.KdumpHeader) { h.VMCOREINFOSize = 1000 },
		func(h *dumpfile.KdumpHeader) { h.UTSName.Version = strings.Repeat("x", 65) },
		func(h *dumpfile.KdumpHeader) { h.Split = &dumpfile.KdumpSplit{StartPFN: 6, EndPFN: 5} },
	}
	for i, edit := range bad {
		h := testHeader()
		edit(h)
		if _, err := begin(h, 1); err == nil {
			t.Errorf("bad header %d accepted", i)
		}
	}
	w, err := begin(testHeader(), 2)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"flags", w.WritePage(1, []byte("x"), uint32(compress.Zlib))},
		{"raw size", w.WritePage(1, []byte("x"), 0)},
		{"beyond max_mapnr", w.WritePage(40000, page, 0)},
		{"misaligned bitmap", w.WriteBitmaps(3, []byte{1}, []byte{1})},
		{"bitmap past the end", w.WriteBitmaps(39992, make([]byte, 9000), nil)},
	} {
		if c.err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if err := w.WritePage(5, page, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePage(5, page, 0); err == nil {
		t.Error("a repeated pfn was accepted")
	}
	if err := w.Finish(); err == nil || !strings.Contains(err.Error(), "1 of the 2") {
		t.Errorf("Finish with a page missing: %v", err)
	}
	if err := w.WritePage(7, page, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err == nil || !strings.Contains(err.Error(), "2nd bitmap") {
		t.Errorf("Finish without a 2nd bitmap: %v", err)
	}
	w2, _ := begin(&dumpfile.KdumpHeader{PageSize: 4096, MaxMapnr: 8, DumpLevel: 0}, 1)
	if err := w2.WriteZeroPage(0); err == nil {
		t.Error("a zero page without the shared zero page (dump level 0) was accepted")
	}
}

func TestRearrangeErrors(t *testing.T) {
	start := make([]byte, flat.StartBlockSize)
	copy(start, "makedumpfile")
	binary.BigEndian.PutUint64(start[16:], 1)
	rec := func(off, size int64, data string) []byte {
		var b [16]byte
		binary.BigEndian.PutUint64(b[0:], uint64(off))
		binary.BigEndian.PutUint64(b[8:], uint64(size))
		return append(b[:], data...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	end := rec(-1, -1, "")
	// Later records win, out of order.
	var m memAt
	if err := dumpfile.Rearrange(&m, bytes.NewReader(cat(start, rec(4, 4, "WXYZ"), rec(0, 6, "abcdef"), rec(2, 1, "!"), end))); err != nil {
		t.Fatal(err)
	}
	if string(m.b) != "ab!defYZ" {
		t.Errorf("rearranged %q, want %q", m.b, "ab!defYZ")
	}
	badType := bytes.Clone(start)
	badType[23] = 2
	for _, c := range []struct {
		name, msg string
		in        []byte
	}{
		{"signature", "not a flattened dump", cat([]byte("KDUMP   "), start[8:], end)},
		{"type", "flattened type 2", cat(badType, end)},
		{"short start", "start block", start[:100]},
		{"no end", "no end record", cat(start, rec(0, 1, "a"))},
		{"short data", "record data", cat(start, rec(0, 10, "abc"))},
		{"negative offset", "non-negative offset", cat(start, rec(-5, 1, "a"), end)},
		{"zero size", "positive size", cat(start, rec(0, 0, ""), end)},
	} {
		err := dumpfile.Rearrange(&memAt{}, bytes.NewReader(c.in))
		var fe *flat.FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a FormatError saying %q", c.name, err, c.msg)
		}
	}
}
