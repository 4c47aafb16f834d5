package dumpfile

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/gokdump/gokdump/format/kdump"
)

// SplitPart is one part of a split dump given to Reassemble: its name (for
// messages) and its contents.
type SplitPart struct {
	Name string
	R    io.ReaderAt
	Size int64
}

// part is a SplitPart with its headers read.
type part struct {
	SplitPart
	h          *kdump.Header
	s          *kdump.SubHeader
	start, end uint64
}

// Reassemble merges the parts of a split dump (makedumpfile --split, or
// collector.CollectSplit) into one kdump-compressed file written to dst (a new,
// empty file), as makedumpfile --reassemble does: the parts are ordered by
// their pfn ranges, which must cover [0, max_mapnr) without gap or overlap;
// the main header is the first incomplete part's (the last part's when all
// are complete), the sub header, notes and bitmaps the first part's with the
// split fields cleared; the descriptors and data of each part's pages are
// copied in pfn order, pages that pointed at a part's shared zero page point
// at the merged file's. It returns the number of pages copied.
//
// Memory use is the 2nd bitmap (max_mapnr/8 bytes, checked against the file
// size) and fixed buffers.
func Reassemble(dst io.WriterAt, parts []SplitPart) (uint64, error) {
	if len(parts) < 2 {
		return 0, fmt.Errorf("dumpfile: reassembling wants at least two parts, got %d", len(parts))
	}
	ps := make([]*part, len(parts))
	for i, sp := range parts {
		p, err := readPart(sp)
		if err != nil {
			return 0, err
		}
		ps[i] = p
	}
	slices.SortStableFunc(ps, func(a, b *part) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	first := ps[0]
	maxMapnr := kdump.MaxMapnr(first.h, first.s)
	var next uint64
	for _, p := range ps {
		switch {
		case p.h.BlockSize != first.h.BlockSize || p.h.SubHdrSize != first.h.SubHdrSize ||
			p.h.BitmapBlocks != first.h.BitmapBlocks || kdump.MaxMapnr(p.h, p.s) != maxMapnr ||
			p.h.HeaderVersion != first.h.HeaderVersion:
			return 0, fmt.Errorf("dumpfile: %s is not a part of the same dump as %s (block size, sub header, bitmaps or max_mapnr differ)", p.Name, first.Name)
		case p.s.DumpLevel != first.s.DumpLevel || (p.h.Status&^kdump.Incomplete) != (first.h.Status&^kdump.Incomplete):
			return 0, fmt.Errorf("dumpfile: %s has dump level %d and status 0x%x, %s level %d and status 0x%x", p.Name, p.s.DumpLevel, p.h.Status, first.Name, first.s.DumpLevel, first.h.Status)
		case p.s.SizeEraseinfo != 0:
			return 0, fmt.Errorf("dumpfile: %s has erase information (makedumpfile --config), which gokdump does not carry", p.Name)
		case p.start != next:
			return 0, fmt.Errorf("dumpfile: the parts do not cover pfn 0x%x..0x%x (%s begins at 0x%x)", next, p.start, p.Name, p.start)
		}
		next = p.end
	}
	if next != maxMapnr {
		return 0, fmt.Errorf("dumpfile: the parts end at pfn 0x%x, not at max_mapnr 0x%x: a part is missing", next, maxMapnr)
	}

	// The main header: makedumpfile takes the first incomplete part's, else the last's.
	main := ps[len(ps)-1].h
	for _, p := range ps {
		if p.h.Status&kdump.Incomplete != 0 {
			main = p.h
			break
		}
	}
	if _, err := dst.WriteAt(main.Bytes(), 0); err != nil {
		return 0, fmt.Errorf("dumpfile: reassembling: writing the main header: %w", err)
	}
	l := first.h.Layout()
	bs := l.BlockSize
	// Sub header, notes and both bitmaps of the first part, then the split fields cleared.
	if err := copyRange(dst, first, bs, l.Descriptors-bs); err != nil {
		return 0, err
	}
	sub := *first.s
	sub.Split, sub.StartPFN, sub.EndPFN, sub.StartPFN64, sub.EndPFN64 = 0, 0, 0, 0, 0
	if _, err := dst.WriteAt(sub.Bytes(), bs); err != nil {
		return 0, fmt.Errorf("dumpfile: reassembling: writing the sub header: %w", err)
	}

	bitmap2 := make([]byte, (maxMapnr+7)/8)
	if _, err := first.R.ReadAt(bitmap2, l.Bitmap2); err != nil {
		return 0, fmt.Errorf("dumpfile: reading the 2nd bitmap of %s: %w", first.Name, err)
	}
	if r := maxMapnr % 8; r != 0 {
		bitmap2[len(bitmap2)-1] &= byte(1<<r - 1)
	}
	var total uint64
	for _, b := range bitmap2 {
		total += uint64(bits.OnesCount8(b))
	}

	out := &reassembly{dst: dst, descOff: l.Descriptors, dataOff: l.Descriptors + int64(total)*kdump.PageDescSize}
	zeroPage := int64(-1)
	if first.s.DumpLevel&1 != 0 {
		// As makedumpfile: every part reserved its zero page right after a descriptor
		// table sized for all the parts' pages, so that offset is the same in each.
		zeroPage = out.dataOff
		if err := out.data(make([]byte, bs)); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, bs)
	var descBuf [kdump.PageDescSize]byte
	var copied uint64
	for _, p := range ps {
		descAt := l.Descriptors
		for pfn := p.start; pfn < p.end; pfn++ {
			if bitmap2[pfn/8]&(1<<(pfn%8)) == 0 {
				continue
			}
			if _, err := p.R.ReadAt(descBuf[:], descAt); err != nil {
				return copied, fmt.Errorf("dumpfile: %s: reading the descriptor of pfn 0x%x at offset 0x%x: %w", p.Name, pfn, descAt, err)
			}
			descAt += kdump.PageDescSize
			d := kdump.DecodePageDesc(descBuf[:])
			switch {
			case d.Offset == 0:
				// Never written (an incomplete part): stays missing.
				if err := out.desc(kdump.PageDesc{}); err != nil {
					return copied, err
				}
				continue
			case zeroPage >= 0 && d.Offset == zeroPage:
				if err := out.desc(kdump.PageDesc{Offset: zeroPage, Size: uint32(bs)}); err != nil {
					return copied, err
				}
				copied++
				continue
			case d.Size == 0 || int64(d.Size) > bs || d.Offset < l.Descriptors || d.Offset > p.Size-int64(d.Size):
				return copied, fmt.Errorf("dumpfile: %s: pfn 0x%x: descriptor at offset 0x%x points at %d bytes at 0x%x, outside the page data (file size %d)",
					p.Name, pfn, descAt-kdump.PageDescSize, d.Size, d.Offset, p.Size)
			}
			if _, err := p.R.ReadAt(buf[:d.Size], d.Offset); err != nil {
				return copied, fmt.Errorf("dumpfile: %s: reading pfn 0x%x's data at 0x%x: %w", p.Name, pfn, d.Offset, err)
			}
			d.Offset = out.dataOff + int64(len(out.dataBuf))
			if err := out.desc(d); err != nil {
				return copied, err
			}
			if err := out.data(buf[:d.Size]); err != nil {
				return copied, err
			}
			copied++
		}
	}
	return copied, out.flush()
}

func readPart(sp SplitPart) (*part, error) {
	var b [kdump.HeaderSize]byte
	if _, err := sp.R.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("dumpfile: %s: reading the main header: %w", sp.Name, err)
	}
	if !bytes.HasPrefix(b[:], []byte(kdump.Signature)) {
		return nil, fmt.Errorf("dumpfile: %s is not a kdump-compressed file", sp.Name)
	}
	h, err := kdump.DecodeHeader(b[:])
	if err != nil {
		return nil, fmt.Errorf("dumpfile: %s: %w", sp.Name, err)
	}
	l := h.Layout()
	if l.Descriptors > sp.Size {
		return nil, fmt.Errorf("dumpfile: %s: its bitmaps end at 0x%x, past the end of the file (%d bytes)", sp.Name, l.Descriptors, sp.Size)
	}
	var sb [kdump.SubHeaderSize]byte
	if _, err := sp.R.ReadAt(sb[:], l.BlockSize); err != nil {
		return nil, fmt.Errorf("dumpfile: %s: reading the sub header: %w", sp.Name, err)
	}
	s, err := kdump.DecodeSubHeader(sb[:], h)
	if err != nil {
		return nil, fmt.Errorf("dumpfile: %s: sub header: %w", sp.Name, err)
	}
	start, end, ok := s.SplitRange(h.HeaderVersion)
	if !ok {
		return nil, fmt.Errorf("dumpfile: %s is not a part of a split dump (its sub header has no split range)", sp.Name)
	}
	return &part{SplitPart: sp, h: h, s: s, start: start, end: end}, nil
}

