package dumpfile

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gokdump/gokdump/format/elfcore"
)

// ELF64 structure sizes (gABI), from the layout shared with the readers.
const (
	ehdrSize = elfcore.HeaderSize
	phdrSize = elfcore.ProgSize
	shdrSize = elfcore.SectionSize
	pnXNum   = elfcore.PNXNum // e_phnum value meaning "see sh_info of section 0"
)

// ELFLoad is one PT_LOAD to write: MemSize bytes of physical memory at
// Phys, of which the first FileSize bytes are stored (read from Data) and
// the rest read back as zero. makedumpfile -E uses that tail for excluded
// zero pages at the end of a range.
type ELFLoad struct {
	Phys, Virt        uint64
	FileSize, MemSize uint64
	Data              io.Reader // yields exactly FileSize bytes; may be nil when FileSize is 0
}

// ELFWriter writes an ELF64 x86_64 ET_CORE file: the ELF header, the
// program headers (one PT_NOTE, then the PT_LOADs in order; the extended
// PN_XNUM numbering when there are 0xffff or more), the notes, and each
// load's data at a PageSize-aligned file offset. It streams: nothing is
// seeked, so any io.Writer (a pipe, an ssh channel) works, and data is copied
// through a fixed-size buffer whatever the dump's size.
type ELFWriter struct {
	Notes     []byte // encoded notes (EncodeNote, PRStatusNote, VMCOREINFONote)
	NoteAlign int    // alignment Notes were encoded with: 4 (0 means 4) or 8; written as p_align
	Loads     []ELFLoad
	Flags     uint32 // e_flags; elfcore.FlagIncomplete marks a dump cut short
	PageSize  uint64 // file alignment of load data; 0 means 4096
}

// ELFLayout says where WriteTo puts things.
type ELFLayout struct {
	Phnum       int      // program headers, PT_NOTE included
	NoteOffset  uint64   // file offset of the notes
	LoadOffsets []uint64 // file offset of each load's data
	Size        uint64   // total file size
}

// Layout computes the file layout WriteTo will produce, checking the
// loads.
func (w *ELFWriter) Layout() (ELFLayout, error) {
	page := w.PageSize
	if page == 0 {
		page = 4096
	}
	if page&(page-1) != 0 {
		return ELFLayout{}, fmt.Errorf("dumpfile: page size %d is not a power of two", page)
	}
	align := uint64(w.noteAlign())
	if align != 4 && align != 8 {
		return ELFLayout{}, fmt.Errorf("dumpfile: note alignment %d, want 4 or 8", align)
	}
	if uint64(len(w.Notes)) > 1<<32 {
		return ELFLayout{}, fmt.Errorf("dumpfile: %d bytes of notes is too many", len(w.Notes))
	}
	l := ELFLayout{Phnum: 1 + len(w.Loads)}
	if uint64(l.Phnum) > 1<<32-1 {
		return ELFLayout{}, fmt.Errorf("dumpfile: %d program headers is too many", l.Phnum)
	}
	end := uint64(ehdrSize + phdrSize*l.Phnum)
	if l.Phnum >= pnXNum {
		end += shdrSize
	}
	l.NoteOffset = roundUp(end, align)
	cur := roundUp(l.NoteOffset+uint64(len(w.Notes)), page)
	l.LoadOffsets = make([]uint64, len(w.Loads))
	for i, ld := range w.Loads {
		if ld.FileSize > ld.MemSize {
			return ELFLayout{}, fmt.Errorf("dumpfile: load %d (phys 0x%x): FileSize 0x%x larger than MemSize 0x%x", i, ld.Phys, ld.FileSize, ld.MemSize)
		}
		if ld.MemSize > 0 && ld.Phys+ld.MemSize-1 < ld.Phys {
			return ELFLayout{}, fmt.Errorf("dumpfile: load %d: physical range 0x%x+0x%x overflows", i, ld.Phys, ld.MemSize)
		}
		if ld.FileSize > 0 && ld.Data == nil {
			return ELFLayout{}, fmt.Errorf("dumpfile: load %d (phys 0x%x): FileSize 0x%x but no Data", i, ld.Phys, ld.FileSize)
		}
		l.LoadOffsets[i] = cur
		next := roundUp(cur+ld.FileSize, page)
		if next < cur || next > 1<<62 {
			return ELFLayout{}, fmt.Errorf("dumpfile: load %d: file size overflows", i)
		}
		cur = next
	}
	l.Size = cur
	return l, nil
}

