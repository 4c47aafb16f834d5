package dumpfile

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/kdump"
)

// KdumpHeader is what KdumpWriter.Begin needs to know about a dump before
// any page is written: the fields of the main and sub headers
// (kdump.Header, kdump.SubHeader) and the notes copied from
// the vmcore.
type KdumpHeader struct {
	UTSName   kdump.UTSName // the crashed kernel's init_uts_ns; each field at most 64 bytes
	CrashTime time.Time     // the header's timestamp; makedumpfile uses CRASHTIME (zero: 0)
	PageSize  int           // the block size of the file: the kernel's page size
	PhysBase  uint64
	DumpLevel int // makedumpfile's -d; bit 1 (exclude zero pages) reserves the shared zero page

	// Notes is the vmcore's PT_NOTE data, copied whole after the sub header.
	// The VMCOREINFO note's descriptor (its text) is VMCOREINFOSize bytes at
	// VMCOREINFOOffset inside Notes; size 0 means there is none.
	Notes                            []byte
	VMCOREINFOOffset, VMCOREINFOSize uint64

	MaxMapnr        uint64 // pfns the bitmaps describe: the highest pfn of memory + 1
	NrCPUs          int    // number of NT_PRSTATUS notes
	Codec           compress.Codec
	ExcludedVmemmap bool // makedumpfile -e: sets kdump.ExcludedVmemmap

	// Split, when set, makes this file one part of a split dump holding the
	// pages of pfns [StartPFN, EndPFN) (makedumpfile --split). Only the
	// header fields and the range check on pages are done here.
	Split *KdumpSplit
}

// KdumpSplit is the pfn range of one part of a split dump. The part holds the whole
// of both bitmaps (the 2nd says which pages of every part are dumped) and the
// descriptors and data of its own pages only.
type KdumpSplit struct {
	StartPFN, EndPFN uint64 // may be empty (StartPFN == EndPFN == max_mapnr)
	// Descriptors, when not 0, is the number of descriptor slots before the page data.
	// makedumpfile sizes every part's table for the dumped pages of all parts (its
	// --reassemble finds the shared zero page by that offset), so a part written for
	// it has the total here; 0 sizes the table for this part's pages.
	Descriptors uint64
}

// KdumpLayout says where a kdump-compressed file's parts are. Offsets are in
// the final (not flattened) file.
type KdumpLayout struct {
	BlockSize      int64
	SubHeader      int64 // offset of the sub header (one block in)
	Notes          int64 // offset of the copied notes, right after the sub header
	Bitmap1        int64 // offset of the 1st bitmap (pfn exists)
	Bitmap2        int64 // offset of the 2nd bitmap (pfn dumped)
	BitmapLen      int64 // bytes of each bitmap, a whole number of blocks
	Descriptors    int64 // offset of descriptor 0
	Data           int64 // offset of the first page data: Descriptors + 24 * dumped pages
	DumpedPages    uint64
	SharedZeroPage bool // the first data item is the shared zero page
}

// DescriptorOffset returns the file offset of the i-th page descriptor.
func (l *KdumpLayout) DescriptorOffset(i uint64) int64 {
	return l.Descriptors + int64(i)*kdump.PageDescSize
}

// Sizes of the write buffers: descriptors and page data are gathered and
// written in pieces this big, so that a dump needs a bounded amount of memory
// whatever its size, and a pipe sees few, large flattened records.
const (
	kdumpDataBuf = 1 << 20
	kdumpDescBuf = 64 << 10
	rearrangeBuf = 64 << 10
)

