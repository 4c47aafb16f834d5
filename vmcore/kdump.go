package vmcore

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"sync"
	"time"

	"github.com/gokdump/gokdump/arch/x86"
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

// Bounds of what a kdump-compressed file may make us hold.
const (
	rankChunk      = 512 // bytes of 2nd bitmap (4096 pfns) per rank index entry
	kdumpPageCache = 16  // decompressed pages kept, as crash's DISKDUMP_CACHED_PAGES
	kdumpDescCache = 256 // descriptors read at a time
)

// kdumpReader serves ReadPhys for a kdump-compressed file. Its caches make it
// stateful, so it is guarded by a mutex: File.ReadPhys may be called from
// several goroutines, as for ELF files.
type kdumpReader struct {
	mu   sync.Mutex
	info *KdumpInfo

	// rank[i] is the number of dumped pfns below pfn i*rankChunk*8, built
	// on the first read; rank has one more entry than there are chunks, the
	// total.
	rank      []uint64
	partFirst uint64 // rank of the first pfn of this part of a split dump

	chunkIdx int64 // 2nd bitmap chunk held in chunk, -1 for none
	chunk    [rankChunk]byte

	descFirst uint64 // index of descs[0]
	descs     []kdump.PageDesc

	pages  [kdumpPageCache]cachedPage
	victim int
	raw    []byte
	dec    map[compress.Codec]*compress.PageDecompressor
}

type cachedPage struct {
	pfn  uint64
	ok   bool
	data []byte
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
	f.kdump = &kdumpReader{info: k, chunkIdx: -1, raw: make([]byte, bs), dec: map[compress.Codec]*compress.PageDecompressor{}}
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

// kdumpSymbols gives x86.NewKernelSpace the sub header's phys_base when
// VMCOREINFO lacks NUMBER(phys_base) (kernels before 4.10): an ELF dump's
// kernel-text PT_LOAD would give it, but a kdump-compressed file has no
// virtual addresses.
type kdumpSymbols struct {
	*VMCOREINFO
	physBase uint64
}

func (s kdumpSymbols) Number(name string) (int64, bool) {
	if v, ok := s.VMCOREINFO.Number(name); ok || name != "phys_base" {
		return v, ok
	}
	return int64(s.physBase), true
}

// x86Symbols returns what KernelSpace hands x86.NewKernelSpace as symbols.
func (f *File) x86Symbols(info *VMCOREINFO) x86.Symbols {
	if f.Kdump == nil {
		return info
	}
	return kdumpSymbols{info, f.Kdump.PhysBase()}
}

// readKdumpPhys is ReadPhys for a kdump-compressed file, one page at a time.
func (f *File) readKdumpPhys(p []byte, addr uint64) (int, error) {
	k := f.kdump
	ps := k.info.PageSize
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	// Each pass copies at least one byte or returns.
	for n < len(p) {
		a := addr + uint64(n)
		if a < addr {
			return n, &HoleError{Addr: a}
		}
		page, err := f.kdumpPage(a/ps, a)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], page[a%ps:])
	}
	return n, nil
}

