package assemble_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/gokdump/gokdump/assemble"
	"github.com/gokdump/gokdump/assemble/assembletest"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/vmcore"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzAssemble from the seed builder")

// fuzzHeaderAddr is where FuzzAssemble looks for the ELF core header in its RAM.
const fuzzHeaderAddr = 0x40

// fuzzSeeds are small machines (2 KiB of RAM: small inputs fuzz faster) with a header at fuzzHeaderAddr.
func fuzzSeeds(t testing.TB) map[string][]byte {
	vi := dumpfile.VMCOREINFONote([]byte("OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\n"))
	base := assembletest.Header{
		Addr: fuzzHeaderAddr,
		Notes: []assembletest.NoteBuffer{
			{At: 0x200, Size: 0x180, Notes: cpuNotes(0)},
			{At: 0x380, Size: 0x80, Notes: vi},
		},
		Loads: []assemble.Load{
			{Phys: 0x1000, At: 0x400, Virt: directMap + 0x1000, Size: 0x400},
			{Phys: 0, At: 0x700, Virt: directMap, Size: 0x100}, // kexec_load's backup
			{Phys: 0x1000, At: 0x400, Virt: kernelText, Size: 0x200},
		},
	}
	out := map[string][]byte{}
	add := func(name string, h assembletest.Header, edit func([]byte)) {
		ram := make([]byte, 0x800)
		for i := range ram {
			ram[i] = byte(i * 7)
		}
		if _, err := assembletest.Place(ram, h); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(ram)
		}
		out[name] = ram
	}
	add("kernel", base, nil)
	full := base
	full.Notes = []assembletest.NoteBuffer{{At: 0x200, Size: uint64(len(vi)), Notes: vi, NoTerminator: true}}
	add("full-buffer", full, nil)
	add("xnum", base, func(ram []byte) {
		n := len(base.Notes) + len(base.Loads)
		shoff := uint64(64 + 56*n)
		copy(ram[fuzzHeaderAddr+56:], le16(0xffff))
		copy(ram[fuzzHeaderAddr+40:], le64(shoff))
		copy(ram[fuzzHeaderAddr+58:], le16(64))
		clear(ram[fuzzHeaderAddr+shoff : fuzzHeaderAddr+shoff+64])
		copy(ram[fuzzHeaderAddr+shoff+44:], le32(uint32(n)))
	})
	add("bad-note", base, func(ram []byte) { copy(ram[0x384:], le32(0x300)) })
	return out
}

// TestFuzzSeeds keeps the checked-in seed corpus equal to what the builder makes
// (go test -run TestFuzzSeeds -update-seeds rewrites it).
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]any{}
	for name, ram := range fuzzSeeds(t) {
		seeds[name] = []any{ram}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzAssemble": seeds}, *updateSeeds,
		"go test ./assemble -run TestFuzzSeeds -update-seeds")
}

// FuzzAssemble treats its input as physical memory with an ELF core header at
// fuzzHeaderAddr: the assembler must refuse bad headers with its own error types,
// never panic or hang, and whatever it accepts must read back as a vmcore with the
// header's loads and the same bytes through ReadAt as through WriteTo.
func FuzzAssemble(f *testing.F) {
	for _, ram := range fuzzSeeds(f) {
		f.Add(ram)
	}
	f.Fuzz(func(t *testing.T, ram []byte) {
		mem, err := assemble.NewMemory(bytes.NewReader(ram), "fuzz", int64(len(ram)), nil)
		if err != nil {
			t.Fatal(err)
		}
		core, err := assemble.New(mem, fuzzHeaderAddr)
		if err != nil {
			var fe *assemble.FormatError
			var me *assemble.MissingError
			if !errors.As(err, &fe) && !errors.As(err, &me) {
				t.Fatalf("error of an unexpected kind: %v", err)
			}
			return
		}
		if len(core.Notes) > len(ram) {
			t.Fatalf("%d bytes of notes from %d bytes of memory", len(core.Notes), len(ram))
		}
		// Each load reads at most all of memory; keep the output small.
		if core.Size() > 16<<20 {
			return
		}
		var out bytes.Buffer
		if _, err := core.WriteTo(&out); err != nil {
			t.Fatalf("WriteTo after a successful New: %v", err)
		}
		all, err := io.ReadAll(io.NewSectionReader(core, 0, core.Size()))
		if err != nil || !bytes.Equal(all, out.Bytes()) {
			t.Fatalf("ReadAt and WriteTo differ (%v)", err)
		}
		vf, err := vmcore.NewFile(bytes.NewReader(out.Bytes()), int64(out.Len()), "assembled")
		if err != nil {
			t.Fatalf("the assembled vmcore does not read back: %v", err)
		}
		if len(vf.Loads) != len(core.Header.Loads) {
			t.Fatalf("%d PT_LOADs read back, header has %d", len(vf.Loads), len(core.Header.Loads))
		}
		for i, l := range core.Header.Loads {
			s := vf.Loads[i]
			if s.Phys != l.Phys || s.MemSize != l.Size || s.FileSize != l.Size {
				t.Fatalf("PT_LOAD %d reads back as %+v, header says %+v", i, s, l)
			}
			if l.Size > 0 && !bytes.Equal(out.Bytes()[s.Offset:s.Offset+s.FileSize], ram[l.At:l.At+l.Size]) {
				t.Fatalf("PT_LOAD %d does not hold memory at %#x", i, l.At)
			}
		}
	})
}