// KdumpWriter writes a kdump-compressed dump (makedumpfile's default format,
// header version 6), either to a file it can seek in (NewKdumpWriter: an
// io.WriterAt) or as makedumpfile's flattened stream to a pipe
// (NewFlattenedKdumpWriter: an io.Writer), through the same code: every piece
// is written at the offset it has in the final file, which for a stream means
// a {offset, size} record header in front of it.
//
// The collector works in pfn windows and in bounded memory, so the file is
// written in this order:
//
//	w.Begin(&hdr, dumped)        // headers and notes; dumped = set bits of the 2nd bitmap
//	for each window of pfns:
//		w.WriteBitmaps(start, bitmap1, nil)      // the 1st bitmap, from the PT_LOADs
//	for each window of pfns:
//		w.WriteBitmaps(start, nil, bitmap2)      // the window's classification
//		for each dumped pfn in the window, ascending:
//			w.WritePage(pfn, data, flags) or w.WriteZeroPage(pfn)
//	w.Finish()
//
// The number of dumped pages must be known before the first page (the page
// data begins after the descriptor table), so the collector counts them in a
// first pass over the windows. If writing fails (ENOSPC, a size limit), call
// MarkIncomplete: the file stays readable, marked incomplete, and every page
// whose descriptor or data did not make it reads back as missing (its
// descriptor has offset 0), as with makedumpfile.
//
// A KdumpWriter is not safe for concurrent use.
type KdumpWriter struct {
	out    kdumpSink
	flat   bool
	h      KdumpHeader
	layout KdumpLayout
	main   kdump.Header

	begun, done bool
	err         error // sticky: the first write error

	next      uint64 // index of the next descriptor
	nextPFN   uint64 // pages must come at or above this pfn
	dataEnd   int64  // offset where the next page's data goes
	zeroPage  int64  // offset of the shared zero page, -1 when there is none
	bitmap2   uint64 // set bits of the 2nd bitmap seen by WriteBitmaps
	haveBits  bool
	descFirst uint64  // index of descBuf's first descriptor
	descBuf   []byte  // pending descriptors
	descNeed  []int64 // for each pending descriptor, the data end it needs written
	dataStart int64   // offset of dataBuf[0]
	dataBuf   []byte  // pending page data
	zeros     []byte  // one zero page
}

// kdumpSink writes p at offset off of the final file: the file itself, or a
// *flat.Writer that makes each write a record of the flattened stream.
type kdumpSink interface {
	WriteAt(p []byte, off int64) (int, error)
}

// NewKdumpWriter returns a writer of a kdump-compressed file to dst, a new
// (empty) file: regions the writer never reaches must read back as zeros.
func NewKdumpWriter(dst io.WriterAt) *KdumpWriter {
	return &KdumpWriter{out: dst}
}

// NewFlattenedKdumpWriter returns a writer of the flattened form of a
// kdump-compressed file to dst (makedumpfile -F), for pipes and ssh:
// `makedumpfile -R` or Rearrange turn it into the ordinary file, and
// vmcore.Open reads it as it is.
func NewFlattenedKdumpWriter(dst io.Writer) *KdumpWriter {
	return &KdumpWriter{out: flat.NewWriter(dst), flat: true}
}

// Layout returns where the parts of the file are; valid after Begin.
func (w *KdumpWriter) Layout() KdumpLayout { return w.layout }

// PagesWritten returns the number of descriptors handed to the writer so far.
func (w *KdumpWriter) PagesWritten() uint64 { return w.next }

