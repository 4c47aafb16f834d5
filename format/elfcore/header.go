package elfcore

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Sizes of the ELF64 structures, from the ELF gABI.
const (
	HeaderSize  = 64 // Elf64_Ehdr
	ProgSize    = 56 // Elf64_Phdr
	SectionSize = 64 // Elf64_Shdr

	// PNXNum in e_phnum means the real count is in sh_info of section
	// header 0 (extended numbering, used when there are 0xffff or more).
	PNXNum = 0xffff

	// FlagIncomplete is set in e_flags by makedumpfile (and gokdump) when
	// the dump was cut short, e.g. because the disk filled up.
	FlagIncomplete = 1

	// FlagsOffset is the offset of e_flags in the ELF header, where a
	// writer marks a finished core incomplete.
	FlagsOffset = 48
)

// Offsets of the Elf64_Ehdr fields the checks name.
const (
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

// readChunk bounds a read of data of declared length: the program header
// table is read this much at a time.
const readChunk = 1 << 20

// FormatError reports an ELF core that is not what the kernel, kexec-tools,
// makedumpfile or gokdump write. Off is the byte offset of the bad data from
// the start of the ELF header (for a file, the file offset).
type FormatError struct {
	Off int64
	Msg string // what was found and what was expected
	Err error  // ErrNoMagic for data that is not ELF at all, else nil
}

func (e *FormatError) Error() string { return fmt.Sprintf("elfcore: offset 0x%x: %s", e.Off, e.Msg) }

// Unwrap returns ErrNoMagic or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// ErrNoMagic is matched (with errors.Is) by the error of data that does not
// start with the ELF magic, so a caller can say where it looked.
var ErrNoMagic = errors.New("elfcore: no ELF magic")

func errorf(off int64, format string, args ...any) error {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

// Header is the checked ELF header of a core: what ReadHeader found.
type Header struct {
	elf.Header64
	ProgCount int // program headers, from e_phnum or, with PNXNum, section header 0
}

// Prog is one program header, with where it is for error messages.
type Prog struct {
	elf.Prog64
	Index  int   // in the program header table
	HdrOff int64 // offset of the program header itself, from the start of the ELF header
}

// source reads an ELF core: r, of size bytes (negative: unknown, as for
// memory read from /dev/mem).
type source struct {
	r    io.ReaderAt
	size int64
}

// readFull reads exactly len(p) bytes at off; data past the size is a
// FormatError saying what was being read. Errors of r other than a short
// read are returned in a *ReadError.
func (s source) readFull(p []byte, off int64, what string) error {
	if s.size >= 0 && (off < 0 || off > s.size || int64(len(p)) > s.size-off) {
		return errorf(off, "truncated %s: want %d bytes, file size is %d", what, len(p), s.size)
	}
	n, err := s.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return errorf(off+int64(n), "truncated %s: got %d of %d bytes", what, n, len(p))
	}
	return &ReadError{What: what, Off: off + int64(n), Err: err}
}

// ReadError reports a read of the source that failed (not data that is
// bad), saying what was being read where, so that a caller can name its
// source in its own terms.
type ReadError struct {
	What string // "ELF header", "program headers", ...
	Off  int64  // from the start of the ELF header
	Err  error  // the source's error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("elfcore: reading %s at offset 0x%x: %v", e.What, e.Off, e.Err)
}

// Unwrap returns the source's error.
func (e *ReadError) Unwrap() error { return e.Err }

// ReadHeader reads and checks the ELF header of an x86_64 core from r, a
// file of size bytes or, with size negative, a source of unknown size
// (memory). It checks what kexec-tools' kdump program and /proc/vmcore
// producers agree on: the magic, ELFCLASS64, little-endian, EV_CURRENT,
// ET_CORE, EM_X86_64, the header sizes, at least one and at most maxProgs
// program headers (with PNXNum, the count in section header 0), and a
// program header table that follows the ELF header, does not overflow and,
// for a file, is inside it. Bad data gives a *FormatError; errors of r are
// returned in a *ReadError.
func ReadHeader(r io.ReaderAt, size int64, maxProgs int) (*Header, error) {
	src := source{r, size}
	var b [HeaderSize]byte
	// Check the magic first in a file too short for the header, so that a
	// short non-ELF file is called that rather than a truncated ELF header.
	if size >= int64(len(elf.ELFMAG)) && size < HeaderSize {
		if err := src.readFull(b[:len(elf.ELFMAG)], 0, "ELF header"); err != nil {
			return nil, err
		}
		if err := checkMagic(b[:]); err != nil {
			return nil, err
		}
	}
	if err := src.readFull(b[:], 0, "ELF header"); err != nil {
		return nil, err
	}
	if err := checkMagic(b[:]); err != nil {
		return nil, err
	}
	if c := elf.Class(b[elf.EI_CLASS]); c != elf.ELFCLASS64 {
		return nil, errorf(elf.EI_CLASS, "class %v, want ELFCLASS64 (%v not supported: x86_64 crash dumps are 64-bit)", c, c)
	}
	if d := elf.Data(b[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return nil, errorf(elf.EI_DATA, "byte order %v not supported, want the native ELFDATA2LSB (little-endian)", d)
	}
	if v := elf.Version(b[elf.EI_VERSION]); v != elf.EV_CURRENT {
		return nil, errorf(elf.EI_VERSION, "e_ident version %d, want EV_CURRENT (1)", uint8(v))
	}
	h := &Header{}
	if _, err := binary.Decode(b[:], binary.LittleEndian, &h.Header64); err != nil {
		return nil, errorf(0, "decoding ELF header: %v", err)
	}
	if t := elf.Type(h.Type); t != elf.ET_CORE {
		return nil, errorf(offType, "type %v, want ET_CORE", t)
	}
	if m := elf.Machine(h.Machine); m != elf.EM_X86_64 {
		return nil, errorf(offMachine, "machine %v, want EM_X86_64 (gokdump reads and writes x86_64 cores)", m)
	}
	if h.Version != uint32(elf.EV_CURRENT) {
		return nil, errorf(offVersion, "e_version %d, want EV_CURRENT (1)", h.Version)
	}
	if h.Ehsize != HeaderSize {
		return nil, errorf(offEhsize, "e_ehsize %d, want %d", h.Ehsize, HeaderSize)
	}
	if h.Phentsize != ProgSize {
		return nil, errorf(offPhentsize, "e_phentsize %d, want %d", h.Phentsize, ProgSize)
	}
	if h.Phnum == 0 {
		return nil, errorf(offPhnum, "e_phnum is 0: no program headers")
	}
	phnum := uint64(h.Phnum)
	if h.Phnum == PNXNum {
		var err error
		if phnum, err = src.extendedPhnum(&h.Header64); err != nil {
			return nil, err
		}
		if phnum == 0 {
			return nil, errorf(offPhnum, "e_phnum is PN_XNUM and sh_info of section header 0 is 0: no program headers")
		}
	}
	if phnum > uint64(maxProgs) {
		return nil, errorf(offPhnum, "%d program headers, more than the supported %d", phnum, maxProgs)
	}
	// phnum*ProgSize is below 2^32*56: no overflow.
	if h.Phoff < HeaderSize || h.Phoff > math.MaxInt64-phnum*ProgSize {
		return nil, errorf(offPhoff, "program header table [0x%x, +%d*%d): the program headers overlap the ELF header or overflow", h.Phoff, phnum, ProgSize)
	}
	if size >= 0 && (h.Phoff > uint64(size) || phnum*ProgSize > uint64(size)-h.Phoff) {
		return nil, errorf(offPhoff, "program header table [0x%x, +%d*%d) not inside the file (size %d)", h.Phoff, phnum, ProgSize, size)
	}
	h.ProgCount = int(phnum)
	return h, nil
}

func checkMagic(b []byte) error {
	if string(b[:len(elf.ELFMAG)]) != elf.ELFMAG {
		return &FormatError{Off: 0, Msg: fmt.Sprintf("bad magic %q, want %q: not an ELF file", b[:4], elf.ELFMAG), Err: ErrNoMagic}
	}
	return nil
}

// extendedPhnum reads the real program header count from section header 0.
func (s source) extendedPhnum(h *elf.Header64) (uint64, error) {
	if h.Shoff == 0 || (s.size >= 0 && h.Shoff > uint64(s.size)) || h.Shoff > math.MaxInt64-SectionSize {
		msg := fmt.Sprintf("e_phnum is PN_XNUM but section header 0 offset 0x%x is not in the file", h.Shoff)
		if s.size >= 0 {
			msg += fmt.Sprintf(" (size %d)", s.size)
		}
		return 0, errorf(offShoff, "%s", msg)
	}
	if h.Shentsize != SectionSize {
		return 0, errorf(offShentsize, "e_phnum is PN_XNUM but e_shentsize is %d, want %d", h.Shentsize, SectionSize)
	}
	var b [SectionSize]byte
	if err := s.readFull(b[:], int64(h.Shoff), "section header 0 (extended program header count)"); err != nil {
		return 0, err
	}
	var sh elf.Section64
	if _, err := binary.Decode(b[:], binary.LittleEndian, &sh); err != nil {
		return 0, errorf(int64(h.Shoff), "decoding section header 0: %v", err)
	}
	return uint64(sh.Info), nil
}

// Progs reads the program header table of the core whose header h
// ReadHeader returned from r (of size bytes, negative: unknown) in bounded
// chunks and calls fn with each program header in table order, stopping at
// the first error fn returns. What a program header means (a file offset, or
// a physical address in the kernel's elfcorehdr) is the caller's to check.
func (h *Header) Progs(r io.ReaderAt, size int64, fn func(Prog) error) error {
	src := source{r, size}
	const perChunk = readChunk / ProgSize
	buf := make([]byte, min(h.ProgCount, perChunk)*ProgSize)
	for i := 0; i < h.ProgCount; {
		k := min(h.ProgCount-i, perChunk)
		chunk := buf[:k*ProgSize]
		off := int64(h.Phoff) + int64(i)*ProgSize
		if err := src.readFull(chunk, off, "program headers"); err != nil {
			return err
		}
		for j := range k {
			p := Prog{Index: i + j, HdrOff: off + int64(j)*ProgSize}
			if _, err := binary.Decode(chunk[j*ProgSize:], binary.LittleEndian, &p.Prog64); err != nil {
				return errorf(p.HdrOff, "decoding program header: %v", err)
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		i += k
	}
	return nil
}
