package assemble_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/assemble"
	"github.com/gokdump/gokdump/assemble/assembletest"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// Layout of the test machine: 9 MiB of RAM; the crashkernel reservation is
// [0x600000, 0x800000) and holds the ELF core header, the note buffers and the backup
// of the low memory that kexec_load's header points the first PT_LOAD at.
const (
	ramSize    = 9 << 20
	hdrAddr    = 0x7f0000
	directMap  = 0xffff888000000000
	kernelText = 0xffffffff81000000
	backupAt   = 0x601000
)

var testLoads = []assemble.Load{
	// kexec_load style: the low memory's bytes were copied to the backup region.
	{Phys: 0x1000, At: backupAt, Virt: directMap + 0x1000, Size: 0x9f000},
	{Phys: 0x100000, At: 0x100000, Virt: directMap + 0x100000, Size: 0x500000},
	// The kernel text mapping overlaps the direct map physically.
	{Phys: 0x200000, At: 0x200000, Virt: kernelText, Size: 0x200000},
	// A size that is not a multiple of the page size.
	{Phys: 0x800000, At: 0x800000, Virt: directMap + 0x800000, Size: 0xff800},
}

type testMachine struct {
	ram   []byte
	notes []byte // the notes the vmcore must hold
	hdr   assembletest.Header
}

func cpuNotes(cpu int) []byte {
	pr := &vmcore.PRStatus{Pid: int32(100 + cpu)}
	pr.Regs.RIP = kernelText + 0x1234 + uint64(cpu)
	return dumpfile.PRStatusNote(pr)
}

func vmcoreinfoText() []byte {
	var vi dumpfile.VMCOREINFOText
	vi.Standard("6.1.0-test", 4096, 1700000000, 0)
	vi.Symbol("init_uts_ns", kernelText+0x1000)
	return vi.Bytes()
}

func newTestMachine(t testing.TB) *testMachine {
	t.Helper()
	m := &testMachine{ram: make([]byte, ramSize)}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(m.ram); i += 8 {
		binary.LittleEndian.PutUint64(m.ram[i:], rng.Uint64())
	}
	m.hdr = assembletest.Header{
		Addr: hdrAddr,
		Notes: []assembletest.NoteBuffer{
			{At: 0x7e0000, Size: 0x200, Notes: cpuNotes(0)},
			{At: 0x7e0200, Size: 0x200, Notes: cpuNotes(1)},
			{At: 0x7e1000, Size: 0x1000, Notes: dumpfile.VMCOREINFONote(vmcoreinfoText())},
		},
		Loads: testLoads,
		Extra: []elf.Prog64{{Type: uint32(elf.PT_NULL), Off: 0xdead0000, Memsz: 1 << 40}},
	}
	var err error
	if m.notes, err = assembletest.Place(m.ram, m.hdr); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *testMachine) memory(t testing.TB) *assemble.Memory {
	t.Helper()
	mem, err := assemble.NewMemory(bytes.NewReader(m.ram), "ram.img", int64(len(m.ram)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

func assembleBytes(t testing.TB, mem *assemble.Memory, addr uint64) []byte {
	t.Helper()
	core, err := assemble.New(mem, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := core.WriteTo(&out)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) || n != core.Size() {
		t.Fatalf("WriteTo returned %d, wrote %d bytes, Size says %d", n, out.Len(), core.Size())
	}
	return out.Bytes()
}

// checkVmcore opens an assembled vmcore and checks it against the machine: the
// notes, the PT_LOADs, and every page of memory.
func checkVmcore(t *testing.T, m *testMachine, image []byte) {
	t.Helper()
	f, err := vmcore.NewFile(bytes.NewReader(image), int64(len(image)), "assembled")
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		t.Fatal(err)
	}
	var notePhdrs int
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE {
			notePhdrs++
			got := make([]byte, p.Filesz)
			if _, err := p.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, m.notes) {
				t.Errorf("PT_NOTE holds %d bytes, want the %d bytes of notes up to each buffer's empty note", len(got), len(m.notes))
			}
			if p.Memsz != p.Filesz {
				t.Errorf("PT_NOTE p_memsz %d != p_filesz %d", p.Memsz, p.Filesz)
			}
		}
	}
	if notePhdrs != 1 {
		t.Errorf("%d PT_NOTE program headers, want 1", notePhdrs)
	}
	if ef.Progs[0].Type != elf.PT_NOTE {
		t.Errorf("first program header is %v, want PT_NOTE", ef.Progs[0].Type)
	}
	prs, err := f.PRStatus()
	if err != nil || len(prs) != 2 || prs[1].Pid != 101 || prs[1].Regs.RIP != kernelText+0x1235 {
		t.Errorf("PRStatus: %+v, %v; want CPUs 0 and 1", prs, err)
	}
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	if rel, _ := info.OSRelease(); rel != "6.1.0-test" {
		t.Errorf("VMCOREINFO OSRELEASE %q", rel)
	}
	if len(f.Loads) != len(testLoads) {
		t.Fatalf("%d PT_LOADs, want %d", len(f.Loads), len(testLoads))
	}
	for i, s := range f.Loads {
		w := testLoads[i]
		if s.Phys != w.Phys || s.Virt != w.Virt || s.MemSize != w.Size || s.FileSize != w.Size {
			t.Errorf("PT_LOAD %d: %+v, want phys %#x virt %#x size %#x", i, s, w.Phys, w.Virt, w.Size)
		}
		if s.Offset%4096 != 0 {
			t.Errorf("PT_LOAD %d at file offset %#x, not page aligned", i, s.Offset)
		}
		// Every page of the segment is the memory at p_offset of the header.
		for off := uint64(0); off < s.FileSize; off += 4096 {
			n := min(4096, s.FileSize-off)
			got := image[s.Offset+off : s.Offset+off+n]
			if want := m.ram[w.At+off : w.At+off+n]; !bytes.Equal(got, want) {
				t.Fatalf("PT_LOAD %d (phys %#x): page at +%#x differs from memory at %#x", i, w.Phys, off, w.At+off)
			}
		}
	}
}

