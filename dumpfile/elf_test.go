package dumpfile_test

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

func TestEncodeNote(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want string // hex
	}{
		{"4-byte", dumpfile.EncodeNote("CORE", 1, []byte("abcde")),
			"05000000" + "05000000" + "01000000" + "434f524500000000" + "6162636465000000"},
		{"empty desc", dumpfile.EncodeNote("VMCOREINFO", 0, nil),
			"0b000000" + "00000000" + "00000000" + "564d434f5245494e464f0000"},
		{"8-byte", dumpfile.AppendNote(nil, 8, "CORE", 1, []byte("ab")),
			"05000000" + "02000000" + "01000000" + "434f5245" + "0000000000000000" + "6162000000000000"}, // desc at 24
		{"8-byte after unaligned data", dumpfile.AppendNote([]byte{9}, 8, "A", 2, nil),
			"0900000000000000" + "02000000" + "00000000" + "02000000" + "41000000"},
	}
	for _, c := range cases {
		if h := hex.EncodeToString(c.got); h != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, h, c.want)
		}
	}
}

func TestVMCOREINFOText(t *testing.T) {
	var v dumpfile.VMCOREINFOText
	v.Standard("6.12.57+deb13-amd64", 4096, 1700000000, 0x1e000000)
	v.Symbol("mem_section", 0xffff888237fd4000)
	v.Size("page", 64)
	v.Offset("page.flags", 0)
	v.Length("mem_section", 1024)
	v.Number("PAGE_BUDDY_MAPCOUNT_VALUE", -129)
	v.Set("BUILD-ID", "00ff")
	want := `OSRELEASE=6.12.57+deb13-amd64
PAGESIZE=4096
CRASHTIME=1700000000
KERNELOFFSET=1e000000
SYMBOL(mem_section)=ffff888237fd4000
SIZE(page)=64
OFFSET(page.flags)=0
LENGTH(mem_section)=1024
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
BUILD-ID=00ff
`
	if v.String() != want || string(v.Bytes()) != want {
		t.Fatalf("text:\n%s\nwant:\n%s", v.String(), want)
	}
	// The reader is the inverse.
	info, err := vmcore.ParseVMCOREINFO(v.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := info.Symbol("mem_section"); a != 0xffff888237fd4000 {
		t.Errorf("Symbol = %#x", a)
	}
	if n, _ := info.Number("PAGE_BUDDY_MAPCOUNT_VALUE"); n != -129 {
		t.Errorf("Number = %d", n)
	}
	if k, _ := info.KernelOffset(); k != 0x1e000000 {
		t.Errorf("KernelOffset = %#x", k)
	}
}

func TestLayout(t *testing.T) {
	notes := dumpfile.EncodeNote("CORE", 1, make([]byte, 336))
	w := dumpfile.ELFWriter{
		Notes: notes,
		Loads: []dumpfile.ELFLoad{
			{Phys: 0x1000, FileSize: 0x9e000, MemSize: 0x9e000, Data: zeroReader{}},
			{Phys: 0x100000, FileSize: 0x123, MemSize: 0x2000, Data: zeroReader{}}, // odd size: next offset padded
			{Phys: 0x200000, MemSize: 0x1000},                                      // no file data
			{Phys: 0x300000, FileSize: 0x1000, MemSize: 0x1000, Data: zeroReader{}},
		},
	}
	l, err := w.Layout()
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{0x1000, 0x9f000, 0xa0000, 0xa0000}
	if l.Phnum != 5 || l.NoteOffset != 64+5*56 || !equal(l.LoadOffsets, want) || l.Size != 0xa1000 {
		t.Fatalf("layout = %+v, want note at %d, loads at %x, size 0xa1000", l, 64+5*56, want)
	}
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil || uint64(n) != l.Size || uint64(buf.Len()) != l.Size {
		t.Fatalf("WriteTo = %d, %v; buffer %d", n, err, buf.Len())
	}
	ef, err := elf.NewFile(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if ef.Progs[0].Type != elf.PT_NOTE || ef.Progs[0].Off != l.NoteOffset || ef.Progs[0].Filesz != uint64(len(notes)) {
		t.Errorf("PT_NOTE = %+v", ef.Progs[0].ProgHeader)
	}
	for i, p := range ef.Progs[1:] {
		if p.Type != elf.PT_LOAD || p.Off != want[i] || p.Paddr != w.Loads[i].Phys || p.Memsz != w.Loads[i].MemSize {
			t.Errorf("PT_LOAD %d = %+v", i, p.ProgHeader)
		}
	}

	w.PageSize = 64
	// Notes end at 0x158+0x164 = 0x2bc; load 1 ends at 0x9e2c0+0x123.
	if l, _ := w.Layout(); !equal(l.LoadOffsets, []uint64{0x2c0, 0x9e2c0, 0x9e400, 0x9e400}) {
		t.Errorf("64-byte pages: %x", l.LoadOffsets)
	}
	w.NoteAlign = 8
	if l, _ := w.Layout(); l.NoteOffset%8 != 0 {
		t.Errorf("note offset %d not 8-aligned", l.NoteOffset)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestWriterErrors(t *testing.T) {
	short := dumpfile.ELFLoad{Phys: 0x5000, FileSize: 0x1000, MemSize: 0x1000, Data: strings.NewReader("only a few bytes")}
	cases := []struct {
		name string
		w    dumpfile.ELFWriter
		msg  string
	}{
		{"filesz > memsz", dumpfile.ELFWriter{Loads: []dumpfile.ELFLoad{{FileSize: 2, MemSize: 1, Data: zeroReader{}}}}, "load 0 (phys 0x0): FileSize 0x2 larger than MemSize 0x1"},
		{"no data", dumpfile.ELFWriter{Loads: []dumpfile.ELFLoad{{Phys: 0x1000, FileSize: 1, MemSize: 1}}}, "load 0 (phys 0x1000): FileSize 0x1 but no Data"},
		{"phys overflow", dumpfile.ELFWriter{Loads: []dumpfile.ELFLoad{{Phys: ^uint64(0), MemSize: 2}}}, "overflows"},
		{"page size", dumpfile.ELFWriter{PageSize: 3000}, "page size 3000 is not a power of two"},
		{"note align", dumpfile.ELFWriter{NoteAlign: 2}, "note alignment 2"},
		{"short data", dumpfile.ELFWriter{Loads: []dumpfile.ELFLoad{short}}, "load 0 (phys 0x5000): copied 16 of 4096 bytes: unexpected EOF"},
	}
	for _, c := range cases {
		_, err := c.w.WriteTo(io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.msg)
		}
	}
	// A failing destination is reported.
	w := dumpfile.ELFWriter{Loads: []dumpfile.ELFLoad{{FileSize: 1 << 20, MemSize: 1 << 20, Data: zeroReader{}}}}
	fw := &failingWriter{after: 100 << 10}
	if _, err := w.WriteTo(fw); !errors.Is(err, errDiskFull) {
		t.Errorf("err = %v, want errDiskFull", err)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		n := f.after
		f.after = 0
		return n, errDiskFull
	}
	f.after -= len(p)
	return len(p), nil
}

// TestBoundedMemory writes a 256 MiB load and checks that the writer's
// allocations do not grow with it: the collector runs in a capture kernel
// with little memory.
func TestBoundedMemory(t *testing.T) {
	const size = 256 << 20
	w := dumpfile.ELFWriter{
		Notes: dumpfile.EncodeNote("CORE", 1, make([]byte, 336)),
		Loads: []dumpfile.ELFLoad{{Phys: 0x100000, FileSize: size, MemSize: size, Data: zeroReader{}}},
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := w.WriteTo(io.Discard)
	runtime.ReadMemStats(&after)
	if err != nil || n != 0x1000+size {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("writing %d MiB allocated %d bytes", size>>20, alloc)
	}
}
