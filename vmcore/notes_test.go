package vmcore_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// TestElfcorehdrLayout reads the layout the kernel's elfcorehdr has: one
// PT_NOTE per CPU sized as an upper bound with an empty note ending the
// real data, one PT_NOTE for VMCOREINFO, and PT_LOADs whose p_offset is the
// physical address (here: an arbitrary offset, which must be honoured).
func TestElfcorehdrLayout(t *testing.T) {
	core, low, high := elfcorehdrCore()
	f := openBytes(t, "elfcorehdr", core)
	if len(f.Notes) != 3 {
		t.Fatalf("%d notes: %+v", len(f.Notes), f.Notes)
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