func TestAssemble(t *testing.T) {
	m := newTestMachine(t)
	image := assembleBytes(t, m.memory(t), hdrAddr)
	checkVmcore(t, m, image)

	// The kexec_load case: physical 0x1000 reads the backup region's bytes, which are
	// not what is at 0x1000 in the image.
	f, _ := vmcore.NewFile(bytes.NewReader(image), int64(len(image)), "assembled")
	got := make([]byte, 4096)
	if _, err := f.ReadPhys(got, 0x1000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, m.ram[backupAt:backupAt+4096]) || bytes.Equal(got, m.ram[0x1000:0x2000]) {
		t.Errorf("physical 0x1000 of the vmcore is not the backup region's page (p_offset %#x)", backupAt)
	}
}

// The header need not start at a page boundary, and p_memsz of a note buffer may be
// filled exactly by its notes (no empty note).
func TestAssembleUnalignedHeaderFullBuffer(t *testing.T) {
	m := newTestMachine(t)
	m.hdr.Addr = 0x7f0123
	n := cpuNotes(0)
	m.hdr.Notes[0] = assembletest.NoteBuffer{At: 0x7e0000, Size: uint64(len(n)), Notes: n, NoTerminator: true}
	var err error
	if m.notes, err = assembletest.Place(m.ram, m.hdr); err != nil {
		t.Fatal(err)
	}
	checkVmcore(t, m, assembleBytes(t, m.memory(t), 0x7f0123))
}

// ReadAt gives the same bytes as WriteTo, and dumpfile.ELFWriter writes them too.
func TestReadAtMatchesWriteTo(t *testing.T) {
	m := newTestMachine(t)
	mem := m.memory(t)
	image := assembleBytes(t, mem, hdrAddr)
	core, err := assemble.New(mem, hdrAddr)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(io.NewSectionReader(core, 0, core.Size()+100))
	if err != nil || !bytes.Equal(all, image) {
		t.Fatalf("ReadAt gives %d bytes (%v), WriteTo %d; equal %v", len(all), err, len(image), bytes.Equal(all, image))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		off := rng.Int64N(core.Size())
		buf := make([]byte, rng.IntN(3*4096))
		n, err := core.ReadAt(buf, off)
		want := image[off:min(off+int64(len(buf)), int64(len(image)))]
		if n != len(want) || !bytes.Equal(buf[:n], want) || (n < len(buf)) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d bytes, %#x) = %d, %v; want %d bytes", len(buf), off, n, err, len(want))
		}
	}
	if _, err := core.ReadAt(make([]byte, 1), core.Size()); err != io.EOF {
		t.Errorf("ReadAt at the end: %v, want io.EOF", err)
	}

	w := dumpfile.ELFWriter{Notes: m.notes, NoteAlign: 4}
	for _, l := range testLoads {
		w.Loads = append(w.Loads, dumpfile.ELFLoad{Phys: l.Phys, Virt: l.Virt, FileSize: l.Size, MemSize: l.Size,
			Data: bytes.NewReader(m.ram[l.At : l.At+l.Size])})
	}
	var ref bytes.Buffer
	if _, err := w.WriteTo(&ref); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ref.Bytes(), image) {
		t.Errorf("the assembled vmcore is not what dumpfile.ELFWriter writes for the same notes and loads")
	}
}