func (w *KdumpWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// Begin checks the header, computes the layout for dumpedPages pages (the
// number of set bits of the whole 2nd bitmap, zero pages included) and
// writes the main header, the sub header and the notes.
func (w *KdumpWriter) Begin(h *KdumpHeader, dumpedPages uint64) error {
	if w.begun {
		return errors.New("dumpfile: kdump Begin called twice")
	}
	if err := w.setup(h, dumpedPages); err != nil {
		return err
	}
	w.begun = true
	if w.flat {
		if err := w.out.(*flat.Writer).Start(); err != nil {
			return w.fail(fmt.Errorf("dumpfile: writing the flattened start block: %w", err))
		}
	}
	if err := w.writeMainHeader(); err != nil {
		return err
	}
	sub := w.subHeader()
	if err := w.writeAll(sub.Bytes(), w.layout.SubHeader, "sub header"); err != nil {
		return err
	}
	if len(h.Notes) > 0 {
		if err := w.writeAll(h.Notes, w.layout.Notes, "notes"); err != nil {
			return err
		}
	}
	if h.Split != nil {
		// A part may hold no page at all (an empty range): its file still reaches the
		// end of the bitmaps, which readers check.
		if err := w.writeAll([]byte{0}, w.layout.Descriptors-1, "end of the 2nd bitmap"); err != nil {
			return err
		}
	}
	if w.zeroPage >= 0 {
		// The shared zero page is the first data item, as in makedumpfile.
		w.dataBuf = append(w.dataBuf, w.zeros...)
		w.dataEnd += int64(len(w.zeros))
	}
	return nil
}

func (w *KdumpWriter) setup(h *KdumpHeader, dumpedPages uint64) error {
	bs := h.PageSize
	if bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
		return fmt.Errorf("dumpfile: kdump page size %d, want a power of two from 512 to 1 MiB", bs)
	}
	if h.MaxMapnr == 0 || h.MaxMapnr > 1<<52 {
		return fmt.Errorf("dumpfile: kdump max_mapnr %d, want 1..2^52", h.MaxMapnr)
	}
	if dumpedPages > h.MaxMapnr {
		return fmt.Errorf("dumpfile: %d dumped pages, more than max_mapnr %d", dumpedPages, h.MaxMapnr)
	}
	if h.VMCOREINFOSize > 0 && (h.VMCOREINFOOffset > uint64(len(h.Notes)) || h.VMCOREINFOSize > uint64(len(h.Notes))-h.VMCOREINFOOffset) {
		return fmt.Errorf("dumpfile: VMCOREINFO [%d, +%d) is not inside the %d bytes of notes", h.VMCOREINFOOffset, h.VMCOREINFOSize, len(h.Notes))
	}
	switch h.Codec {
	case compress.None, compress.Zlib, compress.LZO, compress.Snappy, compress.Zstd:
	default:
		return fmt.Errorf("dumpfile: kdump codec 0x%x is not one of the format's", uint32(h.Codec))
	}
	if h.NrCPUs < 0 || h.NrCPUs > math.MaxInt32 || h.DumpLevel < 0 || h.DumpLevel > math.MaxInt32 {
		return fmt.Errorf("dumpfile: kdump nr_cpus %d or dump level %d out of range", h.NrCPUs, h.DumpLevel)
	}
	descSlots := dumpedPages
	if s := h.Split; s != nil {
		if s.StartPFN > s.EndPFN || s.EndPFN > h.MaxMapnr {
			return fmt.Errorf("dumpfile: split range [%d, %d) not inside [0, max_mapnr %d)", s.StartPFN, s.EndPFN, h.MaxMapnr)
		}
		if s.Descriptors != 0 {
			if s.Descriptors < dumpedPages || s.Descriptors > h.MaxMapnr {
				return fmt.Errorf("dumpfile: %d descriptor slots for a part of %d pages and max_mapnr %d", s.Descriptors, dumpedPages, h.MaxMapnr)
			}
			descSlots = s.Descriptors
		}
	}
	var m kdump.Header
	if err := m.SetUTSName(h.UTSName); err != nil {
		return fmt.Errorf("dumpfile: %w", err)
	}

	b := int64(bs)
	subBlocks := ceilDiv(kdump.SubHeaderSize+int64(len(h.Notes)), b)
	bitmapLen := ceilDiv(ceilDiv(int64(h.MaxMapnr), 8), b) * b
	if subBlocks > math.MaxInt32 || 2*bitmapLen/b > math.MaxUint32 {
		return fmt.Errorf("dumpfile: kdump headers too large: %d sub header blocks, %d bitmap blocks", subBlocks, 2*bitmapLen/b)
	}
	l := KdumpLayout{
		BlockSize:   b,
		SubHeader:   b,
		Notes:       b + kdump.SubHeaderSize,
		Bitmap1:     (1 + subBlocks) * b,
		BitmapLen:   bitmapLen,
		DumpedPages: dumpedPages,
	}
	l.Bitmap2 = l.Bitmap1 + bitmapLen
	l.Descriptors = l.Bitmap2 + bitmapLen
	l.Data = l.Descriptors + int64(descSlots)*kdump.PageDescSize
	l.SharedZeroPage = h.DumpLevel&1 != 0

	w.h = *h
	w.layout = l
	w.dataEnd = l.Data
	w.dataStart = l.Data
	w.zeroPage = -1
	if l.SharedZeroPage {
		w.zeroPage = l.Data
	}
	w.zeros = make([]byte, bs)

	copy(m.Signature[:], kdump.Signature)
	m.HeaderVersion = kdump.Version
	if !h.CrashTime.IsZero() {
		m.TimestampSec = h.CrashTime.Unix()
		m.TimestampUsec = int64(h.CrashTime.Nanosecond() / 1000)
	}
	m.Status = h.Codec.Flag()
	if h.ExcludedVmemmap {
		m.Status |= kdump.ExcludedVmemmap
	}
	m.BlockSize = int32(bs)
	m.SubHdrSize = int32(subBlocks)
	m.BitmapBlocks = uint32(2 * bitmapLen / b)
	m.MaxMapnr = uint32(min(h.MaxMapnr, math.MaxUint32))
	m.NrCPUs = int32(h.NrCPUs)
	w.main = m
	return nil
}

