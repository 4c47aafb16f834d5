// Package assembletest writes ELF core headers into physical memory images the way a
// crashing kernel leaves them (kexec_file_load's layout: an ELF64 ET_CORE header and
// its program headers, one PT_NOTE per CPU note buffer, one for VMCOREINFO, and the
// PT_LOADs), for tests of package assemble and of the commands built on it. Note
// buffers are filled the way the kernel fills them: the notes, an empty note, then
// whatever the rest of the buffer held (here 0xa5 bytes), so an assembler that reads
// past the empty note is caught.
//
//	ram := make([]byte, 16<<20)
//	notes, err := assembletest.Place(ram, assembletest.Header{
//		Addr:  0xf00000,
//		Notes: []assembletest.NoteBuffer{{At: 0xf10000, Size: 0x200, Notes: dumpfile.PRStatusNote(&pr)}},
//		Loads: []assemble.Load{{Phys: 0x100000, At: 0x100000, Virt: 0xffff888000100000, Size: 0xe00000}},
//	})
//	// assemble.New(mem, 0xf00000) must give a vmcore whose notes are notes.
package assembletest

import (
	"debug/elf"
	"encoding/binary"
	"fmt"

	"github.com/gokdump/gokdump/assemble"
)

// NoteBuffer is one PT_NOTE: a buffer of Size bytes (p_memsz) at physical address At
// (p_offset) holding Notes, encoded notes (e.g. dumpfile.PRStatusNote), at its start.
type NoteBuffer struct {
	At, Size uint64
	Notes    []byte
	// NoTerminator leaves out the empty note after Notes (a buffer the notes fill
	// exactly needs none).
	NoTerminator bool
}

// Header is an ELF core header to place in memory.
type Header struct {
	Addr  uint64 // physical address of the ELF header; program headers follow it
	Notes []NoteBuffer
	Loads []assemble.Load // Index is ignored
	// Extra program headers of other types (e.g. PT_NULL), after the loads.
	Extra []elf.Prog64
}

// Fill is the byte note buffers hold after their notes and empty note.
const Fill = 0xa5

// Encode returns the ELF header and program headers of h (p_offset of each PT_NOTE
// is its buffer's address, p_paddr 0, as the kernel writes them).
func Encode(h Header) []byte {
	le := binary.LittleEndian
	phnum := len(h.Notes) + len(h.Loads) + len(h.Extra)
	b := make([]byte, 64+56*phnum)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	b[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(b[16:], uint16(elf.ET_CORE))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(b[32:], 64) // e_phoff
	le.PutUint16(b[52:], 64) // e_ehsize
	le.PutUint16(b[54:], 56) // e_phentsize
	le.PutUint16(b[56:], uint16(min(phnum, 0xffff)))
	p := b[64:]
	put := func(ph elf.Prog64) {
		le.PutUint32(p[0:], ph.Type)
		le.PutUint32(p[4:], ph.Flags)
		le.PutUint64(p[8:], ph.Off)
		le.PutUint64(p[16:], ph.Vaddr)
		le.PutUint64(p[24:], ph.Paddr)
		le.PutUint64(p[32:], ph.Filesz)
		le.PutUint64(p[40:], ph.Memsz)
		le.PutUint64(p[48:], ph.Align)
		p = p[56:]
	}
	for _, n := range h.Notes {
		put(elf.Prog64{Type: uint32(elf.PT_NOTE), Off: n.At, Filesz: n.Size, Memsz: n.Size})
	}
	for _, l := range h.Loads {
		put(elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W | elf.PF_X),
			Off: l.At, Vaddr: l.Virt, Paddr: l.Phys, Filesz: l.Size, Memsz: l.Size})
	}
	for _, x := range h.Extra {
		put(x)
	}
	return b
}

// Place writes h into ram (physical memory from address 0) and returns the notes an
// assembled vmcore must hold: each buffer's notes, in order.
func Place(ram []byte, h Header) ([]byte, error) {
	put := func(at uint64, b []byte, what string) error {
		if at > uint64(len(ram)) || uint64(len(b)) > uint64(len(ram))-at {
			return fmt.Errorf("assembletest: %s at %#x+%#x is beyond RAM (%#x bytes)", what, at, len(b), len(ram))
		}
		copy(ram[at:], b)
		return nil
	}
	if err := put(h.Addr, Encode(h), "ELF core header"); err != nil {
		return nil, err
	}
	var want []byte
	for i, n := range h.Notes {
		buf := make([]byte, n.Size)
		for j := range buf {
			buf[j] = Fill
		}
		end := copy(buf, n.Notes)
		if end < len(n.Notes) {
			return nil, fmt.Errorf("assembletest: note buffer %d: %d bytes of notes do not fit in %d", i, len(n.Notes), n.Size)
		}
		if !n.NoTerminator {
			if uint64(end)+12 > n.Size {
				return nil, fmt.Errorf("assembletest: note buffer %d: no room for the empty note after %d bytes of notes", i, end)
			}
			clear(buf[end : end+12])
		}
		if err := put(n.At, buf, fmt.Sprintf("note buffer %d", i)); err != nil {
			return nil, err
		}
		want = append(want, n.Notes...)
	}
	return want, nil
}
