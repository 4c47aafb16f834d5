package elfcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Note names and types the kernel puts in a vmcore.
const (
	NoteNameCore       = "CORE"       // owner of NT_PRSTATUS notes
	NoteNameVMCOREINFO = "VMCOREINFO" // owner of the VMCOREINFO text note
	NoteTypePRStatus   = 1            // NT_PRSTATUS: struct elf_prstatus of one CPU
	NoteTypeVMCOREINFO = 0            // type of the VMCOREINFO note
)

// noteHeaderSize is sizeof(Elf64_Nhdr): namesz, descsz, type, 4 bytes each.
const noteHeaderSize = 12

// Note is one ELF note.
type Note struct {
	Name       string // owner name without its terminating NUL
	Type       uint32
	Desc       []byte // the descriptor; shares memory with the parsed data
	Offset     int64  // offset of the note header (in the file for vmcore's File.Notes)
	DescOffset int64  // offset of Desc, same base as Offset
}

// ParseNotes parses the notes of one PT_NOTE segment of a core file. align
// is the note alignment, 4 (what the kernel writes in ELF64 cores) or 8 (the
// gABI form, used when the segment's p_align is 8; see NoteAlign). Parsing
// stops at an empty note (namesz, descsz and type all zero), which
// /proc/vmcore producers write to end each CPU's notes inside a larger
// reserved area, or at the end of data; fewer than 12 bytes left over must be
// zero padding. Offsets in the result and in errors are relative to the start
// of data.
func ParseNotes(data []byte, align int) ([]Note, error) {
	if align != 4 && align != 8 {
		return nil, fmt.Errorf("elfcore: note alignment %d, want 4 or 8", align)
	}
	notes, _, err := walkNotes(data, align, false)
	return notes, err
}

// KernelNotes parses a PT_NOTE of the ELF core header the kernel (or
// kexec-tools) prepared before a crash, where p_memsz is only an upper bound:
// as the kernel's /proc/vmcore does (fs/proc/vmcore.c), the notes end at a
// note with an empty name or where fewer than a note header's bytes are
// left. Unlike the kernel, a note that overruns the segment is an error
// rather than silently dropped. Notes are 4-byte aligned. It returns the
// notes and the length of data they take.
func KernelNotes(data []byte) ([]Note, int, error) {
	return walkNotes(data, 4, true)
}

// NoteAlign picks the note alignment from a segment's p_align: the kernel
// writes 4-byte aligned notes in ELF64 cores (p_align 0 or 4); the gABI's
// 8-byte form is used only when a producer says so with p_align 8.
func NoteAlign(pAlign uint64) int {
	if pAlign == 8 {
		return 8
	}
	return 4
}

// walkNotes parses notes of the given alignment from data. With kernel set
// the notes end at the first empty name (fs/proc/vmcore.c) and anything
// shorter than a header after them is ignored, and every note must fit with
// its padding; without it they end at an all-zero header and leftover bytes
// must be zero padding, and the last note may lack its padding.
func walkNotes(data []byte, align int, kernel bool) ([]Note, int, error) {
	var notes []Note
	a := uint64(align)
	pos := uint64(0)
	end := uint64(len(data))
	errorf := func(off uint64, format string, args ...any) error {
		return &FormatError{Off: int64(off), Msg: fmt.Sprintf(format, args...)}
	}
	// Each pass consumes at least noteHeaderSize bytes, so the loop ends.
	for pos < end {
		left := end - pos
		if left < noteHeaderSize {
			if kernel || bytes.Count(data[pos:], []byte{0}) == int(left) {
				break // padding after the last note
			}
			return nil, 0, errorf(pos, "%d bytes left in note segment, too short for a note header (%d bytes)", left, noteHeaderSize)
		}
		namesz := uint64(binary.LittleEndian.Uint32(data[pos:]))
		descsz := uint64(binary.LittleEndian.Uint32(data[pos+4:]))
		typ := binary.LittleEndian.Uint32(data[pos+8:])
		if namesz == 0 && (kernel || descsz == 0 && typ == 0) {
			break // the terminating empty note
		}
		nameOff := pos + noteHeaderSize
		if kernel {
			if size := noteHeaderSize + alignUp(namesz, a) + alignUp(descsz, a); size > left {
				return nil, 0, errorf(pos, "note with name size %d and descriptor size %d (%d bytes) overruns p_memsz (%d bytes left)",
					namesz, descsz, size, left)
			}
		}
		if namesz > end-nameOff {
			return nil, 0, errorf(pos, "note name size %d overruns the note segment (%d bytes left)", namesz, end-nameOff)
		}
		descOff := alignUp(nameOff+namesz, a)
		if descOff > end || descsz > end-descOff {
			return nil, 0, errorf(pos, "note %q type %d: descriptor size %d overruns the note segment (%d bytes left)",
				printableName(data[nameOff:nameOff+namesz]), typ, descsz, end-min(descOff, end))
		}
		notes = append(notes, Note{
			Name:       string(bytes.TrimRight(data[nameOff:nameOff+namesz], "\x00")),
			Type:       typ,
			Desc:       data[descOff : descOff+descsz : descOff+descsz],
			Offset:     int64(pos),
			DescOffset: int64(descOff),
		})
		// The last note may end without its padding.
		pos = min(alignUp(descOff+descsz, a), end)
	}
	return notes, int(pos), nil
}

// alignUp rounds v up to a multiple of a (a power of two). v is below 2^32
// plus a small offset here, so it cannot overflow.
func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// printableName quotes at most 32 bytes of a note name for error messages.
func printableName(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}
