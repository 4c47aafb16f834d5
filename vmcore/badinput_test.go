package vmcore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// Offsets in the standard core of badCore: the ELF header, two program
// headers (PT_NOTE at 0x40, PT_LOAD at 0x78), the notes from 0xb0: two
// NT_PRSTATUS of 0x164 bytes each, then VMCOREINFO at 0x378 (its text at
// 0x390).
const (
	offNotePhdr  = 0x40
	offLoadPhdr  = 0x78
	offNotes     = 0xb0
	offInfoNote  = 0x378
	offInfoText  = 0x390
	badCoreLoadN = 0x2000
)

func badCore(t testing.TB) []byte {
	notes, _, _ := standardNotes()
	b := buildCore(t, notes, 4, []memRange{{phys: 0x100000, data: pattern(0x100000, badCoreLoadN)}})
	le := binary.LittleEndian
	// Check the layout the offsets above describe, so a writer change
	// shows up here and not as confusing failures below.
	if le.Uint64(b[offNotePhdr+8:]) != offNotes || le.Uint32(b[offInfoNote+8:]) != 0 ||
		string(b[offInfoNote+12:offInfoNote+22]) != "VMCOREINFO" || !bytes.HasPrefix(b[offInfoText:], []byte("OSRELEASE=")) {
		t.Fatalf("standard core layout changed")
	}
	return b
}

func put16(off int, v uint16) func([]byte) []byte {
	return func(b []byte) []byte { binary.LittleEndian.PutUint16(b[off:], v); return b }
}
func put32(off int, v uint32) func([]byte) []byte {
	return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
}
func put64(off int, v uint64) func([]byte) []byte {
	return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
}
func setByte(off int, v byte) func([]byte) []byte {
	return func(b []byte) []byte { b[off] = v; return b }
}
func truncate(n int) func([]byte) []byte {
	return func(b []byte) []byte { return b[:n] }
}
func chain(fs ...func([]byte) []byte) func([]byte) []byte {
	return func(b []byte) []byte {
		for _, f := range fs {
			b = f(b)
		}
		return b
	}
}

// wantFormatError checks that err is a *FormatError for the file at the
// offset, and that its text says so and contains msg.
func wantFormatError(t *testing.T, err error, file string, off int64, msg string) {
	t.Helper()
	var fe *vmcore.FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want *vmcore.FormatError", err, err)
	}
	if fe.File != file || fe.Off != off {
		t.Errorf("error at %s offset 0x%x, want %s offset 0x%x: %v", fe.File, fe.Off, file, off, err)
	}
	text := err.Error()
	for _, s := range []string{"vmcore: " + file + ": ", fmt.Sprintf("offset 0x%x: ", off), msg} {
		if !strings.Contains(text, s) {
			t.Errorf("error %q does not contain %q", text, s)
		}
	}
}

func TestOpenBadInput(t *testing.T) {
	const name = "bad.vmcore"
	size := len(badCore(t))
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		off    int64
		msg    string
	}{
		{"empty file", truncate(0), 0, "truncated ELF header"},
		{"3 bytes", truncate(3), 0, "truncated ELF header"},
		{"truncated ELF header", truncate(40), 0, "truncated ELF header: want 64 bytes"},
		{"wrong magic", setByte(1, 'X'), 0, "bad magic"},
		{"ELFCLASS32", setByte(4, 1), 4, "ELFCLASS32 not supported"},
		{"big-endian", setByte(5, 2), 5, "ELFDATA2MSB not supported"},
		{"ident version", setByte(6, 0), 6, "ident version 0"},
		{"ET_EXEC", put16(16, 2), 0x10, "type ET_EXEC, want ET_CORE"},
		{"aarch64", put16(18, 183), 0x12, "EM_AARCH64, want EM_X86_64"},
		{"e_version", put32(20, 2), 0x14, "version 2"},
		{"e_ehsize", put16(52, 52), 0x34, "e_ehsize 52"},
		{"e_phentsize", put16(54, 32), 0x36, "e_phentsize 32"},
		{"zero program headers", put16(56, 0), 0x38, "no program headers"},
		{"phdr table past EOF", put64(32, uint64(size-60)), 0x20, "program header table"},
		{"phdr table inside header", put64(32, 8), 0x20, "program header table"},
		{"phdr count past EOF", put16(56, 0xfff0), 0x20, "program header table"},
		{"truncated in phdrs", truncate(100), 0x20, "not inside the file (size 100)"},
		{"truncated in notes", truncate(0x200), offNotePhdr, "PT_NOTE data [0xb0, +0x"},
		{"absurd namesz", put32(offNotes, 0xffffffff), offNotes, "name size 4294967295 overruns"},
		{"absurd descsz", put32(offNotes+4, 0xffffffff), offNotes, `note "CORE" type 1: descriptor size 4294967295 overruns`},
		{"second note descsz", put32(offNotes+0x164+4, 0x10000), offNotes + 0x164, "descriptor size 65536 overruns"},
		{"note overruns segment", func(b []byte) []byte {
			le := binary.LittleEndian
			le.PutUint64(b[offNotePhdr+32:], le.Uint64(b[offNotePhdr+32:])-8)
			return b
		}, offInfoNote, `note "VMCOREINFO" type 0: descriptor size`},
		{"garbage after notes", func(b []byte) []byte {
			le := binary.LittleEndian
			// Grow the segment over 8 bytes of load padding and make
			// them non-zero: too short for a header, and not padding.
			n := le.Uint64(b[offNotePhdr+32:])
			le.PutUint64(b[offNotePhdr+32:], n+8)
			b[offNotes+n+3] = 1
			return b
		}, 0, "too short for a note header"},
		{"load filesz > memsz", put64(offLoadPhdr+40, 0x1000), offLoadPhdr, "p_filesz 0x2000 larger than p_memsz 0x1000"},
		{"load phys overflows", put64(offLoadPhdr+24, 0xfffffffffffff000), offLoadPhdr, "physical range"},
		{"load offset overflows", put64(offLoadPhdr+8, 0xfffffffffffff000), offLoadPhdr, "file range"},
		{"XNUM without section header", chain(put16(56, 0xffff), put16(58, 64)), 0x28, "PN_XNUM but section header 0 offset 0x0"},
		{"XNUM bad e_shentsize", chain(put16(56, 0xffff), put64(40, 0x100)), 0x3a, "e_shentsize is 0"},
		{"XNUM truncated section header", chain(put16(56, 0xffff), put16(58, 64), put64(40, uint64(size-10))),
			int64(size - 10), "truncated section header 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(badCore(t))
			if c.name == "garbage after notes" {
				c.off = offNotes + int64(binary.LittleEndian.Uint64(b[offNotePhdr+32:])) - 8
			}
			f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), name)
			if err == nil {
				t.Fatalf("NewFile succeeded with %d loads, %d notes", len(f.Loads), len(f.Notes))
			}
			wantFormatError(t, err, name, c.off, c.msg)
		})
	}
}