// A source holding the machine's memory in pieces at other offsets gives the same
// vmcore as the flat RAM image.
func TestMappedSource(t *testing.T) {
	m := newTestMachine(t)
	want := assembleBytes(t, m.memory(t), hdrAddr)
	// Three ranges, stored in the file in another order, with a gap in between.
	pieces := []struct{ phys, size uint64 }{{0x600000, 0x300000}, {0, 0x300000}, {0x300000, 0x300000}}
	var file []byte
	var ranges []assemble.Range
	for _, p := range pieces {
		file = append(file, make([]byte, 0x1234)...)
		ranges = append(ranges, assemble.Range{Off: uint64(len(file)), Phys: p.phys, Size: p.size})
		file = append(file, m.ram[p.phys:p.phys+p.size]...)
	}
	mem, err := assemble.NewMemory(bytes.NewReader(file), "pieces.img", int64(len(file)), ranges)
	if err != nil {
		t.Fatal(err)
	}
	if got := assembleBytes(t, mem, hdrAddr); !bytes.Equal(got, want) {
		t.Errorf("vmcore from the mapped source differs from the one from the flat image")
	}

	// Leave out the range holding part of the text: the error names the missing range.
	mem, err = assemble.NewMemory(bytes.NewReader(file), "pieces.img", int64(len(file)), ranges[:2])
	if err != nil {
		t.Fatal(err)
	}
	_, err = assemble.New(mem, hdrAddr)
	var me *assemble.MissingError
	if !errors.As(err, &me) || me.Start != 0x300000 || me.End != 0x600000 || !strings.Contains(err.Error(), "[0x300000, 0x600000)") {
		t.Errorf("New with a hole at [0x300000, 0x600000): %v", err)
	}
}

func TestNewMemoryErrors(t *testing.T) {
	r := bytes.NewReader(make([]byte, 0x10000))
	for _, tc := range []struct {
		ranges []assemble.Range
		want   string
	}{
		{[]assemble.Range{{Off: 0, Phys: 0, Size: 0}}, "is empty"},
		{[]assemble.Range{{Off: 0x8000, Phys: 0, Size: 0x9000}}, "beyond the end of the file"},
		{[]assemble.Range{{Off: 0, Phys: 0x1000, Size: 0x2000}, {Off: 0x4000, Phys: 0x2000, Size: 0x1000}}, "overlaps"},
		{[]assemble.Range{{Off: 0, Phys: ^uint64(0) - 10, Size: 0x1000}}, "overflows"},
	} {
		if _, err := assemble.NewMemory(r, "x.img", 0x10000, tc.ranges); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewMemory(%v): %v, want %q", tc.ranges, err, tc.want)
		}
	}
}

