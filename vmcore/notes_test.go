package vmcore_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

type noteSum struct {
	name string
	typ  uint32
	desc string
}

func summarize(notes []vmcore.Note) []noteSum {
	var out []noteSum
	for _, n := range notes {
		out = append(out, noteSum{n.Name, n.Type, string(n.Desc)})
	}
	return out
}

func rawNoteHeader(namesz, descsz, typ uint32) []byte {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:], namesz)
	binary.LittleEndian.PutUint32(b[4:], descsz)
	binary.LittleEndian.PutUint32(b[8:], typ)
	return b[:]
}

func TestParseNotes(t *testing.T) {
	two := append(dumpfile.EncodeNote("CORE", 1, []byte("abc")), dumpfile.EncodeNote("VMCOREINFO", 0, []byte("K=v\n"))...)
	twoWant := []noteSum{{"CORE", 1, "abc"}, {"VMCOREINFO", 0, "K=v\n"}}
	two8 := dumpfile.AppendNote(dumpfile.AppendNote(nil, 8, "CORE", 1, []byte("abc")), 8, "VMCOREINFO", 0, []byte("K=v\n"))
	terminated := append(bytes.Clone(two), make([]byte, 12)...)
	terminated = append(terminated, dumpfile.EncodeNote("AFTER", 9, []byte("ignored"))...)
	noPad := dumpfile.EncodeNote("CORE", 1, []byte("abcde"))
	noPad = noPad[:len(noPad)-3] // last note without its padding
	cases := []struct {
		name  string
		data  []byte
		align int
		want  []noteSum
		err   string // substring; "" means success
		off   int64
	}{
		{name: "empty", data: nil, align: 4},
		{name: "two notes", data: two, align: 4, want: twoWant},
		{name: "8-byte aligned", data: two8, align: 8, want: twoWant},
		{name: "4-aligned notes read with the 8-byte rule are rejected", data: two, align: 8, err: "overruns", off: 0x20},
		{name: "stops at empty note", data: terminated, align: 4, want: twoWant},
		{name: "zero padding shorter than a header", data: append(bytes.Clone(two), 0, 0, 0, 0, 0, 0, 0, 0), align: 4, want: twoWant},
		{name: "last note unpadded", data: noPad, align: 4, want: []noteSum{{"CORE", 1, "abcde"}}},
		{name: "empty name", data: append(rawNoteHeader(0, 4, 7), 'd', 'e', 's', 'c'), align: 4, want: []noteSum{{"", 7, "desc"}}},
		{name: "garbage shorter than a header", data: append(bytes.Clone(two), 1, 2, 3), align: 4, err: "3 bytes left", off: int64(len(two))},
		{name: "namesz overruns", data: append(rawNoteHeader(100, 0, 1), "CORE"...), align: 4, err: "name size 100 overruns the note segment (4 bytes left)"},
		{name: "descsz overruns", data: append(rawNoteHeader(5, 8, 1), "CORE\x00\x00\x00\x00abcd"...), align: 4, err: `note "CORE" type 1: descriptor size 8 overruns the note segment (4 bytes left)`},
		{name: "absurd namesz", data: rawNoteHeader(0xffffffff, 0, 1), align: 4, err: "name size 4294967295"},
		{name: "absurd descsz", data: append(rawNoteHeader(4, 0xfffffff0, 1), "ABC\x00"...), align: 4, err: "descriptor size 4294967280"},
		{name: "second note bad", data: append(bytes.Clone(two), rawNoteHeader(1, 1, 1)...), align: 4, err: "name size 1 overruns the note segment (0 bytes left)", off: int64(len(two))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			notes, err := vmcore.ParseNotes(c.data, c.align)
			if c.err != "" {
				if err == nil {
					t.Fatalf("no error, notes %+v", summarize(notes))
				}
				wantFormatOff(t, err, c.off, c.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(notes); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("notes = %+v, want %+v", got, c.want)
			}
			for _, n := range notes {
				if n.Offset%int64(c.align) != 0 || n.DescOffset%int64(c.align) != 0 {
					t.Errorf("note %q at 0x%x desc 0x%x not %d-aligned", n.Name, n.Offset, n.DescOffset, c.align)
				}
				if !bytes.Equal(c.data[n.DescOffset:n.DescOffset+int64(len(n.Desc))], n.Desc) {
					t.Errorf("DescOffset of %q wrong", n.Name)
				}
			}
		})
	}
	if _, err := vmcore.ParseNotes(two, 2); err == nil {
		t.Errorf("alignment 2 accepted")
	}
}

