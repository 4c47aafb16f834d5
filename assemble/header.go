package assemble

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// ELF64 structure sizes (gABI) and the fields this package reads.
const (
	ehdrSize = 64 // Elf64_Ehdr
	phdrSize = 56 // Elf64_Phdr
	shdrSize = 64 // Elf64_Shdr
	pnXNum   = 0xffff

	// Offsets of Elf64_Ehdr fields, for error messages naming the bad field.
	offType      = 16
	offMachine   = 18
	offVersion   = 20
	offPhoff     = 32
	offShoff     = 40
	offEhsize    = 52
	offPhentsize = 54
	offPhnum     = 56
	offShentsize = 58
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
// header is checked as kexec-tools' kdump program did (magic, ELFCLASS64, native byte
// order, EV_CURRENT, ET_CORE, header sizes, e_phnum > 0), and for x86_64, the only
// machine gokdump writes cores for. Errors are *FormatError for a bad header,
// *MissingError for memory the source does not hold, or read errors.
func ReadHeader(mem *Memory, addr uint64) (*Header, error) {
	bad := func(off uint64, format string, args ...any) error {
		return &FormatError{Source: mem.name, Phys: addr + off, Msg: fmt.Sprintf(format, args...)}
	}
	var eh [ehdrSize]byte
	if err := mem.ReadPhys(eh[:], addr, "ELF header"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch {
	case string(eh[:4]) != elf.ELFMAG:
		return nil, bad(0, "no ELF magic: found % x, want 7f 45 4c 46 (is elfcorehdr= the right address?)", eh[:4])
	case elf.Class(eh[elf.EI_CLASS]) != elf.ELFCLASS64:
		return nil, bad(elf.EI_CLASS, "class %v, want ELFCLASS64", elf.Class(eh[elf.EI_CLASS]))
	case elf.Data(eh[elf.EI_DATA]) != elf.ELFDATA2LSB:
		return nil, bad(elf.EI_DATA, "byte order %v, want the native ELFDATA2LSB", elf.Data(eh[elf.EI_DATA]))
	case elf.Version(eh[elf.EI_VERSION]) != elf.EV_CURRENT:
		return nil, bad(elf.EI_VERSION, "e_ident version %d, want EV_CURRENT (1)", eh[elf.EI_VERSION])
	case elf.Type(le.Uint16(eh[offType:])) != elf.ET_CORE:
		return nil, bad(offType, "type %v, want ET_CORE", elf.Type(le.Uint16(eh[offType:])))
	case elf.Version(le.Uint32(eh[offVersion:])) != elf.EV_CURRENT:
		return nil, bad(offVersion, "e_version %d, want EV_CURRENT (1)", le.Uint32(eh[offVersion:]))
	case le.Uint16(eh[offEhsize:]) != ehdrSize:
		return nil, bad(offEhsize, "e_ehsize %d, want %d", le.Uint16(eh[offEhsize:]), ehdrSize)
	case le.Uint16(eh[offPhentsize:]) != phdrSize:
		return nil, bad(offPhentsize, "e_phentsize %d, want %d", le.Uint16(eh[offPhentsize:]), phdrSize)
	case le.Uint16(eh[offPhnum:]) == 0:
		return nil, bad(offPhnum, "e_phnum is 0: no program headers")
	case elf.Machine(le.Uint16(eh[offMachine:])) != elf.EM_X86_64:
		return nil, bad(offMachine, "machine %v, want EM_X86_64 (gokdump writes x86_64 cores)", elf.Machine(le.Uint16(eh[offMachine:])))
	}
	phoff := le.Uint64(eh[offPhoff:])
	phnum := uint64(le.Uint16(eh[offPhnum:]))
	if phnum == pnXNum {
		// Extended numbering: the count is in sh_info of section header 0.
		shoff := le.Uint64(eh[offShoff:])
		if shoff == 0 || le.Uint16(eh[offShentsize:]) != shdrSize {
			return nil, bad(offShoff, "e_phnum is PN_XNUM but there is no section header 0 (e_shoff %#x, e_shentsize %d)", shoff, le.Uint16(eh[offShentsize:]))
		}
		if addr+shoff < addr || addr+shoff+shdrSize < addr+shoff {
			return nil, bad(offShoff, "e_shoff %#x overflows", shoff)
		}
		var sh [shdrSize]byte
		if err := mem.ReadPhys(sh[:], addr+shoff, "section header 0"); err != nil {
			return nil, err
		}
		phnum = uint64(le.Uint32(sh[44:])) // sh_info
	}
	if phnum > maxProgs {
		return nil, bad(offPhnum, "%d program headers, more than the %d this reader allows", phnum, maxProgs)
	}
	if phoff < ehdrSize || addr+phoff < addr || addr+phoff+phnum*phdrSize < addr+phoff {
		return nil, bad(offPhoff, "e_phoff %#x: program headers overlap the ELF header or overflow", phoff)
	}
	h := &Header{Addr: addr}
	var noteBytes uint64
	// Read the table in bounded chunks.
	const chunk = 1024
	buf := make([]byte, min(phnum, chunk)*phdrSize)
	for first := uint64(0); first < phnum; first += chunk {
		n := min(phnum-first, chunk)
		b := buf[:n*phdrSize]
		if err := mem.ReadPhys(b, addr+phoff+first*phdrSize, "program headers"); err != nil {
			return nil, err
		}
		for i := uint64(0); i < n; i++ {
			idx := first + i
			off := phoff + idx*phdrSize
			p := b[i*phdrSize : (i+1)*phdrSize]
			typ := elf.ProgType(le.Uint32(p[0:]))
			at, virt, phys := le.Uint64(p[8:]), le.Uint64(p[16:]), le.Uint64(p[24:])
			memsz := le.Uint64(p[40:])
			switch typ {
			case elf.PT_NOTE:
				if memsz > maxNoteSegment {
					return nil, bad(off+40, "PT_NOTE %d: p_memsz %#x is more than the %#x bytes of notes a segment may hold", idx, memsz, maxNoteSegment)
				}
				if at+memsz < at {
					return nil, bad(off+8, "PT_NOTE %d: p_offset %#x + p_memsz %#x overflows", idx, at, memsz)
				}
				if noteBytes += memsz; noteBytes > maxNoteBytes {
					return nil, bad(off+40, "PT_NOTE %d: the PT_NOTEs together exceed %#x bytes", idx, maxNoteBytes)
				}
				h.Notes = append(h.Notes, NoteSegment{Index: int(idx), At: at, MaxSize: memsz})
			case elf.PT_LOAD:
				if memsz > 0 && (phys+memsz-1 < phys || at+memsz-1 < at) {
					return nil, bad(off+8, "PT_LOAD %d: p_paddr %#x or p_offset %#x + p_memsz %#x overflows", idx, phys, at, memsz)
				}
				h.Loads = append(h.Loads, Load{Index: int(idx), Phys: phys, Virt: virt, At: at, Size: memsz})
			default:
				h.Ignored++
			}
		}
	}
	if len(h.Loads) == 0 {
		return nil, bad(offPhnum, "none of the %d program headers is a PT_LOAD: no memory to dump", phnum)
	}
	return h, nil
}

// ReadNotes reads every PT_NOTE's notes and returns them concatenated: the PT_NOTE of
// the vmcore. Like the kernel's /proc/vmcore (fs/proc/vmcore.c), each segment's notes
// end at a note with an empty name (the per-CPU buffers are larger than the notes in
// them) or where the next note would not fit in p_memsz; unlike the kernel, a note
// that overruns p_memsz is an error rather than silently dropped. Notes are 4-byte
// aligned, as the kernel writes them in ELF64 cores.
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
		n, err := notesLength(seg)
		if err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				fe.Source, fe.Phys = mem.name, s.At+fe.Phys
				fe.Msg = fmt.Sprintf("PT_NOTE %d: %s", s.Index, fe.Msg)
			}
			return nil, err
		}
		out = append(out, seg[:n]...)
	}
	return out, nil
}

// notesLength returns how many bytes of seg are notes. Errors are *FormatError with
// Phys relative to seg.
func notesLength(seg []byte) (int, error) {
	le := binary.LittleEndian
	pos := uint64(0)
	end := uint64(len(seg))
	// Each pass moves pos by at least a note header, so the loop ends.
	for pos+noteHeaderSize <= end {
		namesz := uint64(le.Uint32(seg[pos:]))
		descsz := uint64(le.Uint32(seg[pos+4:]))
		if namesz == 0 {
			break // the empty note that ends a CPU's notes
		}
		size := noteHeaderSize + align4(namesz) + align4(descsz)
		if size > end-pos {
			return 0, &FormatError{Phys: pos, Msg: fmt.Sprintf("note with name size %d and descriptor size %d (%d bytes) overruns p_memsz (%d bytes left)",
				namesz, descsz, size, end-pos)}
		}
		pos += size
	}
	return int(pos), nil
}

// noteHeaderSize is sizeof(Elf64_Nhdr).
const noteHeaderSize = 12

func align4(v uint64) uint64 { return (v + 3) &^ 3 }
