package vmcore

import (
	"errors"
	"fmt"
	"time"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/format/elfcore"
	"github.com/gokdump/gokdump/format/kdump"
)

// Format names the format of a dump file.
type Format string

// The formats File reads. A flattened file (makedumpfile -F) is read as the
// file it describes, with File.Flattened set.
const (
	FormatELF   Format = "elf"              // ELF64 core: /proc/vmcore, makedumpfile -E
	FormatKdump Format = "kdump-compressed" // makedumpfile's default format
)

// ErrExcluded and ErrMissing are the reasons a *PageError gives for a page
// of a kdump-compressed file that has no data.
var (
	// ErrExcluded: the page existed (it is in the 1st bitmap) but the dump
	// filter left it out (it is not in the 2nd bitmap).
	ErrExcluded = errors.New("vmcore: page excluded from the dump by filtering")
	// ErrMissing: the page was to be dumped but its data never made it
	// into the file (an incomplete dump, or a page held by another part of a
	// split dump).
	ErrMissing = errors.New("vmcore: page to be dumped is missing from the file")
)

// PageError reports a page of a kdump-compressed dump that exists in the
// crashed machine but whose contents the file does not hold. Like a
// *HoleError its contents are unknown (not zero), so errors.Is(err, ErrHole)
// is true; errors.Is(err, ErrExcluded) or errors.Is(err, ErrMissing) tells
// why.
type PageError struct {
	Addr uint64 // first physical address of the read that has no data
	PFN  uint64
	Err  error  // ErrExcluded or ErrMissing
	Why  string // details, may be empty
}