func (w *KdumpWriter) subHeader() kdump.SubHeader {
	h := &w.h
	s := kdump.SubHeader{
		PhysBase:   h.PhysBase,
		DumpLevel:  int32(h.DumpLevel),
		MaxMapnr64: h.MaxMapnr,
	}
	if h.Split != nil {
		s.Split = 1
		s.StartPFN = min(h.Split.StartPFN, math.MaxUint32)
		s.EndPFN = min(h.Split.EndPFN, math.MaxUint32)
		s.StartPFN64 = h.Split.StartPFN
		s.EndPFN64 = h.Split.EndPFN
	}
	if len(h.Notes) > 0 {
		s.OffsetNote = uint64(w.layout.Notes)
		s.SizeNote = uint64(len(h.Notes))
		if h.VMCOREINFOSize > 0 {
			s.OffsetVMCOREINFO = uint64(w.layout.Notes) + h.VMCOREINFOOffset
			s.SizeVMCOREINFO = h.VMCOREINFOSize
		}
	}
	return s
}

func (w *KdumpWriter) writeMainHeader() error {
	return w.writeAll(w.main.Bytes(), 0, "main header")
}

// writeAll writes p at off, recording a failure as the writer's error.
func (w *KdumpWriter) writeAll(p []byte, off int64, what string) error {
	if _, err := w.out.WriteAt(p, off); err != nil {
		return w.fail(fmt.Errorf("dumpfile: writing kdump %s at offset 0x%x: %w", what, off, err))
	}
	return nil
}

func (w *KdumpWriter) usable() error {
	switch {
	case !w.begun:
		return errors.New("dumpfile: kdump writer used before Begin")
	case w.done:
		return errors.New("dumpfile: kdump writer used after Finish or MarkIncomplete")
	}
	return w.err
}

// WriteBitmaps writes bits of the bitmaps for the pfns from startPFN (a
// multiple of 8) on: bit i of byte j is pfn startPFN + 8j + i. The 1st
// bitmap says which pfns exist (are in some PT_LOAD of the vmcore), the 2nd
// which of them are dumped; either may be nil to write only the other.
// Each window of pfns is written once per bitmap; the set bits of all the
// 2nd-bitmap windows must add up to Begin's dumpedPages. Pfns never covered
// by a window read back as neither existing nor dumped.
//
// makedumpfile writes the whole 1st bitmap first (it comes from the
// PT_LOADs, no classification needed), then each window's 2nd bitmap just
// before the window's pages; that way an incomplete dump still tells memory
// that was never reached from holes.
func (w *KdumpWriter) WriteBitmaps(startPFN uint64, bitmap1, bitmap2 []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if startPFN%8 != 0 || (bitmap1 != nil && bitmap2 != nil && len(bitmap1) != len(bitmap2)) {
		return fmt.Errorf("dumpfile: bitmap window at pfn %d with %d and %d bytes: want a start that is a multiple of 8 and equal lengths",
			startPFN, len(bitmap1), len(bitmap2))
	}
	n := uint64(max(len(bitmap1), len(bitmap2)))
	if startPFN >= w.h.MaxMapnr || n > uint64(w.layout.BitmapLen)-startPFN/8 {
		return fmt.Errorf("dumpfile: bitmap window [pfn %d, +%d bytes) outside the %d-byte bitmaps", startPFN, n, w.layout.BitmapLen)
	}
	off := int64(startPFN / 8)
	if bitmap1 != nil {
		if err := w.writeAll(bitmap1, w.layout.Bitmap1+off, "1st bitmap"); err != nil {
			return err
		}
	}
	if bitmap2 != nil {
		lo, hi := uint64(0), w.h.MaxMapnr
		if w.h.Split != nil {
			lo, hi = w.h.Split.StartPFN, w.h.Split.EndPFN
		}
		w.bitmap2 += countBits(bitmap2, startPFN, lo, hi)
		w.haveBits = true
		return w.writeAll(bitmap2, w.layout.Bitmap2+off, "2nd bitmap")
	}
	return nil
}

