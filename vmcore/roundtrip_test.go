package vmcore_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// memRange is physical memory to put in a synthetic vmcore.
type memRange struct {
	phys, virt uint64
	data       []byte // stored bytes (FileSize)
	zeroTail   uint64 // extra MemSize read as zero
}

// pattern fills n bytes so that every byte depends on its physical address,
// which makes a read from the wrong place visible.
func pattern(phys uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		a := phys + uint64(i)
		b[i] = byte(a>>12) ^ byte(a) ^ byte(a>>20)*7
	}
	return b
}

// buildCore writes a vmcore with the given notes and ranges and returns its
// bytes.
func buildCore(t testing.TB, notes []byte, noteAlign int, ranges []memRange) []byte {
	t.Helper()
	w := dumpfile.ELFWriter{Notes: notes, NoteAlign: noteAlign}
	for _, r := range ranges {
		w.Loads = append(w.Loads, dumpfile.ELFLoad{
			Phys: r.phys, Virt: r.virt,
			FileSize: uint64(len(r.data)), MemSize: uint64(len(r.data)) + r.zeroTail,
			Data: bytes.NewReader(r.data),
		})
	}
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	l, err := w.Layout()
	if err != nil {
		t.Fatal(err)
	}
	if l.Size != uint64(buf.Len()) {
		t.Fatalf("Layout size %d, file %d", l.Size, buf.Len())
	}
	return buf.Bytes()
}

func openBytes(t testing.TB, name string, b []byte) *vmcore.File {
	t.Helper()
	f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	return f
}

// standardNotes is what a 2-CPU crash kernel would give: two PRSTATUS notes
// and a VMCOREINFO note.
func standardNotes() ([]byte, []vmcore.PRStatus, string) {
	cpus := []vmcore.PRStatus{
		{Pid: 1234, Regs: vmcore.RegsX86_64{RIP: 0xffffffff81234567, RSP: 0xffffc90000123f00, CS: 0x10, SS: 0x18, EFLAGS: 0x246}},
		{Pid: 0, Signo: 11, Cursig: 11, Regs: vmcore.RegsX86_64{R15: 15, R14: 14, RAX: 0xdead, GS: 0x2b, FSBase: 0x7f0000001000, OrigRAX: ^uint64(0)}},
	}
	var info dumpfile.VMCOREINFOText
	info.Standard("6.1.0-56-amd64", 4096, 1764132830, 0x20c00000)
	info.Set("BUILD-ID", "0123456789abcdef0123456789abcdef01234567")
	info.Symbol("init_uts_ns", 0xffffffff82a1b000)
	info.Size("page", 64)
	info.Offset("page.flags", 0)
	info.Length("mem_section", 2048)
	info.Number("PAGE_BUDDY_MAPCOUNT_VALUE", -129)
	info.Number("phys_base", 0x3e00000)
	info.Set("FUTURE_KEY", "anything at all")
	var notes []byte
	for i := range cpus {
		notes = append(notes, dumpfile.PRStatusNote(&cpus[i])...)
	}
	notes = append(notes, dumpfile.VMCOREINFONote(info.Bytes())...)
	return notes, cpus, info.String()
}