// copyRange copies n bytes at off of p to the same offset of dst.
func copyRange(dst io.WriterAt, p *part, off, n int64) error {
	buf := make([]byte, min(n, rearrangeBuf))
	for done := int64(0); done < n; {
		k := min(n-done, int64(len(buf)))
		if _, err := p.R.ReadAt(buf[:k], off+done); err != nil {
			return fmt.Errorf("dumpfile: %s: reading offset 0x%x: %w", p.Name, off+done, err)
		}
		if _, err := dst.WriteAt(buf[:k], off+done); err != nil {
			return fmt.Errorf("dumpfile: reassembling: writing offset 0x%x: %w", off+done, err)
		}
		done += k
	}
	return nil
}

// reassembly buffers the merged file's descriptors and data.
type reassembly struct {
	dst              io.WriterAt
	descOff, dataOff int64 // where descBuf and dataBuf go
	descBuf, dataBuf []byte
}

func (r *reassembly) desc(d kdump.PageDesc) error {
	var b [kdump.PageDescSize]byte
	d.Put(b[:])
	r.descBuf = append(r.descBuf, b[:]...)
	if len(r.descBuf) >= kdumpDescBuf {
		return r.flush()
	}
	return nil
}

func (r *reassembly) data(p []byte) error {
	r.dataBuf = append(r.dataBuf, p...)
	if len(r.dataBuf) >= kdumpDataBuf {
		return r.flush()
	}
	return nil
}

func (r *reassembly) flush() error {
	if len(r.descBuf) > 0 {
		if _, err := r.dst.WriteAt(r.descBuf, r.descOff); err != nil {
			return fmt.Errorf("dumpfile: reassembling: writing descriptors at 0x%x: %w", r.descOff, err)
		}
		r.descOff += int64(len(r.descBuf))
		r.descBuf = r.descBuf[:0]
	}
	if len(r.dataBuf) > 0 {
		if _, err := r.dst.WriteAt(r.dataBuf, r.dataOff); err != nil {
			return fmt.Errorf("dumpfile: reassembling: writing page data at 0x%x: %w", r.dataOff, err)
		}
		r.dataOff += int64(len(r.dataBuf))
		r.dataBuf = r.dataBuf[:0]
	}
	return nil
}