// WritePage appends the next dumped page, pfn, whose stored form is data:
// the page compressed with the header's codec (flags = its flag bit), or
// the raw page (flags 0, len(data) = page size), as
// compress.PageCompressor.CompressPage returns them. Pages come in
// ascending pfn order. data is copied.
func (w *KdumpWriter) WritePage(pfn uint64, data []byte, flags uint32) error {
	if err := w.checkPage(pfn); err != nil {
		return err
	}
	switch {
	case flags == 0 && len(data) != int(w.layout.BlockSize):
		return fmt.Errorf("dumpfile: raw page pfn %d is %d bytes, want the page size %d", pfn, len(data), w.layout.BlockSize)
	case flags != 0 && flags != w.h.Codec.Flag():
		return fmt.Errorf("dumpfile: page pfn %d has flags 0x%x, want 0 or the dump's codec 0x%x", pfn, flags, w.h.Codec.Flag())
	case len(data) == 0 || len(data) > int(w.layout.BlockSize):
		return fmt.Errorf("dumpfile: compressed page pfn %d is %d bytes, want 1..%d", pfn, len(data), w.layout.BlockSize)
	}
	off := w.dataEnd
	w.dataBuf = append(w.dataBuf, data...)
	w.dataEnd += int64(len(data))
	return w.addDesc(pfn, kdump.PageDesc{Offset: off, Size: uint32(len(data)), Flags: flags}, w.dataEnd)
}

// WriteZeroPage appends the next dumped page, pfn, as a page of zeros: its
// descriptor points at the shared zero page. Only for dumps whose dump
// level excludes zero pages (bit 1), which reserve that page.
func (w *KdumpWriter) WriteZeroPage(pfn uint64) error {
	if err := w.checkPage(pfn); err != nil {
		return err
	}
	if w.zeroPage < 0 {
		return fmt.Errorf("dumpfile: zero page pfn %d: dump level %d has no shared zero page (bit 1 unset)", pfn, w.h.DumpLevel)
	}
	bs := w.layout.BlockSize
	return w.addDesc(pfn, kdump.PageDesc{Offset: w.zeroPage, Size: uint32(bs)}, w.zeroPage+bs)
}

func (w *KdumpWriter) checkPage(pfn uint64) error {
	if err := w.usable(); err != nil {
		return err
	}
	switch {
	case pfn < w.nextPFN:
		return fmt.Errorf("dumpfile: page pfn %d after pfn %d: pages must come in ascending pfn order", pfn, w.nextPFN-1)
	case pfn >= w.h.MaxMapnr:
		return fmt.Errorf("dumpfile: page pfn %d beyond max_mapnr %d", pfn, w.h.MaxMapnr)
	case w.next >= w.layout.DumpedPages:
		return fmt.Errorf("dumpfile: page pfn %d is one more than the %d dumped pages Begin was given", pfn, w.layout.DumpedPages)
	case w.h.Split != nil && (pfn < w.h.Split.StartPFN || pfn >= w.h.Split.EndPFN):
		return fmt.Errorf("dumpfile: page pfn %d outside this part's range [%d, %d)", pfn, w.h.Split.StartPFN, w.h.Split.EndPFN)
	}
	return nil
}

func (w *KdumpWriter) addDesc(pfn uint64, d kdump.PageDesc, need int64) error {
	var b [kdump.PageDescSize]byte
	d.Put(b[:])
	w.descBuf = append(w.descBuf, b[:]...)
	w.descNeed = append(w.descNeed, need)
	w.next++
	w.nextPFN = pfn + 1
	if len(w.dataBuf) >= kdumpDataBuf || len(w.descBuf) >= kdumpDescBuf {
		return w.flush()
	}
	return nil
}