func TestRoundTrip(t *testing.T) {
	notes, cpus, infoText := standardNotes()
	ranges := []memRange{
		{phys: 0x1000, data: pattern(0x1000, 0x9e000)},
		{phys: 0x100000, virt: 0xffff888000100000, data: pattern(0x100000, 0x30000), zeroTail: 0x2000},
		// Kernel text: overlaps the direct map above, same bytes.
		{phys: 0x110000, virt: 0xffffffff81000000, data: pattern(0x110000, 0x10000)},
		// Directly adjacent to the previous range's end, to test spanning.
		{phys: 0x132000, data: pattern(0x132000, 0x1000)},
	}
	b := buildCore(t, notes, 4, ranges)

	// The standard library must agree it is a well-formed core.
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("debug/elf: %v", err)
	}
	if ef.Type != elf.ET_CORE || ef.Machine != elf.EM_X86_64 || len(ef.Progs) != 1+len(ranges) {
		t.Fatalf("debug/elf sees type %v machine %v %d progs", ef.Type, ef.Machine, len(ef.Progs))
	}

	f := openBytes(t, "rt.vmcore", b)
	if len(f.Loads) != len(ranges) {
		t.Fatalf("%d loads, want %d", len(f.Loads), len(ranges))
	}
	for i, r := range ranges {
		s := f.Loads[i]
		if s.Phys != r.phys || s.Virt != r.virt || s.FileSize != uint64(len(r.data)) || s.MemSize != uint64(len(r.data))+r.zeroTail {
			t.Errorf("load %d = %+v, want %+v", i, s, r)
		}
		if s.Offset%4096 != 0 {
			t.Errorf("load %d offset 0x%x not page aligned", i, s.Offset)
		}
	}
	if len(f.Notes) != 3 || f.Notes[2].Name != "VMCOREINFO" || f.Notes[0].Name != "CORE" {
		t.Fatalf("notes = %+v", f.Notes)
	}
	for _, n := range f.Notes {
		if !bytes.Equal(b[n.DescOffset:n.DescOffset+int64(len(n.Desc))], n.Desc) {
			t.Errorf("note %q DescOffset 0x%x does not point at its descriptor", n.Name, n.DescOffset)
		}
	}

	got, err := f.PRStatus()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cpus) {
		t.Errorf("PRStatus =\n%+v\nwant\n%+v", got, cpus)
	}

	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	if string(info.Raw()) != infoText {
		t.Errorf("Raw differs")
	}
	if v, ok := info.OSRelease(); !ok || v != "6.1.0-56-amd64" {
		t.Errorf("OSRelease = %q %v", v, ok)
	}
	if v, ok := info.CrashTime(); !ok || !v.Equal(time.Date(2025, 11, 26, 4, 53, 50, 0, time.UTC)) {
		t.Errorf("CrashTime = %v %v", v, ok)
	}
	if v, ok := info.Number("PAGE_BUDDY_MAPCOUNT_VALUE"); !ok || v != -129 {
		t.Errorf("Number = %d %v", v, ok)
	}
	if v, ok := info.PhysBase(); !ok || v != 0x3e00000 {
		t.Errorf("PhysBase = %#x %v", v, ok)
	}
	if v, ok := info.Symbol("init_uts_ns"); !ok || v != 0xffffffff82a1b000 {
		t.Errorf("Symbol = %#x %v", v, ok)
	}

	// Physical reads.
	type readCase struct {
		name    string
		addr    uint64
		n       int
		want    []byte // nil: pattern(addr, n)
		hole    bool   // expect wantLen bytes, then a HoleError at holeAt
		holeAt  uint64
		wantLen int
	}
	zeros := make([]byte, 0x2000)
	cases := []readCase{
		{name: "first byte", addr: 0x1000, n: 1},
		{name: "page", addr: 0x5000, n: 4096},
		{name: "overlap of text and direct map", addr: 0x10fff0, n: 0x40},
		{name: "zero tail", addr: 0x130000, n: 0x2000, want: zeros},
		{name: "data, zero tail, next range", addr: 0x12fff0, n: 0x2020,
			want: append(append(pattern(0x12fff0, 0x10), zeros...), pattern(0x132000, 0x10)...)},
		{name: "hole below first load", addr: 0x0, n: 16, hole: true, holeAt: 0x0},
		{name: "data then hole", addr: 0x9eff0, n: 0x20, hole: true, holeAt: 0x9f000, wantLen: 0x10},
		{name: "past the end", addr: 0x133000, n: 8, hole: true, holeAt: 0x133000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := make([]byte, c.n)
			n, err := f.ReadPhys(p, c.addr)
			if c.hole {
				var he *vmcore.HoleError
				if !errors.As(err, &he) || !errors.Is(err, vmcore.ErrHole) || he.Addr != c.holeAt {
					t.Fatalf("err = %v, want hole at 0x%x", err, c.holeAt)
				}
				if n != c.wantLen || !bytes.Equal(p[:n], pattern(c.addr, n)) {
					t.Fatalf("n = %d, want %d with matching data", n, c.wantLen)
				}
				return
			}
			if err != nil || n != c.n {
				t.Fatalf("ReadPhys = %d, %v", n, err)
			}
			want := c.want
			if want == nil {
				want = pattern(c.addr, c.n)
			}
			if !bytes.Equal(p, want) {
				t.Fatalf("data mismatch")
			}
		})
	}
}