// A device has no size: reading past its end is memory it does not hold.
func TestUnboundedSource(t *testing.T) {
	m := newTestMachine(t)
	mem, err := assemble.NewMemory(bytes.NewReader(m.ram[:0x880000]), "/dev/mem", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, err := assemble.New(mem, hdrAddr)
	if err != nil {
		t.Fatal(err) // only reading finds the end
	}
	_, err = core.WriteTo(io.Discard)
	var me *assemble.MissingError
	if !errors.As(err, &me) || me.Start != 0x880000 || !strings.Contains(err.Error(), "PT_LOAD 6") {
		t.Errorf("WriteTo past the device's end: %v, want memory missing at 0x880000 for PT_LOAD 6", err)
	}
}

// set returns a copy of the machine's RAM with b written at the header's offset off.
func (m *testMachine) patched(off uint64, b ...byte) []byte {
	ram := bytes.Clone(m.ram)
	copy(ram[hdrAddr+off:], b)
	return ram
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestHeaderErrors(t *testing.T) {
	m := newTestMachine(t)
	phdr := func(i int, field uint64) uint64 { return 64 + uint64(i)*56 + field }
	for _, tc := range []struct {
		name  string
		ram   []byte
		field uint64 // offset from the header of the field the error must name
		want  string
	}{
		{"magic", m.patched(1, 'X'), 0, "no ELF magic"},
		{"class", m.patched(4, 1), 4, "want ELFCLASS64"},
		{"byte order", m.patched(5, 2), 5, "want the native ELFDATA2LSB"},
		{"ident version", m.patched(6, 0), 6, "EV_CURRENT"},
		{"type", m.patched(16, le16(uint16(elf.ET_EXEC))...), 16, "want ET_CORE"},
		{"version", m.patched(20, le32(2)...), 20, "e_version 2"},
		{"ehsize", m.patched(52, le16(52)...), 52, "e_ehsize 52"},
		{"phentsize", m.patched(54, le16(32)...), 54, "e_phentsize 32"},
		{"phnum", m.patched(56, 0, 0), 56, "e_phnum is 0"},
		{"machine", m.patched(18, le16(uint16(elf.EM_AARCH64))...), 18, "want EM_X86_64"},
		{"phoff", m.patched(32, le64(8)...), 32, "overlap the ELF header"},
		{"phoff overflow", m.patched(32, le64(^uint64(0)-100)...), 32, "overflow"},
		{"xnum without section", m.patched(56, 0xff, 0xff), 40, "PN_XNUM"},
		{"note too big", m.patched(phdr(0, 40), le64(1<<30)...), phdr(0, 40), "p_memsz 0x40000000"},
		{"note overflow", m.patched(phdr(1, 8), le64(^uint64(0)-0x10)...), phdr(1, 8), "overflows"},
		{"load overflow", m.patched(phdr(4, 24), le64(^uint64(0)-0x10)...), phdr(4, 8), "overflows"},
		{"no loads", m.patched(56, 3, 0), 56, "none of the 3 program headers is a PT_LOAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, _ := assemble.NewMemory(bytes.NewReader(tc.ram), "ram.img", int64(len(tc.ram)), nil)
			_, err := assemble.New(mem, hdrAddr)
			var fe *assemble.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("New: %v, want a *FormatError", err)
			}
			if fe.Phys != hdrAddr+tc.field || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ram.img") {
				t.Errorf("error %q at physical %#x; want %q at %#x", err, fe.Phys, tc.want, hdrAddr+tc.field)
			}
		})
	}
}

func TestNoteErrors(t *testing.T) {
	m := newTestMachine(t)
	// CPU 1's note claims a descriptor larger than its 0x200-byte buffer.
	ram := bytes.Clone(m.ram)
	copy(ram[0x7e0200+4:], le32(0x1000))
	mem, _ := assemble.NewMemory(bytes.NewReader(ram), "ram.img", int64(len(ram)), nil)
	_, err := assemble.New(mem, hdrAddr)
	var fe *assemble.FormatError
	if !errors.As(err, &fe) || fe.Phys != 0x7e0200 || !strings.Contains(err.Error(), "PT_NOTE 1") || !strings.Contains(err.Error(), "overruns p_memsz") {
		t.Errorf("overrunning note: %v", err)
	}

	// A note buffer outside the source.
	m.hdr.Notes[2].At = ramSize - 0x10
	hdr := assembletest.Encode(m.hdr)
	ram = bytes.Clone(m.ram)
	copy(ram[hdrAddr:], hdr)
	mem, _ = assemble.NewMemory(bytes.NewReader(ram), "ram.img", int64(len(ram)), nil)
	_, err = assemble.New(mem, hdrAddr)
	var me *assemble.MissingError
	if !errors.As(err, &me) || me.Start != ramSize || !strings.Contains(err.Error(), "PT_NOTE 2") {
		t.Errorf("note buffer beyond RAM: %v", err)
	}
}