// flush writes the pending descriptors and page data. To a file it writes
// the descriptors first, as makedumpfile does, so that their blocks are
// allocated before the data fills the disk; when the data then does not
// fit, the descriptors of the pages whose data is not wholly written are
// overwritten with zeros (which needs no new space), so those pages read as
// missing rather than as garbage. A stream gets the data first and the
// descriptors after it, so a stream cut short never has a descriptor
// pointing at data that did not come.
func (w *KdumpWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	descOff := w.layout.DescriptorOffset(w.descFirst)
	if w.flat {
		if len(w.dataBuf) > 0 {
			if err := w.writeAll(w.dataBuf, w.dataStart, "page data"); err != nil {
				return err
			}
		}
		if len(w.descBuf) > 0 {
			if err := w.writeAll(w.descBuf, descOff, "page descriptors"); err != nil {
				return err
			}
		}
	} else {
		if len(w.descBuf) > 0 {
			if _, err := w.out.WriteAt(w.descBuf, descOff); err != nil {
				clear(w.descBuf)
				w.out.WriteAt(w.descBuf, descOff) // best effort: the error below is what counts
				return w.fail(fmt.Errorf("dumpfile: writing kdump page descriptors at offset 0x%x: %w", descOff, err))
			}
		}
		if len(w.dataBuf) > 0 {
			if n, err := w.out.WriteAt(w.dataBuf, w.dataStart); err != nil {
				written := w.dataStart + int64(n)
				for i, need := range w.descNeed {
					if need > written {
						clear(w.descBuf[i*kdump.PageDescSize : (i+1)*kdump.PageDescSize])
					}
				}
				w.out.WriteAt(w.descBuf, descOff) // best effort, as above
				return w.fail(fmt.Errorf("dumpfile: writing kdump page data at offset 0x%x: %w", written, err))
			}
		}
	}
	w.descFirst += uint64(len(w.descNeed))
	w.dataStart += int64(len(w.dataBuf))
	w.descBuf = w.descBuf[:0]
	w.descNeed = w.descNeed[:0]
	w.dataBuf = w.dataBuf[:0]
	return nil
}

// Finish writes what is pending and, for a stream, the end record. It
// fails when fewer pages were written than Begin was told, or when the 2nd
// bitmap windows do not add up to that number; the dump may then be marked
// incomplete with MarkIncomplete.
func (w *KdumpWriter) Finish() error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	if w.next != w.layout.DumpedPages {
		return fmt.Errorf("dumpfile: %d of the %d dumped pages were written", w.next, w.layout.DumpedPages)
	}
	if !w.haveBits || w.bitmap2 != w.layout.DumpedPages {
		return fmt.Errorf("dumpfile: the 2nd bitmap windows have %d pages set, Begin was told %d", w.bitmap2, w.layout.DumpedPages)
	}
	if err := w.end(); err != nil {
		return err
	}
	w.done = true
	return nil
}

func (w *KdumpWriter) end() error {
	if !w.flat {
		return nil
	}
	if err := w.out.(*flat.Writer).Close(); err != nil {
		return w.fail(fmt.Errorf("dumpfile: writing the flattened end record: %w", err))
	}
	return nil
}

// MarkIncomplete ends a dump that cannot be finished (a write failed, the
// disk is full, memory could not be read): it writes what is still pending
// if it can, then rewrites the main header with kdump.Incomplete set
// in its status and, for a stream, ends it. Pages never written read back
// as missing. The error says whether the mark itself could be written.
func (w *KdumpWriter) MarkIncomplete() error {
	if !w.begun {
		return errors.New("dumpfile: kdump MarkIncomplete before Begin")
	}
	if w.done {
		return errors.New("dumpfile: kdump MarkIncomplete after Finish")
	}
	w.done = true
	if w.err == nil {
		w.flush() // a failure leaves zeroed descriptors; the mark is what matters now
	}
	w.main.Status |= kdump.Incomplete
	if _, err := w.out.WriteAt(w.main.Bytes(), 0); err != nil {
		return fmt.Errorf("dumpfile: marking the kdump file incomplete at offset 0: %w", err)
	}
	if w.flat {
		if err := w.out.(*flat.Writer).Close(); err != nil {
			return fmt.Errorf("dumpfile: ending the flattened stream: %w", err)
		}
	}
	return nil
}

// countBits counts the set bits of bitmap (whose bit 0 is pfn start) for
// pfns in [lo, hi).
func countBits(bitmap []byte, start, lo, hi uint64) uint64 {
	var n uint64
	for i, b := range bitmap {
		pfn := start + uint64(i)*8
		if pfn+8 <= lo || pfn >= hi {
			continue
		}
		if pfn < lo {
			b &^= byte(1<<(lo-pfn) - 1)
		}
		if hi < pfn+8 {
			b &= byte(1<<(hi-pfn) - 1)
		}
		n += uint64(bits.OnesCount8(b))
	}
	return n
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
