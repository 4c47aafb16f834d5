package vmcore_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/testenv"

	"github.com/gokdump/gokdump/vmcore"
)

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

// TestXNum writes cores with just fewer and just enough program headers
// for the extended numbering, and reads them back.
func TestXNum(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 3.6 MB header table; skipped in -short mode")
	}
	for _, loads := range []int{0xfffd, 0xfffe, 0x10100} {
		w := dumpfile.ELFWriter{Notes: dumpfile.EncodeNote("CORE", 1, make([]byte, 336))}
		// Zero-filled loads (no file data) keep the file small.
		for i := range loads {
			w.Loads = append(w.Loads, dumpfile.ELFLoad{Phys: uint64(i) * 0x2000, MemSize: 0x1000})
		}
		// The last load carries data, to check offsets after the section header.
		w.Loads[loads-1] = dumpfile.ELFLoad{Phys: uint64(loads-1) * 0x2000, FileSize: 0x1000, MemSize: 0x1000,
			Data: bytes.NewReader(pattern(uint64(loads-1)*0x2000, 0x1000))}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		xnum := binary.LittleEndian.Uint16(b[56:]) == 0xffff
		if xnum != (loads+1 >= 0xffff) {
			t.Fatalf("%d loads: PN_XNUM used = %v", loads, xnum)
		}
		f := openBytes(t, "xnum", b)
		if len(f.Loads) != loads || len(f.Notes) != 1 {
			t.Fatalf("%d loads written, %d read (%d notes)", loads, len(f.Loads), len(f.Notes))
		}
		p := make([]byte, 0x1000)
		last := uint64(loads-1) * 0x2000
		if _, err := f.ReadPhys(p, last); err != nil || !bytes.Equal(p, pattern(last, 0x1000)) {
			t.Fatalf("last load: %v", err)
		}
		if _, err := f.ReadPhys(p[:8], 0x1000); !errors.Is(err, vmcore.ErrHole) {
			t.Fatalf("gap between loads: err = %v, want a hole", err)
		}
		if xnum {
			// binutils follows the extended numbering too (debug/elf
			// does not: it reads e_phnum literally).
			readelf := testenv.NeedTool(t, "readelf", "binutils")
			path := filepath.Join(t.TempDir(), "xnum.core")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(readelf, "-h", path).CombinedOutput()
			if want := fmt.Sprintf("Number of program headers:         65535 (%d)", loads+1); err != nil || !strings.Contains(string(out), want) {
				t.Fatalf("readelf -h: %v\n%s\nwant %q", err, out, want)
			}
		}
	}
}

// TestOverlapPrefersFileData checks that where a segment's zero-filled tail
// overlaps another segment's stored bytes, the stored bytes are read.
func TestOverlapPrefersFileData(t *testing.T) {
	a := bytes.Repeat([]byte{0xaa}, 0x1000)
	b := bytes.Repeat([]byte{0xbb}, 0x1000)
	c := bytes.Repeat([]byte{0xcc}, 0x2000)
	core := buildCore(t, nil, 4, []memRange{
		{phys: 0x10000, data: a, zeroTail: 0x3000}, // zero tail over 0x11000..0x14000
		{phys: 0x12000, data: b},                   // stored inside a's tail
		{phys: 0x10800, data: c},                   // overlaps a's data (a wins) then a's tail (c wins)
	})
	f := openBytes(t, "overlap", core)
	p := make([]byte, 0x4000)
	if n, err := f.ReadPhys(p, 0x10000); err != nil || n != len(p) {
		t.Fatalf("ReadPhys: %d, %v", n, err)
	}
	// Stored pieces are cut where the lower-starting segment wins: a, then
	// c beyond a's data, then b beyond c, then a's zero tail.
	want := slices.Concat(a, c[0x800:], b[0x800:], make([]byte, 0x1000))
	if !bytes.Equal(p, want) {
		for i := range p {
			if p[i] != want[i] {
				t.Fatalf("first difference at 0x%x: %#x, want %#x", 0x10000+i, p[i], want[i])
			}
		}
	}
}

func TestPhysReaderAtAndOpen(t *testing.T) {
	notes, _, _ := standardNotes()
	core := buildCore(t, notes, 4, []memRange{{phys: 0x200000, data: pattern(0x200000, 0x3000)}})
	path := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(path, core, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sr := io.NewSectionReader(f.PhysReaderAt(), 0x201000, 0x1000)
	got, err := io.ReadAll(sr)
	if err != nil || !bytes.Equal(got, pattern(0x201000, 0x1000)) {
		t.Fatalf("section read: %v", err)
	}
	if _, err := f.PhysReaderAt().ReadAt(make([]byte, 1), -1); err == nil {
		t.Errorf("negative address accepted")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadPhys(make([]byte, 1), 0x200000); err == nil {
		t.Errorf("read after Close succeeded")
	}
	if _, err := vmcore.Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("not a core file at all, but long enough for an ELF header......"), 0o600)
	if _, err := vmcore.Open(bad); err == nil || !strings.Contains(err.Error(), bad+": offset 0x0: bad magic") {
		t.Errorf("Open(bad) = %v", err)
	}
}

func TestIncompleteFlag(t *testing.T) {
	core := buildCore(t, nil, 4, []memRange{{phys: 0, data: pattern(0, 0x1000)}})
	if openBytes(t, "c", core).Incomplete() {
		t.Fatal("complete core reported incomplete")
	}
	w := dumpfile.ELFWriter{}
	wa := &writerAt{b: core}
	if err := w.MarkIncomplete(wa); err != nil {
		t.Fatal(err)
	}
	if f := openBytes(t, "c", wa.b); !f.Incomplete() || f.Flags != vmcore.ElfFlagIncomplete {
		t.Fatalf("flags = %#x after MarkIncomplete", f.Flags)
	}
}

type writerAt struct{ b []byte }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	return copy(w.b[off:], p), nil
}