func TestMissingMemory(t *testing.T) {
	m := newTestMachine(t)
	mem := m.memory(t)
	// The header address beyond the image.
	_, err := assemble.New(mem, ramSize+0x1000)
	var me *assemble.MissingError
	if !errors.As(err, &me) || me.Start != ramSize+0x1000 || !strings.Contains(err.Error(), "ELF header") || !strings.Contains(err.Error(), "holds [0x0, 0x900000)") {
		t.Errorf("header beyond RAM: %v", err)
	}
	// A PT_LOAD reaching beyond the image: refused before anything is written.
	m.hdr.Loads = append(m.hdr.Loads, assemble.Load{Phys: 0x800000, At: 0x800000, Size: 0x200000})
	if _, err := assembletest.Place(m.ram, m.hdr); err != nil {
		t.Fatal(err)
	}
	_, err = assemble.New(mem, hdrAddr)
	if !errors.As(err, &me) || me.Start != ramSize || me.End != 0xa00000 || !strings.Contains(err.Error(), "PT_LOAD") {
		t.Errorf("PT_LOAD beyond RAM: %v", err)
	}
}

// Extended numbering (e_phnum PN_XNUM, the count in section header 0's sh_info).
func TestExtendedNumbering(t *testing.T) {
	m := newTestMachine(t)
	want := assembleBytes(t, m.memory(t), hdrAddr)
	n := len(m.hdr.Notes) + len(m.hdr.Loads) + len(m.hdr.Extra)
	shoff := uint64(64 + 56*n)
	ram := m.patched(56, 0xff, 0xff)
	copy(ram[hdrAddr+40:], le64(shoff))
	copy(ram[hdrAddr+58:], le16(64))
	sh := make([]byte, 64)
	copy(sh[44:], le32(uint32(n)))
	copy(ram[hdrAddr+shoff:], sh)
	mem, _ := assemble.NewMemory(bytes.NewReader(ram), "ram.img", int64(len(ram)), nil)
	if got := assembleBytes(t, mem, hdrAddr); !bytes.Equal(got, want) {
		t.Errorf("PN_XNUM header gives another vmcore")
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in         string
		addr, size uint64
	}{
		{"0x27000000", 0x27000000, 0},
		{"0X27000000", 0x27000000, 0},
		{"1031540K", 1031540 << 10, 0},
		{"1031540k", 1031540 << 10, 0},
		{"656M", 656 << 20, 0},
		{"1G", 1 << 30, 0},
		{"12345", 12345, 0},
		{"017", 15, 0},
		{"0", 0, 0},
		{"elfcorehdr=0x1000", 0x1000, 0},
		{"4K@0x27000000", 0x27000000, 4096},
		{"0x1000@656M", 656 << 20, 0x1000},
		{"15E", 15 << 60, 0},
	} {
		addr, size, err := assemble.ParseAddress(tc.in)
		if err != nil || addr != tc.addr || size != tc.size {
			t.Errorf("ParseAddress(%q) = %#x, %#x, %v; want %#x, %#x", tc.in, addr, size, err, tc.addr, tc.size)
		}
	}
	for _, in := range []string{"", "0x", "x10", "12Q", "1K2", "1KK", "0x1g0", "089", "0xffffffffffffffffff", "16E",
		"0x100000000000000K", "@0x10", "4K@", "1@2@3", "-1", " 0x10", "0x10 "} {
		if addr, _, err := assemble.ParseAddress(in); err == nil {
			t.Errorf("ParseAddress(%q) = %#x, want an error", in, addr)
		}
	}
}

func TestParseRange(t *testing.T) {
	r, err := assemble.ParseRange("0x1000:1M:0x3f000000")
	if err != nil || r != (assemble.Range{Off: 0x1000, Phys: 1 << 20, Size: 0x3f000000}) {
		t.Errorf("ParseRange: %+v, %v", r, err)
	}
	for _, in := range []string{"", "1:2", "1:2:3:4", "x:0:1", "0:y:1", "0:0:z"} {
		if _, err := assemble.ParseRange(in); err == nil {
			t.Errorf("ParseRange(%q): no error", in)
		}
	}
	// Ranges collects repeated --map options.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var maps assemble.Ranges
	fs.Var(&maps, "map", "")
	if err := fs.Parse([]string{"--map", "0:0:1M", "--map=1M:4G:4K"}); err != nil || len(maps) != 2 || maps[1] != (assemble.Range{Off: 1 << 20, Phys: 4 << 30, Size: 4 << 10}) {
		t.Errorf("--map twice: %v, %+v", err, maps)
	}
	if err := fs.Parse([]string{"--map", "1:2"}); err == nil || len(maps) != 2 {
		t.Errorf("bad --map: %v, %+v", err, maps)
	}
}
