package assemble

import (
	"debug/elf"
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/format/elfcore"
)

// Bounds on what a header in memory may make us read and hold. A kernel-built header
// has one PT_NOTE per possible CPU, one for VMCOREINFO and one PT_LOAD per range of
// System RAM: hundreds on large machines, not hundreds of thousands.
const (
	maxProgs       = 1 << 18  // program headers: 14 MiB of table
	maxNoteSegment = 16 << 20 // p_memsz of one PT_NOTE (the kernel's are a few hundred bytes to a few KiB)
	maxNoteBytes   = 64 << 20 // all PT_NOTE segments together
)

// FormatError reports an ELF core header in memory that is not what the kernel (or
// kexec-tools) writes. Phys is the physical address of the offending field or note.
type FormatError struct {
	Source string // the memory source
	Phys   uint64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("assemble: %s: ELF core header: physical %#x: %s", e.Source, e.Phys, e.Msg)
}

// NoteSegment is one PT_NOTE of the header: at most MaxSize bytes of notes (p_memsz)
// at physical address At (p_offset), ended by an empty note when shorter.
type NoteSegment struct {
	Index   int // program header index
	At      uint64
	MaxSize uint64
}

// Load is one PT_LOAD of the header: Size bytes (p_memsz) of the crashed kernel's
// physical memory Phys (p_paddr), mapped at Virt (p_vaddr), whose bytes are at
// physical address At (p_offset): the same as Phys except for memory the first kernel
// copied aside (kexec_load's backup of the low 640 KiB).
type Load struct {
	Index          int // program header index
	Phys, Virt, At uint64
	Size           uint64
}

// Header is the crashed kernel's ELF core header as read from memory.
type Header struct {
	Addr  uint64 // physical address of the ELF header
	Notes []NoteSegment
	Loads []Load
	// Ignored counts program headers of other types (PT_NULL and the like), which
	// carry no data for a vmcore.
	Ignored int
}

// ReadHeader reads and checks the ELF core header at physical address addr. The ELF
// header and the program header table are read by package elfcore, the parser
// vmcore reads core files with: it checks what kexec-tools' kdump program did (magic,
// ELFCLASS64, native byte order, EV_CURRENT, ET_CORE, header sizes, e_phnum > 0) and
// that the machine is x86_64, the only one gokdump writes cores for. What the program
// headers mean here (p_offset is a physical address, p_memsz bounds the notes) is
// checked below. Errors are *FormatError for a bad header, *MissingError for memory
// the source does not hold, or read errors.
func ReadHeader(mem *Memory, addr uint64) (*Header, error) {
	bad := func(off uint64, format string, args ...any) error {
		return &FormatError{Source: mem.name, Phys: addr + off, Msg: fmt.Sprintf(format, args...)}
	}
	src := headerSource{mem, addr}
	eh, err := elfcore.ReadHeader(src, -1, maxProgs)
	if err != nil {
		return nil, src.fromFormat(err)
	}
	h := &Header{Addr: addr}
	var noteBytes uint64
	err = eh.Progs(src, -1, func(p elfcore.Prog) error {
		idx, off := p.Index, uint64(p.HdrOff)
		at, virt, phys, memsz := p.Off, p.Vaddr, p.Paddr, p.Memsz
		switch elf.ProgType(p.Type) {
		case elf.PT_NOTE:
			if memsz > maxNoteSegment {
				return bad(off+40, "PT_NOTE %d: p_memsz %#x is more than the %#x bytes of notes a segment may hold", idx, memsz, maxNoteSegment)
			}
			if at+memsz < at {
				return bad(off+8, "PT_NOTE %d: p_offset %#x + p_memsz %#x overflows", idx, at, memsz)
			}
			if noteBytes += memsz; noteBytes > maxNoteBytes {
				return bad(off+40, "PT_NOTE %d: the PT_NOTEs together exceed %#x bytes", idx, maxNoteBytes)
			}
			h.Notes = append(h.Notes, NoteSegment{Index: idx, At: at, MaxSize: memsz})
		case elf.PT_LOAD:
			if memsz > 0 && (phys+memsz-1 < phys || at+memsz-1 < at) {
				return bad(off+8, "PT_LOAD %d: p_paddr %#x or p_offset %#x + p_memsz %#x overflows", idx, phys, at, memsz)
			}
			h.Loads = append(h.Loads, Load{Index: idx, Phys: phys, Virt: virt, At: at, Size: memsz})
		default:
			h.Ignored++
		}
		return nil
	})
	if err != nil {
		return nil, src.fromFormat(err)
	}
	if len(h.Loads) == 0 {
		return nil, bad(56, "none of the %d program headers is a PT_LOAD: no memory to dump", eh.ProgCount)
	}
	return h, nil
}

