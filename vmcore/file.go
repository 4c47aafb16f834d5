package vmcore

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/format/kdump"
)

// Sizes of the ELF64 structures, from the ELF gABI.
const (
	ehdrSize = 64 // Elf64_Ehdr
	phdrSize = 56 // Elf64_Phdr
	shdrSize = 64 // Elf64_Shdr

	// pnXNum in e_phnum means the real count is in sh_info of section
	// header 0 (extended numbering, used when there are 0xffff or more).
	pnXNum = 0xffff

	// ElfFlagIncomplete is set in e_flags by makedumpfile (and gokdump)
	// when the dump was cut short, e.g. because the disk filled up.
	ElfFlagIncomplete = 1
)

// Bounds on what a file may make us hold in memory. Real vmcores have tens to
// a few thousand program headers and a few KiB of notes per CPU.
const (
	maxPhdrs     = 1 << 22  // 4M headers: 224 MiB of header table
	maxNoteBytes = 64 << 20 // all PT_NOTE segments together
	readChunk    = 1 << 20  // bounded read size for data of declared length
)

// Segment is one PT_LOAD program header: FileSize bytes at file offset
// Offset hold physical memory Phys..Phys+FileSize; memory up to Phys+MemSize
// reads as zero (the ELF rule for p_memsz > p_filesz).
type Segment struct {
	Phys     uint64 // p_paddr
	Virt     uint64 // p_vaddr (kernel text, direct map, or 0 when unknown)
	Offset   uint64 // p_offset
	FileSize uint64 // p_filesz
	MemSize  uint64 // p_memsz
}

// File is an open vmcore: an ELF core, a kdump-compressed file (Kdump set;
// Loads then come from its 1st bitmap, with Virt 0), or either of them
// flattened (Flattened set; Size and error offsets are then those of the
// file it describes).
type File struct {
	Name      string     // as given to Open or NewFile, used in errors
	Size      int64      // file size in bytes
	Format    Format     // FormatELF or FormatKdump
	Flattened bool       // the file is makedumpfile's flattened form of Format
	Flags     uint32     // e_flags; see Incomplete
	Loads     []Segment  // PT_LOAD headers in file order
	Notes     []Note     // notes of all PT_NOTE segments, in file order
	Kdump     *KdumpInfo // the headers of a kdump-compressed file, else nil

	r          io.ReaderAt
	closer     io.Closer
	index      physIndex
	kdump      *kdumpReader // set for FormatKdump
	incomplete bool         // kdump status or flattened stream says so
}

// Open opens the named vmcore (a regular file or /proc/vmcore).
func Open(name string) (*File, error) {
	fd, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, err
	}
	f, err := NewFile(fd, st.Size(), name)
	if err != nil {
		fd.Close()
		return nil, err
	}
	f.closer = fd
	return f, nil
}

// NewFile reads a vmcore of size bytes from r. The name is only used in
// error messages. The File reads r again for ReadPhys, so r must stay valid.
func NewFile(r io.ReaderAt, size int64, name string) (*File, error) {
	f := &File{Name: name, Size: size, r: r, Format: FormatELF}
	if err := f.unflatten(); err != nil {
		return nil, err
	}
	var magic [8]byte
	if f.Size >= int64(len(magic)) {
		if err := f.readFull(magic[:], 0, "file signature"); err != nil {
			return nil, err
		}
		if kdump.IsSignature(magic[:]) {
			if err := f.readKdump(); err != nil {
				return nil, err
			}
			return f, nil
		}
	}
	if err := f.readHeaders(); err != nil {
		return nil, err
	}
	f.index = newPhysIndex(f.Loads)
	return f, nil
}

// Close closes the file opened by Open; for a File from NewFile it does
// nothing.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Incomplete reports whether the dump is marked as cut short: e_flags of an
// ELF core, the status of a kdump-compressed file, or a flattened stream
// without its end record.
func (f *File) Incomplete() bool { return f.Flags&ElfFlagIncomplete != 0 || f.incomplete }

func (f *File) errorf(off int64, format string, args ...any) error {
	return &FormatError{File: f.Name, Off: off, Msg: fmt.Sprintf(format, args...)}
}

// readFull reads exactly len(p) bytes at off; a short file is a FormatError
// saying what was being read.
func (f *File) readFull(p []byte, off int64, what string) error {
	if off < 0 || off > f.Size || int64(len(p)) > f.Size-off {
		return f.errorf(off, "truncated %s: want %d bytes, file size is %d", what, len(p), f.Size)
	}
	n, err := f.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return f.errorf(off+int64(n), "truncated %s: got %d of %d bytes", what, n, len(p))
	}
	return fmt.Errorf("vmcore: %s: reading %s at offset 0x%x: %w", f.Name, what, off+int64(n), err)
}

