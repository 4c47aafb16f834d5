package elfcore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/elfcore"
	"github.com/gokdump/gokdump/internal/testenv"
)

type noteSum struct {
	name string
	typ  uint32
	desc string
}

func summarize(notes []elfcore.Note) []noteSum {
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
			notes, err := elfcore.ParseNotes(c.data, c.align)
			if c.err != "" {
				if err == nil {
					t.Fatalf("no error, notes %+v", summarize(notes))
				}
				if fe, ok := err.(*elfcore.FormatError); !ok || fe.Off != c.off || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v (%T), want a *elfcore.FormatError at offset 0x%x saying %q", err, err, c.off, c.err)
				}
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
	if _, err := elfcore.ParseNotes(two, 2); err == nil {
		t.Errorf("alignment 2 accepted")
	}
}

func TestPRStatusLayout(t *testing.T) {
	// Every register gets a distinct value; check each lands at
	// pr_reg + 8*index in user_regs_struct order.
	var s elfcore.PRStatus
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
	var back elfcore.PRStatus
	if err := back.UnmarshalBinary(b); err != nil || back != s {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz from the writer")

// standardNotes encodes what the kernel writes: an NT_PRSTATUS note per CPU
// and the VMCOREINFO note.
func standardNotes(align int) []byte {
	var notes []byte
	for cpu := range 2 {
		s := elfcore.PRStatus{Pid: int32(100 + cpu)}
		s.Regs.RIP = 0xffffffff81000000 + uint64(cpu)
		desc, _ := s.MarshalBinary()
		notes = dumpfile.AppendNote(notes, align, elfcore.NoteNameCore, elfcore.NoteTypePRStatus, desc)
	}
	info := "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a1b000\n"
	return dumpfile.AppendNote(notes, align, elfcore.NoteNameVMCOREINFO, elfcore.NoteTypeVMCOREINFO, []byte(info))
}

func seedCorpora() map[string]map[string][]any {
	notes := standardNotes(4)
	terminated := append(bytes.Clone(notes), make([]byte, 0x40)...)
	return map[string]map[string][]any{
		"FuzzNotes": {
			"standard":   {notes, false},
			"align8":     {standardNotes(8), true},
			"terminated": {terminated, false},
			"short-tail": {append(dumpfile.EncodeNote("A", 2, []byte("x")), 1, 2, 3), false},
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with the writer. Regenerate
// with: go test ./format/elfcore -run TestFuzzSeeds -update
func TestFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, seedCorpora(), *update, "go test ./format/elfcore -run TestFuzzSeeds -update")
}

// checkFormatError fails unless err is a *FormatError with an offset
// inside [0, size].
func checkFormatError(t *testing.T, err error, size int64) {
	t.Helper()
	var fe *elfcore.FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error is %T, want *elfcore.FormatError: %v", err, err)
	}
	if fe.Off < 0 || fe.Off > size {
		t.Fatalf("error offset 0x%x outside [0, 0x%x]: %v", fe.Off, size, err)
	}
}

func FuzzNotes(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, align8 bool) {
		if knotes, n, err := elfcore.KernelNotes(data); err != nil {
			checkFormatError(t, err, int64(len(data)))
		} else {
			for _, k := range knotes {
				if n > len(data) || k.DescOffset+int64(len(k.Desc)) > int64(n) {
					t.Fatalf("kernel note %+v outside the %d bytes of notes found", k, n)
				}
			}
		}
		align := 4
		if align8 {
			align = 8
		}
		notes, err := elfcore.ParseNotes(data, align)
		if err != nil {
			checkFormatError(t, err, int64(len(data)))
			return
		}
		last := int64(-1)
		var again []byte
		for _, n := range notes {
			if n.Offset <= last || n.DescOffset < n.Offset+12 || n.DescOffset+int64(len(n.Desc)) > int64(len(data)) {
				t.Fatalf("note %+v out of order or out of bounds", n)
			}
			if !bytes.Equal(data[n.DescOffset:n.DescOffset+int64(len(n.Desc))], n.Desc) {
				t.Fatalf("Desc is not the data at DescOffset")
			}
			last = n.Offset
			again = dumpfile.AppendNote(again, align, n.Name, n.Type, n.Desc)
		}
		back, err := elfcore.ParseNotes(again, align)
		if err != nil {
			t.Fatalf("re-encoded notes do not parse: %v", err)
		}
		if !reflect.DeepEqual(summarize(back), summarize(notes)) {
			t.Fatalf("notes changed: %+v -> %+v", summarize(notes), summarize(back))
		}
	})
}
