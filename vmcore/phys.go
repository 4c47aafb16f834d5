package vmcore

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// physReader reads the physical memory of a dump in one format: elfReader
// for an ELF core, kdumpReader for a kdump-compressed file. NewFile picks
// one by the file's signature, and File's methods forward to it, so no code
// outside the readers asks which format a file is. The 2nd bitmap (which
// pfns a filtered dump holds) is the kdump-compressed format's only; an ELF
// core answers its methods with an error.
type physReader interface {
	readPhys(p []byte, addr uint64) (int, error)
	dumpedPages() (uint64, error)
	pageDumped(pfn uint64) (bool, error)
	dumpedBitmap(dst []byte, start uint64) error
}

// elfReader is the physReader of an ELF core: its PT_LOADs, through an
// index of the physical addresses they hold.
type elfReader struct {
	f     *File
	index physIndex
}

func newELFReader(f *File) *elfReader { return &elfReader{f: f, index: newPhysIndex(f.Loads)} }

func (r *elfReader) notKdump(method string) error {
	return fmt.Errorf("vmcore: %s: %s: not a kdump-compressed file", r.f.Name, method)
}

func (r *elfReader) dumpedPages() (uint64, error)            { return 0, r.notKdump("DumpedPages") }
func (r *elfReader) pageDumped(uint64) (bool, error)         { return false, r.notKdump("PageDumped") }
func (r *elfReader) dumpedBitmap(dst []byte, _ uint64) error { return r.notKdump("DumpedBitmap") }

// physPiece is a run of physical addresses [first, last] served by one
// segment. Ends are inclusive so a segment ending at 2^64 needs no special
// case.
type physPiece struct {
	first, last uint64
	seg         Segment
}

// physIndex finds the segment for a physical address. Segments may overlap
// (the kernel-text PT_LOAD covers the same memory as a direct-map one), so
// they are cut into disjoint, sorted pieces; where two overlap, the one
// starting lower (then the earlier in the file) serves the shared bytes,
// which in a real vmcore are the same memory either way. Bytes with file data are kept apart from the zero-filled tails
// (p_memsz beyond p_filesz) so that file data always wins over a tail.
type physIndex struct {
	data []physPiece // backed by file bytes
	zero []physPiece // read as zero
}

func newPhysIndex(loads []Segment) physIndex {
	var data, zero []physPiece
	for _, s := range loads {
		if s.FileSize > 0 {
			data = append(data, physPiece{s.Phys, s.Phys + s.FileSize - 1, s})
		}
		if s.MemSize > s.FileSize {
			zero = append(zero, physPiece{s.Phys + s.FileSize, s.Phys + s.MemSize - 1, s})
		}
	}
	return physIndex{data: disjoint(data), zero: disjoint(zero)}
}

// disjoint sorts pieces by start and trims the parts already covered by an
// earlier piece.
func disjoint(in []physPiece) []physPiece {
	sort.SliceStable(in, func(i, j int) bool { return in[i].first < in[j].first })
	var out []physPiece
	for _, p := range in {
		if n := len(out); n > 0 && p.first <= out[n-1].last {
			if p.last <= out[n-1].last {
				continue
			}
			p.first = out[n-1].last + 1
		}
		out = append(out, p)
	}
	return out
}

// find returns the piece holding addr.
func find(pieces []physPiece, addr uint64) (physPiece, bool) {
	i := sort.Search(len(pieces), func(i int) bool { return pieces[i].last >= addr })
	if i < len(pieces) && pieces[i].first <= addr {
		return pieces[i], true
	}
	return physPiece{}, false
}

// nextStart returns the first address above addr where a piece starts, or
// 0 and false if none does.
func nextStart(pieces []physPiece, addr uint64) (uint64, bool) {
	i := sort.Search(len(pieces), func(i int) bool { return pieces[i].first > addr })
	if i < len(pieces) {
		return pieces[i].first, true
	}
	return 0, false
}

// ReadPhys reads len(p) bytes of physical memory starting at addr. A read
// may span several segments. Memory described by a PT_LOAD beyond its
// p_filesz reads as zero. When part of the range is in no PT_LOAD, ReadPhys
// returns the bytes before it and a *HoleError (errors.Is(err, ErrHole))
// naming the first missing address. Segment data past the end of a
// truncated file gives a *FormatError. In a kdump-compressed file, a page
// the dump filter left out or that an incomplete dump lacks gives a
// *PageError (errors.Is ErrHole, and ErrExcluded or ErrMissing).
func (f *File) ReadPhys(p []byte, addr uint64) (int, error) { return f.phys.readPhys(p, addr) }

func (r *elfReader) readPhys(p []byte, addr uint64) (int, error) {
	n := 0
	// Each pass fills at least one byte or returns, so the loop ends.
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr {
			return n, &HoleError{Addr: a} // wrapped past the top of the address space
		}
		want := uint64(len(p) - n)
		if d, ok := find(r.index.data, a); ok {
			k := min(want, d.last-a+1)
			got, err := r.readLoad(p[n:n+int(k)], d.seg, a)
			n += got
			if err != nil {
				return n, err
			}
			continue
		}
		if z, ok := find(r.index.zero, a); ok {
			k := min(want, z.last-a+1)
			if next, ok := nextStart(r.index.data, a); ok {
				k = min(k, next-a)
			}
			clear(p[n : n+int(k)])
			n += int(k)
			continue
		}
		return n, &HoleError{Addr: a}
	}
	return n, nil
}

// readLoad reads file bytes of segment s for physical address a.
func (r *elfReader) readLoad(p []byte, s Segment, a uint64) (int, error) {
	f := r.f
	off := s.Offset + (a - s.Phys) // below 2^63: checked in checkLoad
	avail := uint64(0)
	if off < uint64(f.Size) {
		avail = uint64(f.Size) - off
	}
	k := min(uint64(len(p)), avail)
	got := 0
	if k > 0 {
		var err error
		got, err = f.r.ReadAt(p[:k], int64(off))
		if got == int(k) {
			err = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return got, fmt.Errorf("vmcore: %s: reading physical 0x%x at offset 0x%x: %w", f.Name, a+uint64(got), off+uint64(got), err)
		}
	}
	if got < len(p) {
		return got, f.errorf(int64(off)+int64(got), "truncated: PT_LOAD data for physical address 0x%x is past the end of the file (size %d)",
			a+uint64(got), f.Size)
	}
	return got, nil
}

// PhysReaderAt returns an io.ReaderAt whose offsets are physical
// addresses, for code that wants the standard interface (io.SectionReader,
// binary.Read through io.NewSectionReader). Offsets must be non-negative.
func (f *File) PhysReaderAt() io.ReaderAt { return physReaderAt{f} }

type physReaderAt struct{ f *File }

func (r physReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vmcore: %s: negative physical address %d", r.f.Name, off)
	}
	return r.f.ReadPhys(p, uint64(off))
}