// kdumpPage returns the contents of page pfn (a is the address asked for,
// for errors), from the cache or the file.
func (f *File) kdumpPage(pfn, a uint64) ([]byte, error) {
	k := f.kdump
	for i := range k.pages {
		if c := &k.pages[i]; c.ok && c.pfn == pfn {
			return c.data, nil
		}
	}
	info := k.info
	if pfn >= info.MaxMapnr || !f.kdumpExists(pfn) {
		return nil, &HoleError{Addr: a}
	}
	dumped, err := f.kdumpBit2(pfn)
	if err != nil {
		return nil, err
	}
	if !dumped {
		e := &PageError{Addr: a, PFN: pfn, Err: ErrExcluded}
		if f.incomplete {
			e.Why = "or, the dump being incomplete, never reached"
		}
		return nil, e
	}
	if start, end, ok := info.Split(); ok && (pfn < start || pfn >= end) {
		return nil, &PageError{Addr: a, PFN: pfn, Err: ErrMissing,
			Why: fmt.Sprintf("it is in another part of the split dump (this part holds pfns [0x%x, 0x%x))", start, end)}
	}
	if err := f.kdumpRank(); err != nil {
		return nil, err
	}
	idx := k.rankOf(pfn, f) - k.partFirst
	d, descOff, err := f.kdumpDesc(idx, pfn, a)
	if err != nil {
		return nil, err
	}

	c := &k.pages[k.victim]
	k.victim = (k.victim + 1) % len(k.pages)
	c.ok = false
	if c.data == nil {
		c.data = make([]byte, 0, info.PageSize)
	}
	if err := f.kdumpDecode(c, d, descOff, pfn, a); err != nil {
		return nil, err
	}
	c.pfn, c.ok = pfn, true
	return c.data, nil
}

func (f *File) kdumpExists(pfn uint64) bool {
	addr := pfn * f.kdump.info.PageSize
	i := sort.Search(len(f.Loads), func(i int) bool { return f.Loads[i].Phys+f.Loads[i].MemSize > addr })
	return i < len(f.Loads) && f.Loads[i].Phys <= addr
}

// kdumpBit2 tests pfn in the 2nd bitmap, through a one-chunk cache.
func (f *File) kdumpBit2(pfn uint64) (bool, error) {
	k := f.kdump
	ci := int64(pfn / (rankChunk * 8))
	if ci != k.chunkIdx {
		k.chunkIdx = -1
		// BitmapLen is a whole number of blocks of at least rankChunk bytes.
		if err := f.readFull(k.chunk[:], k.info.Bitmap2+ci*rankChunk, "2nd bitmap"); err != nil {
			return false, err
		}
		k.chunkIdx = ci
	}
	bit := pfn % (rankChunk * 8)
	return k.chunk[bit/8]&(1<<(bit%8)) != 0, nil
}

// kdumpRank builds the rank index of the 2nd bitmap on first use: one
// count per rankChunk bytes, so its size is the bitmap's over 64.
func (f *File) kdumpRank() error {
	k := f.kdump
	if k.rank != nil {
		return nil
	}
	info := k.info
	nbytes := int64((info.MaxMapnr + 7) / 8)
	nchunks := (nbytes + rankChunk - 1) / rankChunk
	rank := make([]uint64, 0, nchunks+1)
	buf := make([]byte, min(nchunks*rankChunk, readChunk))
	var total uint64
	for off := int64(0); off < nchunks*rankChunk; {
		chunk := buf[:min(nchunks*rankChunk-off, int64(len(buf)))]
		if err := f.readFull(chunk, info.Bitmap2+off, "2nd bitmap"); err != nil {
			return err
		}
		for c := 0; c < len(chunk); c += rankChunk {
			rank = append(rank, total)
			part := chunk[c : c+rankChunk]
			base := off + int64(c)
			if base+rankChunk > nbytes { // ignore bits at and beyond max_mapnr
				part = part[:nbytes-base]
			}
			for i, b := range part {
				if pfn := uint64(base+int64(i)) * 8; pfn+8 > info.MaxMapnr {
					b &= byte(1<<(info.MaxMapnr-pfn) - 1)
				}
				total += uint64(bits.OnesCount8(b))
			}
		}
		off += int64(len(chunk))
	}
	rank = append(rank, total)
	k.rank = rank
	if start, _, ok := info.Split(); ok {
		k.partFirst = k.rankOf(start, f)
	}
	return nil
}