func (e *PageError) Error() string {
	s := fmt.Sprintf("vmcore: physical address 0x%x (pfn 0x%x): %s", e.Addr, e.PFN, trimPrefix(e.Err.Error()))
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

func trimPrefix(s string) string {
	const p = "vmcore: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// Unwrap returns ErrExcluded or ErrMissing.
func (e *PageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrHole) true: the page's contents are unknown.
func (e *PageError) Is(target error) bool { return target == ErrHole }

// KdumpInfo is what the headers of a kdump-compressed file say.
type KdumpInfo struct {
	Header    kdump.Header
	SubHeader kdump.SubHeader // fields newer than Header.HeaderVersion are zero

	UTSName   UTSName        // from the main header
	Timestamp time.Time      // the main header's timestamp (makedumpfile: the crash time); zero if unset
	Codec     compress.Codec // the compression the status names
	PageSize  uint64         // the block size
	MaxMapnr  uint64         // pfns the bitmaps describe (the 64-bit sub header field in version 6)

	// Offsets in the file.
	Bitmap1, Bitmap2, BitmapLen, Descriptors int64
}

// Incomplete reports whether the status says the dump was cut short.
func (k *KdumpInfo) Incomplete() bool { return k.Header.Status&kdump.Incomplete != 0 }

// DumpLevel returns makedumpfile's -d level stored in the sub header.
func (k *KdumpInfo) DumpLevel() int { return int(k.SubHeader.DumpLevel) }

// PhysBase returns the sub header's phys_base.
func (k *KdumpInfo) PhysBase() uint64 { return k.SubHeader.PhysBase }

// Split returns the pfn range [start, end) of this part when the file is
// one part of a split dump (makedumpfile --split).
func (k *KdumpInfo) Split() (start, end uint64, ok bool) {
	return k.SubHeader.SplitRange(k.Header.HeaderVersion)
}

// readKdump reads the headers, notes and 1st bitmap of a kdump-compressed
// file; the 2nd bitmap and the descriptors are read when pages are.
func (f *File) readKdump() error {
	var b [kdump.HeaderSize]byte
	if err := f.readFull(b[:], 0, "kdump main header"); err != nil {
		return err
	}
	h, err := kdump.DecodeHeader(b[:])
	if err != nil {
		return withFile(err, f.Name, 0)
	}
	k := &KdumpInfo{Header: *h}
	l := h.Layout()
	k.Bitmap1, k.BitmapLen, k.Bitmap2, k.Descriptors = l.Bitmap1, l.BitmapLen, l.Bitmap2, l.Descriptors
	bs := l.BlockSize
	if k.Descriptors > f.Size {
		return f.errorf(432, "sub header (%d blocks) and bitmaps (%d blocks) of %d bytes each end at 0x%x, past the end of the file (size %d)",
			h.SubHdrSize, h.BitmapBlocks, bs, k.Descriptors, f.Size)
	}
	k.PageSize = uint64(bs)

	var sb [kdump.SubHeaderSize]byte
	if err := f.readFull(sb[:], bs, "kdump sub header"); err != nil {
		return err
	}
	s, err := kdump.DecodeSubHeader(sb[:], h)
	if err != nil {
		return withFile(err, f.Name, bs)
	}
	k.SubHeader = *s
	k.MaxMapnr = kdump.MaxMapnr(h, s)
	codec, err := compress.CodecFromFlags(h.Status & kdump.CodecFlags)
	if err != nil {
		return f.errorf(424, "status 0x%x: %v", h.Status, err)
	}
	k.Codec = codec
	k.UTSName = UTSName(h.GetUTSName())
	if h.TimestampSec != 0 || h.TimestampUsec != 0 {
		k.Timestamp = time.Unix(h.TimestampSec, 0).Add(time.Duration(h.TimestampUsec) * time.Microsecond).UTC()
	}

	if err := f.readKdumpNotes(k); err != nil {
		return err
	}
	f.Format = FormatKdump
	f.Kdump = k
	f.incomplete = f.incomplete || k.Incomplete()
	if err := f.kdumpLoads(k); err != nil {
		return err
	}
	f.phys = &kdumpReader{f: f, info: k, chunkIdx: -1, raw: make([]byte, bs), dec: map[compress.Codec]*compress.PageDecompressor{}}
	return nil
}

// readKdumpNotes reads the copied PT_NOTE data (version 4 on) and, when it
// has no VMCOREINFO note or there are no notes (version 3), the VMCOREINFO
// text the sub header points at, as a note of its own.
func (f *File) readKdumpNotes(k *KdumpInfo) error {
	s := &k.SubHeader
	sub := k.PageSize
	read := func(off, size uint64, field int64, what string) ([]byte, error) {
		if off > uint64(f.Size) || size > uint64(f.Size)-off {
			return nil, f.errorf(int64(sub)+field, "%s [0x%x, +0x%x) past the end of the file (size %d)", what, off, size, f.Size)
		}
		if size > maxNoteBytes {
			return nil, f.errorf(int64(sub)+field, "%s of %d bytes, more than the supported %d", what, size, maxNoteBytes)
		}
		data := make([]byte, size)
		for done := uint64(0); done < size; {
			n := min(size-done, readChunk)
			if err := f.readFull(data[done:done+n], int64(off+done), what); err != nil {
				return nil, err
			}
			done += n
		}
		return data, nil
	}
	if s.SizeNote > 0 {
		data, err := read(s.OffsetNote, s.SizeNote, 48, "notes")
		if err != nil {
			return err
		}
		// The kernel writes 4-byte aligned notes, and makedumpfile copies them.
		notes, err := elfcore.ParseNotes(data, 4)
		if err != nil {
			return withFile(err, f.Name, int64(s.OffsetNote))
		}
		for i := range notes {
			notes[i].Offset += int64(s.OffsetNote)
			notes[i].DescOffset += int64(s.OffsetNote)
		}
		f.Notes = notes
	}
	for _, n := range f.Notes {
		if n.Name == NoteNameVMCOREINFO && n.Type == NoteTypeVMCOREINFO {
			return nil
		}
	}
	if s.SizeVMCOREINFO > 0 {
		data, err := read(s.OffsetVMCOREINFO, s.SizeVMCOREINFO, 32, "VMCOREINFO")
		if err != nil {
			return err
		}
		off := int64(s.OffsetVMCOREINFO)
		f.Notes = append(f.Notes, Note{Name: NoteNameVMCOREINFO, Type: NoteTypeVMCOREINFO, Desc: data, Offset: off, DescOffset: off})
	}
	return nil
}

// kdumpLoads turns the runs of set bits of the 1st bitmap (the pfns that
// exist) into File.Loads, so that code written for ELF dumps sees the
// machine's memory ranges. The kdump-compressed format does not record
// virtual addresses, so Virt is 0; Offset is 0 too (the data of each page is
// found through its descriptor).
func (f *File) kdumpLoads(k *KdumpInfo) error {
	nbytes := int64((k.MaxMapnr + 7) / 8)
	buf := make([]byte, min(nbytes, readChunk))
	var runStart uint64
	inRun := false
	emit := func(end uint64) error {
		if len(f.Loads) >= maxPhdrs {
			return f.errorf(k.Bitmap1, "1st bitmap has more than %d memory ranges", maxPhdrs)
		}
		size := (end - runStart) * k.PageSize
		f.Loads = append(f.Loads, Segment{Phys: runStart * k.PageSize, FileSize: size, MemSize: size})
		return nil
	}
	for off := int64(0); off < nbytes; {
		chunk := buf[:min(nbytes-off, int64(len(buf)))]
		if err := f.readFull(chunk, k.Bitmap1+off, "1st bitmap"); err != nil {
			return err
		}
		for i, c := range chunk {
			pfn0 := uint64(off+int64(i)) * 8
			if (c == 0 && !inRun) || (c == 0xff && inRun) {
				continue
			}
			for bit := range uint64(8) {
				pfn := pfn0 + bit
				set := c&(1<<bit) != 0 && pfn < k.MaxMapnr
				if set && !inRun {
					runStart, inRun = pfn, true
				} else if !set && inRun {
					if err := emit(pfn); err != nil {
						return err
					}
					inRun = false
				}
			}
		}
		off += int64(len(chunk))
	}
	if inRun {
		return emit(min(uint64(nbytes)*8, k.MaxMapnr))
	}
	return nil
}