func TestXNumCounts(t *testing.T) {
	const name = "xnum.vmcore"
	core := toXNum(badCore(t))
	shoff := int(binary.LittleEndian.Uint64(core[40:]))
	f := openBytes(t, name, core)
	if len(f.Loads) != 1 || len(f.Notes) != 3 {
		t.Fatalf("XNUM core: %d loads %d notes", len(f.Loads), len(f.Notes))
	}
	for _, c := range []struct {
		info uint32
		off  int64
		msg  string
	}{
		{0, 0x38, "no program headers"},
		{0xffffffff, 0x38, "4294967295 program headers, more than the supported"},
		{1000, 0x20, "program header table"},
	} {
		b := bytes.Clone(core)
		binary.LittleEndian.PutUint32(b[shoff+44:], c.info)
		_, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), name)
		wantFormatError(t, err, name, c.off, c.msg)
	}
}

// Problems found after Open: in the VMCOREINFO text, a PRSTATUS
// descriptor, or load data cut off by truncation.
func TestLateErrors(t *testing.T) {
	const name = "late.vmcore"
	t.Run("VMCOREINFO line without '='", func(t *testing.T) {
		b := badCore(t)
		i := bytes.Index(b, []byte("CRASHTIME="))
		b[i+len("CRASHTIME")] = ':'
		_, err := openBytes(t, name, b).VMCOREINFO()
		wantFormatError(t, err, name, int64(i), `VMCOREINFO line 3: no '=' in "CRASHTIME:`)
	})
	t.Run("VMCOREINFO symbol not hex", func(t *testing.T) {
		b := badCore(t)
		i := bytes.Index(b, []byte("SYMBOL(init_uts_ns)=ffff"))
		b[i+len("SYMBOL(init_uts_ns)=")] = 'g'
		_, err := openBytes(t, name, b).VMCOREINFO()
		wantFormatError(t, err, name, int64(i), `VMCOREINFO line 6: SYMBOL(init_uts_ns): value "gfff`)
	})
	t.Run("PRSTATUS too short", func(t *testing.T) {
		notes := dumpfile.EncodeNote("CORE", 1, make([]byte, 100))
		b := buildCore(t, notes, 4, nil)
		f := openBytes(t, name, b)
		_, err := f.PRStatus()
		wantFormatError(t, err, name, f.Notes[0].DescOffset, "NT_PRSTATUS descriptor is 100 bytes, want 336")
	})
	t.Run("no VMCOREINFO", func(t *testing.T) {
		b := buildCore(t, dumpfile.EncodeNote("CORE", 1, make([]byte, 336)), 4, nil)
		_, err := openBytes(t, name, b).VMCOREINFO()
		if !errors.Is(err, vmcore.ErrNoVMCOREINFO) || !strings.Contains(err.Error(), name) {
			t.Fatalf("err = %v, want ErrNoVMCOREINFO naming the file", err)
		}
	})
	t.Run("truncated load data", func(t *testing.T) {
		b := badCore(t)
		f0 := openBytes(t, name, b)
		loadOff := int64(f0.Loads[0].Offset)
		cut := loadOff + 0x1800
		f := openBytes(t, name, b[:cut])
		p := make([]byte, 0x1000)
		if n, err := f.ReadPhys(p, 0x100000); err != nil || n != len(p) || !bytes.Equal(p, pattern(0x100000, len(p))) {
			t.Fatalf("read before the cut: %d, %v", n, err)
		}
		n, err := f.ReadPhys(p, 0x101000)
		if n != 0x800 || !bytes.Equal(p[:n], pattern(0x101000, n)) {
			t.Errorf("read across the cut gave %d bytes, want 0x800 good ones", n)
		}
		wantFormatError(t, err, name, cut, "truncated: PT_LOAD data for physical address 0x101800")
		if errors.Is(err, vmcore.ErrHole) {
			t.Errorf("truncation reported as a hole")
		}
	})
}