func (f *File) readHeaders() error {
	var b [ehdrSize]byte
	// Check the magic first when there is one, so that a short non-ELF
	// file is called that rather than a truncated ELF header.
	if f.Size >= int64(len(elf.ELFMAG)) {
		if err := f.readFull(b[:len(elf.ELFMAG)], 0, "ELF identification"); err != nil {
			return err
		}
		if string(b[:len(elf.ELFMAG)]) != elf.ELFMAG {
			return f.errorf(0, "bad magic %q, want %q: not an ELF file", b[:4], elf.ELFMAG)
		}
	}
	if err := f.readFull(b[:], 0, "ELF header"); err != nil {
		return err
	}
	if c := elf.Class(b[elf.EI_CLASS]); c != elf.ELFCLASS64 {
		return f.errorf(elf.EI_CLASS, "class %v not supported, want ELFCLASS64", c)
	}
	if d := elf.Data(b[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return f.errorf(elf.EI_DATA, "byte order %v not supported, want ELFDATA2LSB (little-endian)", d)
	}
	if v := elf.Version(b[elf.EI_VERSION]); v != elf.EV_CURRENT {
		return f.errorf(elf.EI_VERSION, "ident version %d, want %d (EV_CURRENT)", v, elf.EV_CURRENT)
	}
	var h elf.Header64
	if _, err := binary.Decode(b[:], binary.LittleEndian, &h); err != nil {
		return f.errorf(0, "decoding ELF header: %v", err)
	}
	if t := elf.Type(h.Type); t != elf.ET_CORE {
		return f.errorf(16, "type %v, want ET_CORE", t)
	}
	if m := elf.Machine(h.Machine); m != elf.EM_X86_64 {
		return f.errorf(18, "machine %v, want EM_X86_64", m)
	}
	if h.Version != uint32(elf.EV_CURRENT) {
		return f.errorf(20, "version %d, want %d (EV_CURRENT)", h.Version, elf.EV_CURRENT)
	}
	if h.Ehsize != ehdrSize {
		return f.errorf(52, "e_ehsize %d, want %d", h.Ehsize, ehdrSize)
	}
	if h.Phentsize != phdrSize {
		return f.errorf(54, "e_phentsize %d, want %d", h.Phentsize, phdrSize)
	}
	f.Flags = h.Flags

	phnum := uint64(h.Phnum)
	if h.Phnum == pnXNum {
		var err error
		if phnum, err = f.extendedPhnum(&h); err != nil {
			return err
		}
	}
	if phnum == 0 {
		return f.errorf(56, "no program headers (e_phnum 0)")
	}
	if phnum > maxPhdrs {
		return f.errorf(56, "%d program headers, more than the supported %d", phnum, maxPhdrs)
	}
	if h.Phoff < ehdrSize || h.Phoff > uint64(f.Size) || phnum*phdrSize > uint64(f.Size)-h.Phoff {
		return f.errorf(32, "program header table [0x%x, +%d*%d) not inside the file (size %d)",
			h.Phoff, phnum, phdrSize, f.Size)
	}
	return f.readProgs(int64(h.Phoff), int(phnum))
}

// extendedPhnum reads the real program header count from section header 0.
func (f *File) extendedPhnum(h *elf.Header64) (uint64, error) {
	if h.Shentsize != shdrSize {
		return 0, f.errorf(58, "e_phnum is PN_XNUM but e_shentsize is %d, want %d", h.Shentsize, shdrSize)
	}
	if h.Shoff == 0 || h.Shoff > uint64(f.Size) {
		return 0, f.errorf(40, "e_phnum is PN_XNUM but section header 0 offset 0x%x is not in the file (size %d)", h.Shoff, f.Size)
	}
	var b [shdrSize]byte
	if err := f.readFull(b[:], int64(h.Shoff), "section header 0 (extended program header count)"); err != nil {
		return 0, err
	}
	var sh elf.Section64
	if _, err := binary.Decode(b[:], binary.LittleEndian, &sh); err != nil {
		return 0, f.errorf(int64(h.Shoff), "decoding section header 0: %v", err)
	}
	return uint64(sh.Info), nil
}

func (f *File) readProgs(phoff int64, phnum int) error {
	const perChunk = readChunk / phdrSize
	buf := make([]byte, min(phnum, perChunk)*phdrSize)
	type noteSegment struct{ off, size, align uint64 }
	var notes []noteSegment
	var noteBytes uint64
	for i := 0; i < phnum; {
		k := min(phnum-i, perChunk)
		chunk := buf[:k*phdrSize]
		off := phoff + int64(i)*phdrSize
		if err := f.readFull(chunk, off, "program headers"); err != nil {
			return err
		}
		for j := range k {
			var p elf.Prog64
			if _, err := binary.Decode(chunk[j*phdrSize:], binary.LittleEndian, &p); err != nil {
				return f.errorf(off+int64(j)*phdrSize, "decoding program header: %v", err)
			}
			poff := off + int64(j)*phdrSize
			s := Segment{Phys: p.Paddr, Virt: p.Vaddr, Offset: p.Off, FileSize: p.Filesz, MemSize: p.Memsz}
			switch elf.ProgType(p.Type) {
			case elf.PT_LOAD:
				if err := f.checkLoad(s, poff); err != nil {
					return err
				}
				f.Loads = append(f.Loads, s)
			case elf.PT_NOTE:
				if p.Off > uint64(f.Size) || p.Filesz > uint64(f.Size)-p.Off {
					return f.errorf(poff, "PT_NOTE data [0x%x, +0x%x) past end of file (size %d)", p.Off, p.Filesz, f.Size)
				}
				noteBytes += p.Filesz
				if noteBytes > maxNoteBytes {
					return f.errorf(poff, "PT_NOTE segments hold more than %d bytes", maxNoteBytes)
				}
				notes = append(notes, noteSegment{p.Off, p.Filesz, p.Align})
			}
		}
		i += k
	}
	for _, s := range notes {
		if err := f.readNotes(s.off, s.size, s.align); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) checkLoad(s Segment, poff int64) error {
	if s.FileSize > s.MemSize {
		return f.errorf(poff, "PT_LOAD p_filesz 0x%x larger than p_memsz 0x%x", s.FileSize, s.MemSize)
	}
	if s.Offset+s.FileSize < s.Offset || s.Offset+s.FileSize > 1<<63 {
		return f.errorf(poff, "PT_LOAD file range [0x%x, +0x%x) overflows", s.Offset, s.FileSize)
	}
	if s.MemSize > 0 && s.Phys+s.MemSize-1 < s.Phys {
		return f.errorf(poff, "PT_LOAD physical range [0x%x, +0x%x) overflows", s.Phys, s.MemSize)
	}
	// Data past the end of the file is allowed here (an incomplete dump
	// still has readable headers, notes and early memory); reading it gives
	// a FormatError.
	return nil
}

// readNotes parses one PT_NOTE segment and appends its notes.
func (f *File) readNotes(off, size, align uint64) error {
	data := make([]byte, size) // size is bounded by maxNoteBytes
	for done := uint64(0); done < size; {
		k := min(size-done, readChunk)
		if err := f.readFull(data[done:done+k], int64(off+done), "PT_NOTE data"); err != nil {
			return err
		}
		done += k
	}
	notes, err := parseNotes(data, int64(off), noteAlign(align))
	if err != nil {
		return withFile(err, f.Name, 0)
	}
	f.Notes = append(f.Notes, notes...)
	return nil
}

// VMCOREINFO parses the first VMCOREINFO note. It returns an error wrapping
// ErrNoVMCOREINFO when there is none.
func (f *File) VMCOREINFO() (*VMCOREINFO, error) {
	for _, n := range f.Notes {
		if n.Name == NoteNameVMCOREINFO && n.Type == NoteTypeVMCOREINFO {
			info, err := ParseVMCOREINFO(n.Desc)
			if err != nil {
				return nil, withFile(err, f.Name, n.DescOffset)
			}
			return info, nil
		}
	}
	return nil, fmt.Errorf("%w in %s", ErrNoVMCOREINFO, f.Name)
}

// PRStatus decodes every NT_PRSTATUS note (name "CORE"), one per CPU in
// note order; the index in the result is the order the kernel wrote them
// in, which for /proc/vmcore is the order of online CPUs.
func (f *File) PRStatus() ([]PRStatus, error) {
	var out []PRStatus
	for _, n := range f.Notes {
		if n.Name != NoteNameCore || n.Type != NoteTypePRStatus {
			continue
		}
		var s PRStatus
		if err := s.UnmarshalBinary(n.Desc); err != nil {
			return nil, withFile(err, f.Name, n.DescOffset)
		}
		out = append(out, s)
	}
	return out, nil
}

// noteAlign picks the note alignment from the segment's p_align: the kernel
// writes 4-byte aligned notes in ELF64 cores (p_align 0 or 4); the gABI's
// 8-byte form is used only when a producer says so with p_align 8.
func noteAlign(pAlign uint64) int {
	if pAlign == 8 {
		return 8
	}
	return 4
}