// rankOf returns the number of dumped pfns below pfn. It reads the chunk
// of pfn into the cache; errors cannot happen there because kdumpRank read
// the whole bitmap already, and a failure now gives a conservative 0 that the
// descriptor checks catch.
func (k *kdumpReader) rankOf(pfn uint64, f *File) uint64 {
	if pfn >= k.info.MaxMapnr {
		return k.rank[len(k.rank)-1]
	}
	ci := pfn / (rankChunk * 8)
	r := k.rank[ci]
	if _, err := f.kdumpBit2(pfn); err != nil {
		return r
	}
	bit := pfn % (rankChunk * 8)
	for _, b := range k.chunk[:bit/8] {
		r += uint64(bits.OnesCount8(b))
	}
	return r + uint64(bits.OnesCount8(k.chunk[bit/8]&byte(1<<(bit%8)-1)))
}

// kdumpDesc returns descriptor idx (of pfn, at address a) and its offset.
func (f *File) kdumpDesc(idx, pfn, a uint64) (kdump.PageDesc, int64, error) {
	k := f.kdump
	info := k.info
	total := k.rank[len(k.rank)-1] - k.partFirst
	if idx >= total {
		return kdump.PageDesc{}, 0, f.errorf(info.Descriptors, "pfn 0x%x is dumped page %d of only %d", pfn, idx, total)
	}
	descOff := info.Descriptors + int64(idx)*kdump.PageDescSize
	if idx < k.descFirst || idx >= k.descFirst+uint64(len(k.descs)) {
		k.descs = k.descs[:0]
		n := min(total-idx, kdumpDescCache)
		var b [kdumpDescCache * kdump.PageDescSize]byte
		avail := (f.Size - descOff) / kdump.PageDescSize // descriptors wholly in the file
		if descOff >= f.Size || avail <= 0 {
			return kdump.PageDesc{}, descOff, f.missingOrTruncated(pfn, a, descOff, "its descriptor is past the end of the file")
		}
		n = min(n, uint64(avail))
		if err := f.readFull(b[:n*kdump.PageDescSize], descOff, "page descriptors"); err != nil {
			return kdump.PageDesc{}, descOff, err
		}
		for i := range n {
			k.descs = append(k.descs, kdump.DecodePageDesc(b[i*kdump.PageDescSize:]))
		}
		k.descFirst = idx
	}
	return k.descs[idx-k.descFirst], descOff, nil
}

// missingOrTruncated is the error for page data the file lacks: missing in
// a dump marked incomplete, a FormatError otherwise.
func (f *File) missingOrTruncated(pfn, a uint64, off int64, why string) error {
	if f.incomplete {
		return &PageError{Addr: a, PFN: pfn, Err: ErrMissing, Why: why + " (the dump is marked incomplete)"}
	}
	return f.errorf(off, "pfn 0x%x: %s, but the dump is not marked incomplete", pfn, why)
}