// headerSource reads the ELF core header at addr through package elfcore: offsets
// are from addr.
type headerSource struct {
	mem  *Memory
	addr uint64
}

func (s headerSource) ReadAt(p []byte, off int64) (int, error) {
	phys := s.addr + uint64(off)
	if off < 0 || phys < s.addr || phys+uint64(len(p)) < phys {
		return 0, &FormatError{Source: s.mem.name, Phys: s.addr, Msg: fmt.Sprintf("offset %#x from the header overflows the physical address space", off)}
	}
	if err := s.mem.ReadPhys(p, phys, "ELF core header"); err != nil {
		return 0, err
	}
	return len(p), nil
}

// fromFormat turns the errors of package elfcore into this package's: a
// *FormatError at the physical address of the bad field, or the source's error
// naming what was read.
func (s headerSource) fromFormat(err error) error {
	var ee *elfcore.FormatError
	if errors.As(err, &ee) {
		msg := ee.Msg
		if errors.Is(err, elfcore.ErrNoMagic) {
			msg = "no ELF magic: " + msg + " (is elfcorehdr= the right address?)"
		}
		return &FormatError{Source: s.mem.name, Phys: s.addr + uint64(ee.Off), Msg: msg}
	}
	var re *elfcore.ReadError
	if errors.As(err, &re) {
		var me *MissingError
		var rd *ReadError
		switch {
		case errors.As(re.Err, &me):
			me.What = re.What
			return me
		case errors.As(re.Err, &rd):
			rd.What = re.What
			return rd
		}
		return re.Err
	}
	return err
}

// ReadNotes reads every PT_NOTE's notes and returns them concatenated: the PT_NOTE of
// the vmcore. Like the kernel's /proc/vmcore (fs/proc/vmcore.c), each segment's notes
// end at a note with an empty name (the per-CPU buffers are larger than the notes in
// them) or where the next note would not fit in p_memsz; unlike the kernel, a note
// that overruns p_memsz is an error rather than silently dropped (elfcore.KernelNotes).
// Notes are 4-byte aligned, as the kernel writes them in ELF64 cores.
func (h *Header) ReadNotes(mem *Memory) ([]byte, error) {
	var out []byte
	for _, s := range h.Notes {
		what := fmt.Sprintf("PT_NOTE %d", s.Index)
		if err := mem.Check(s.At, s.MaxSize, what); err != nil {
			return nil, err
		}
		seg := make([]byte, s.MaxSize) // bounded by maxNoteSegment, and held by the source
		if err := mem.ReadPhys(seg, s.At, what); err != nil {
			return nil, err
		}
		_, n, err := elfcore.KernelNotes(seg)
		if err != nil {
			var fe *elfcore.FormatError
			if errors.As(err, &fe) {
				return nil, &FormatError{Source: mem.name, Phys: s.At + uint64(fe.Off), Msg: fmt.Sprintf("PT_NOTE %d: %s", s.Index, fe.Msg)}
			}
			return nil, err
		}
		out = append(out, seg[:n]...)
	}
	return out, nil
}
