package vmcore_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

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

// coreSpec describes a synthetic vmcore built with dumpfile.ELFWriter.
type coreSpec struct {
	notes     []byte
	noteAlign int
	pageSize  uint64 // 0: the writer's default 4096; small values keep fuzz seeds small
	ranges    []memRange
}

func (c coreSpec) build(t testing.TB) []byte {
	t.Helper()
	w := dumpfile.ELFWriter{Notes: c.notes, NoteAlign: c.noteAlign, PageSize: c.pageSize}
	for _, r := range c.ranges {
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

func buildCore(t testing.TB, notes []byte, noteAlign int, ranges []memRange) []byte {
	return coreSpec{notes: notes, noteAlign: noteAlign, ranges: ranges}.build(t)
}

func openBytes(t testing.TB, name string, b []byte) *vmcore.File {
	t.Helper()
	f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	return f
}

// assemble builds a core by hand, for layouts the writer never produces
// (several PT_NOTEs, as in the kernel's elfcorehdr). Each program header's
// Off is relative to payload, which follows the headers.
func assemble(progs []elf.Prog64, payload []byte) []byte {
	base := uint64(64 + 56*len(progs))
	h := elf.Header64{
		Type: uint16(elf.ET_CORE), Machine: uint16(elf.EM_X86_64), Version: 1,
		Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(len(progs)),
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = 1
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, &h)
	for _, p := range progs {
		p.Off += base
		binary.Write(&buf, binary.LittleEndian, &p)
	}
	buf.Write(payload)
	return buf.Bytes()
}

// toXNum rewrites a core built by the writer (fewer than 0xffff headers) to
// the extended numbering form: e_phnum = PN_XNUM and the count in sh_info of
// a section header appended at the end.
func toXNum(core []byte) []byte {
	le := binary.LittleEndian
	out := bytes.Clone(core)
	phnum := le.Uint16(out[56:])
	le.PutUint64(out[40:], uint64(len(out))) // e_shoff
	le.PutUint16(out[56:], 0xffff)           // e_phnum
	le.PutUint16(out[58:], 64)               // e_shentsize
	le.PutUint16(out[60:], 1)                // e_shnum
	sh := elf.Section64{Type: uint32(elf.SHT_NULL), Size: 1, Info: uint32(phnum)}
	var buf bytes.Buffer
	binary.Write(&buf, le, &sh)
	return append(out, buf.Bytes()...)
}

// standardNotes is what a 2-CPU crash kernel would give: two PRSTATUS notes
// and a VMCOREINFO note.
func standardNotes() ([]byte, []vmcore.PRStatus, string) {
	cpus := []vmcore.PRStatus{
		{Pid: 1234, Regs: vmcore.RegsX86_64{RIP: 0xffffffff81234567, RSP: 0xffffc90000123f00, CS: 0x10, SS: 0x18, EFLAGS: 0x246}},
		{Pid: 0, Signo: 11, Cursig: 11, Regs: vmcore.RegsX86_64{R15: 15, R14: 14, RAX: 0xdead, GS: 0x2b, FSBase: 0x7f0000001000, OrigRAX: ^uint64(0)}},
	}
	notes := dumpfile.PRStatusNote(&cpus[0])
	notes = append(notes, dumpfile.PRStatusNote(&cpus[1])...)
	info := standardInfo()
	notes = append(notes, dumpfile.VMCOREINFONote([]byte(info))...)
	return notes, cpus, info
}

func standardInfo() string {
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
	return info.String()
}

// elfcorehdrCore builds the layout of the kernel's elfcorehdr: one PT_NOTE
// per CPU sized as an upper bound with an empty note ending the real data,
// one PT_NOTE for VMCOREINFO, and PT_LOADs whose p_offset is unrelated to
// p_paddr. It returns the core and the bytes of its two memory ranges
// (physical 0x1000 and 0x100000).
func elfcorehdrCore() (core, low, high []byte) {
	cpu0 := vmcore.PRStatus{Pid: 7, Regs: vmcore.RegsX86_64{RIP: 0x1234}}
	cpu1 := vmcore.PRStatus{Pid: 8, Regs: vmcore.RegsX86_64{RIP: 0x5678}}
	const slot = 0x170 // what the kernel reserves per CPU
	var payload []byte
	var progs []elf.Prog64
	for _, c := range []*vmcore.PRStatus{&cpu0, &cpu1} {
		n := dumpfile.PRStatusNote(c)
		buf := make([]byte, slot) // zero tail = the empty note and slack
		copy(buf, n)
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: uint64(len(payload)), Filesz: slot, Memsz: slot})
		payload = append(payload, buf...)
	}
	info := dumpfile.VMCOREINFONote([]byte(standardInfo()))
	progs = append(progs, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: uint64(len(payload)), Filesz: uint64(len(info)), Memsz: uint64(len(info))})
	payload = append(payload, info...)
	// Memory: stored out of order in the file, the low range last.
	high = pattern(0x100000, 0x800)
	low = pattern(0x1000, 0x400)
	progs = append(progs,
		elf.Prog64{Type: uint32(elf.PT_LOAD), Off: uint64(len(payload)) + 0x400, Paddr: 0x1000, Filesz: 0x400, Memsz: 0x400},
		elf.Prog64{Type: uint32(elf.PT_LOAD), Off: uint64(len(payload)), Paddr: 0x100000, Vaddr: 0xffff888000100000, Filesz: 0x800, Memsz: 0x800},
		elf.Prog64{Type: uint32(elf.PT_NULL)}, // ignored
	)
	// The high segment's second half is, in the file, the low segment's
	// bytes: a reader that ignores p_offset sees the difference.
	payload = append(append(payload, high[:0x400]...), low...)
	return assemble(progs, payload), low, high
}