// kdumpDecode reads and decompresses the page descriptor d (at descOff)
// points at into c.data.
func (f *File) kdumpDecode(c *cachedPage, d kdump.PageDesc, descOff int64, pfn, a uint64) error {
	k := f.kdump
	ps := k.info.PageSize
	if d.Offset == 0 && d.Size == 0 && d.Flags == 0 {
		return f.missingOrTruncated(pfn, a, descOff, "its descriptor was never written (offset 0)")
	}
	if d.Offset <= 0 || d.Size == 0 || uint64(d.Size) > ps {
		return f.errorf(descOff, "descriptor of pfn 0x%x: data at offset %d of %d bytes, want a positive offset and 1..%d bytes",
			pfn, d.Offset, d.Size, ps)
	}
	if d.Offset > f.Size || int64(d.Size) > f.Size-d.Offset {
		return f.missingOrTruncated(pfn, a, descOff, fmt.Sprintf("its data [0x%x, +%d) is past the end of the file (size %d)", d.Offset, d.Size, f.Size))
	}
	if d.Flags&^uint32(kdump.CodecFlags) != 0 {
		return f.errorf(descOff+12, "descriptor of pfn 0x%x: unknown flags 0x%x", pfn, d.Flags)
	}
	codec, err := compress.CodecFromFlags(d.Flags)
	if err != nil {
		return f.errorf(descOff+12, "descriptor of pfn 0x%x: %v", pfn, err)
	}
	if codec == compress.None && uint64(d.Size) != ps {
		return f.errorf(descOff+8, "descriptor of pfn 0x%x: uncompressed page of %d bytes, want the page size %d", pfn, d.Size, ps)
	}
	src := k.raw[:d.Size]
	if err := f.readFull(src, d.Offset, "page data"); err != nil {
		return err
	}
	dec := k.dec[codec]
	if dec == nil {
		if dec, err = compress.NewPageDecompressor(codec); err != nil {
			return f.errorf(descOff+12, "descriptor of pfn 0x%x: %v", pfn, err)
		}
		k.dec[codec] = dec
	}
	out, err := dec.Decompress(c.data[:0], src, int(ps))
	if err != nil {
		return f.errorf(d.Offset, "page data of pfn 0x%x (%v, %d bytes): %v", pfn, codec, d.Size, err)
	}
	if uint64(len(out)) != ps {
		return f.errorf(d.Offset, "page data of pfn 0x%x decompressed to %d bytes, want %d", pfn, len(out), ps)
	}
	c.data = out
	return nil
}

// DumpedPages returns the number of pages the 2nd bitmap says are dumped
// (in this part, for a split dump), reading the bitmap the first time.
func (f *File) DumpedPages() (uint64, error) {
	if f.kdump == nil {
		return 0, fmt.Errorf("vmcore: %s: DumpedPages: not a kdump-compressed file", f.Name)
	}
	k := f.kdump
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := f.kdumpRank(); err != nil {
		return 0, err
	}
	if start, end, ok := k.info.Split(); ok {
		return k.rankOf(end, f) - k.rankOf(start, f), nil
	}
	return k.rank[len(k.rank)-1], nil
}

// PageDumped reports whether pfn is in the 2nd bitmap of a kdump-compressed
// file: whether its contents are in the file (or should have been, in an
// incomplete dump).
func (f *File) PageDumped(pfn uint64) (bool, error) {
	if f.kdump == nil {
		return false, fmt.Errorf("vmcore: %s: PageDumped: not a kdump-compressed file", f.Name)
	}
	k := f.kdump
	k.mu.Lock()
	defer k.mu.Unlock()
	if pfn >= k.info.MaxMapnr {
		return false, nil
	}
	return f.kdumpBit2(pfn)
}

// DumpedBitmap fills dst with the 2nd bitmap of a kdump-compressed file for the pfns
// from start (a multiple of 8) on: bit i of dst[j] says whether pfn start+8j+i is in
// the file. Pfns at or beyond max_mapnr read as not dumped. It is PageDumped for a
// whole range at once, for callers that walk every pfn (refiltering).
func (f *File) DumpedBitmap(dst []byte, start uint64) error {
	if f.kdump == nil {
		return fmt.Errorf("vmcore: %s: DumpedBitmap: not a kdump-compressed file", f.Name)
	}
	if start%8 != 0 {
		return fmt.Errorf("vmcore: %s: DumpedBitmap: start pfn 0x%x is not a multiple of 8", f.Name, start)
	}
	k := f.kdump
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(dst)
	maxPFN := k.info.MaxMapnr
	if start >= maxPFN {
		return nil
	}
	first := start / 8
	n := min(uint64(len(dst)), (maxPFN+7)/8-first) // bytes of the bitmap below max_mapnr
	if n == 0 {
		return nil
	}
	if err := f.readFull(dst[:n], k.info.Bitmap2+int64(first), "2nd bitmap"); err != nil {
		return err
	}
	if maxPFN < start+8*n {
		dst[n-1] &= byte(1)<<(maxPFN%8) - 1 // the bits of the last byte beyond max_mapnr
	}
	return nil
}
