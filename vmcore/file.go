package vmcore

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/format/elfcore"
	"github.com/gokdump/gokdump/format/kdump"
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
	phys       physReader // elfReader or kdumpReader: serves ReadPhys
	incomplete bool       // kdump status or flattened stream says so
}

// Open opens the named vmcore (a regular file or /proc/vmcore). A file on procfs
// (/proc/vmcore) is read through mmap windows (MmapReader), anything else with pread.
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
	r, rc := fileReader(fd, st.Size())
	f, err := NewFile(r, st.Size(), name)
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		fd.Close()
		return nil, err
	}
	f.closer = fd
	if rc != nil {
		f.closer = closers{rc, fd}
	}
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
	f.phys = newELFReader(f)
	return f, nil
}

// ReadMethod says how the File reads its source: MmapReader's Method for
// /proc/vmcore, else "pread".
func (f *File) ReadMethod() string {
	if m, ok := f.r.(*MmapReader); ok {
		return m.Method()
	}
	return "pread"
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

// readHeaders reads the ELF header and program headers with package
// elfcore, the parser assemble reads the kernel's elfcorehdr with, and
// keeps the PT_LOADs and the notes of the PT_NOTEs.
func (f *File) readHeaders() error {
	h, err := elfcore.ReadHeader(f.r, f.Size, maxPhdrs)
	if err != nil {
		return f.fromFormat(err)
	}
	f.Flags = h.Flags
	type noteSegment struct{ off, size, align uint64 }
	var notes []noteSegment
	var noteBytes uint64
	err = h.Progs(f.r, f.Size, func(p elfcore.Prog) error {
		s := Segment{Phys: p.Paddr, Virt: p.Vaddr, Offset: p.Prog64.Off, FileSize: p.Filesz, MemSize: p.Memsz}
		switch elf.ProgType(p.Type) {
		case elf.PT_LOAD:
			if err := f.checkLoad(s, p.HdrOff); err != nil {
				return err
			}
			f.Loads = append(f.Loads, s)
		case elf.PT_NOTE:
			if p.Off > uint64(f.Size) || p.Filesz > uint64(f.Size)-p.Off {
				return f.errorf(p.HdrOff, "PT_NOTE data [0x%x, +0x%x) past end of file (size %d)", p.Off, p.Filesz, f.Size)
			}
			noteBytes += p.Filesz
			if noteBytes > maxNoteBytes {
				return f.errorf(p.HdrOff, "PT_NOTE segments hold more than %d bytes", maxNoteBytes)
			}
			notes = append(notes, noteSegment{p.Off, p.Filesz, p.Align})
		}
		return nil
	})
	if err != nil {
		return f.fromFormat(err)
	}
	for _, s := range notes {
		if err := f.readNotes(s.off, s.size, s.align); err != nil {
			return err
		}
	}
	return nil
}

// fromFormat gives an error of package elfcore the file's name: a
// *FormatError for bad data, a read error as readFull words it.
func (f *File) fromFormat(err error) error {
	var re *elfcore.ReadError
	if errors.As(err, &re) {
		return fmt.Errorf("vmcore: %s: reading %s at offset 0x%x: %w", f.Name, re.What, re.Off, re.Err)
	}
	return withFile(err, f.Name, 0)
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
	notes, err := elfcore.ParseNotes(data, elfcore.NoteAlign(align))
	if err != nil {
		return withFile(err, f.Name, int64(off))
	}
	for i := range notes {
		notes[i].Offset += int64(off)
		notes[i].DescOffset += int64(off)
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