func wantFormatOff(t *testing.T, err error, off int64, msg string) {
	t.Helper()
	fe, ok := err.(*vmcore.FormatError)
	if !ok {
		t.Fatalf("err = %v (%T), want *vmcore.FormatError", err, err)
	}
	if fe.Off != off || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %v, want offset 0x%x and %q", err, off, msg)
	}
}

// TestElfcorehdrLayout reads the layout the kernel's elfcorehdr has: one
// PT_NOTE per CPU sized as an upper bound with an empty note ending the
// real data, one PT_NOTE for VMCOREINFO, and PT_LOADs whose p_offset is the
// physical address (here: an arbitrary offset, which must be honoured).
func TestElfcorehdrLayout(t *testing.T) {
	core, low, high := elfcorehdrCore()
	f := openBytes(t, "elfcorehdr", core)
	if len(f.Notes) != 3 {
		t.Fatalf("%d notes: %+v", len(f.Notes), summarize(f.Notes))
	}
	st, err := f.PRStatus()
	if err != nil || len(st) != 2 || st[0].Pid != 7 || st[1].Regs.RIP != 0x5678 {
		t.Fatalf("PRStatus = %+v, %v", st, err)
	}
	if _, err := f.VMCOREINFO(); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 0x400)
	if _, err := f.ReadPhys(p, 0x1000); err != nil || !bytes.Equal(p, low) {
		t.Fatalf("low range: %v", err)
	}
	if _, err := f.ReadPhys(p, 0x100000); err != nil || !bytes.Equal(p, high[:0x400]) {
		t.Fatalf("high range: %v", err)
	}
	// The second half of the high range is at Offset+0x400, which holds the
	// low range's bytes: a reader that ignored p_offset would not see them.
	if _, err := f.ReadPhys(p, 0x100400); err != nil || !bytes.Equal(p, low) {
		t.Fatalf("p_offset not honoured: %v", err)
	}
}

// TestNoteAlign8 checks that a PT_NOTE with p_align 8 is read with the
// gABI's 8-byte rule.
func TestNoteAlign8(t *testing.T) {
	cpu := vmcore.PRStatus{Pid: 42}
	desc, _ := cpu.MarshalBinary()
	notes := dumpfile.AppendNote(nil, 8, "CORE", 1, desc)
	notes = dumpfile.AppendNote(notes, 8, "VMCOREINFO", 0, []byte(standardInfo()))
	f := openBytes(t, "align8", buildCore(t, notes, 8, nil))
	st, err := f.PRStatus()
	if err != nil || len(st) != 1 || st[0].Pid != 42 {
		t.Fatalf("PRStatus = %+v, %v", st, err)
	}
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := info.OSRelease(); r != "6.1.0-56-amd64" {
		t.Fatalf("OSRelease %q", r)
	}
}

func TestPRStatusLayout(t *testing.T) {
	// Every register gets a distinct value; check each lands at
	// pr_reg + 8*index in user_regs_struct order.
	var s vmcore.PRStatus
	s.Pid, s.PPid, s.Pgrp, s.Sid = 0x11, 0x22, 0x33, 0x44
	s.Signo, s.Cursig, s.FPValid = 6, 6, 1
	order := []*uint64{&s.Regs.R15, &s.Regs.R14, &s.Regs.R13, &s.Regs.R12, &s.Regs.RBP, &s.Regs.RBX,
		&s.Regs.R11, &s.Regs.R10, &s.Regs.R9, &s.Regs.R8, &s.Regs.RAX, &s.Regs.RCX, &s.Regs.RDX,
		&s.Regs.RSI, &s.Regs.RDI, &s.Regs.OrigRAX, &s.Regs.RIP, &s.Regs.CS, &s.Regs.EFLAGS,
		&s.Regs.RSP, &s.Regs.SS, &s.Regs.FSBase, &s.Regs.GSBase, &s.Regs.DS, &s.Regs.ES,
		&s.Regs.FS, &s.Regs.GS}
	for i, r := range order {
		*r = 0x1000 + uint64(i)
	}
	b, err := s.MarshalBinary()
	if err != nil || len(b) != 336 {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
	}
	le := binary.LittleEndian
	for i := range order {
		if got := le.Uint64(b[112+8*i:]); got != 0x1000+uint64(i) {
			t.Errorf("register %d at offset %d = %#x", i, 112+8*i, got)
		}
	}
	if le.Uint32(b[32:]) != 0x11 || le.Uint32(b[44:]) != 0x44 || le.Uint32(b[0:]) != 6 || le.Uint16(b[12:]) != 6 || le.Uint32(b[328:]) != 1 {
		t.Errorf("fixed fields at wrong offsets")
	}
	var back vmcore.PRStatus
	if err := back.UnmarshalBinary(b); err != nil || back != s {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