func (w *ELFWriter) noteAlign() int {
	if w.NoteAlign == 0 {
		return 4
	}
	return w.NoteAlign
}

// WriteTo writes the core to out and returns the bytes written.
func (w *ELFWriter) WriteTo(out io.Writer) (int64, error) {
	l, err := w.Layout()
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: out}
	bw := bufio.NewWriterSize(cw, 64<<10)
	le := binary.LittleEndian

	h := elf.Header64{
		Type:      uint16(elf.ET_CORE),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Phoff:     ehdrSize,
		Flags:     w.Flags,
		Ehsize:    ehdrSize,
		Phentsize: phdrSize,
		Phnum:     uint16(l.Phnum),
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	h.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	xnum := l.Phnum >= pnXNum
	if xnum {
		// Extended numbering as the kernel's core dumper writes it: one
		// SHT_NULL section header whose sh_info holds the real count.
		h.Phnum = pnXNum
		h.Shoff = uint64(ehdrSize + phdrSize*l.Phnum)
		h.Shentsize = shdrSize
		h.Shnum = 1
	}
	if err := binary.Write(bw, le, &h); err != nil {
		return cw.n, err
	}
	note := elf.Prog64{
		Type:   uint32(elf.PT_NOTE),
		Off:    l.NoteOffset,
		Filesz: uint64(len(w.Notes)),
		Memsz:  uint64(len(w.Notes)),
		Align:  uint64(w.noteAlign()),
	}
	if err := binary.Write(bw, le, &note); err != nil {
		return cw.n, err
	}
	for i, ld := range w.Loads {
		p := elf.Prog64{
			Type:   uint32(elf.PT_LOAD),
			Flags:  uint32(elf.PF_R | elf.PF_W | elf.PF_X),
			Off:    l.LoadOffsets[i],
			Vaddr:  ld.Virt,
			Paddr:  ld.Phys,
			Filesz: ld.FileSize,
			Memsz:  ld.MemSize,
		}
		if err := binary.Write(bw, le, &p); err != nil {
			return cw.n, err
		}
	}
	if xnum {
		sh := elf.Section64{Type: uint32(elf.SHT_NULL), Size: 1, Info: uint32(l.Phnum)}
		if err := binary.Write(bw, le, &sh); err != nil {
			return cw.n, err
		}
	}
	pos := uint64(ehdrSize + phdrSize*l.Phnum)
	if xnum {
		pos += shdrSize
	}
	if err := writeZeros(bw, l.NoteOffset-pos); err != nil {
		return cw.n, err
	}
	if _, err := bw.Write(w.Notes); err != nil {
		return cw.n, err
	}
	pos = l.NoteOffset + uint64(len(w.Notes))
	for i, ld := range w.Loads {
		if err := writeZeros(bw, l.LoadOffsets[i]-pos); err != nil {
			return cw.n, err
		}
		if ld.FileSize > 0 {
			n, err := io.CopyN(bw, ld.Data, int64(ld.FileSize))
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return cw.n, fmt.Errorf("dumpfile: load %d (phys 0x%x): copied %d of %d bytes: %w", i, ld.Phys, n, ld.FileSize, err)
			}
		}
		pos = l.LoadOffsets[i] + ld.FileSize
	}
	if err := writeZeros(bw, l.Size-pos); err != nil {
		return cw.n, err
	}
	err = bw.Flush()
	return cw.n, err
}

// MarkIncomplete sets elfcore.FlagIncomplete in the e_flags of a core
// already written to dst by w, for a dump that could not be finished (disk
// full, read error); readers then know memory may be missing.
func (w *ELFWriter) MarkIncomplete(dst io.WriterAt) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], w.Flags|elfcore.FlagIncomplete)
	_, err := dst.WriteAt(b[:], elfcore.FlagsOffset)
	return err
}

var zeroPage [4096]byte

func writeZeros(w io.Writer, n uint64) error {
	for n > 0 {
		k := min(n, uint64(len(zeroPage)))
		if _, err := w.Write(zeroPage[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func roundUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
