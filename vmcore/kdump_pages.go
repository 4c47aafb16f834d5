package vmcore

import (
	"fmt"
	"math/bits"
	"sort"
	"sync"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/format/kdump"
)

// Bounds of what a kdump-compressed file may make us hold.
const (
	rankChunk      = 512 // bytes of 2nd bitmap (4096 pfns) per rank index entry
	kdumpPageCache = 16  // decompressed pages kept, as crash's DISKDUMP_CACHED_PAGES
	kdumpDescCache = 256 // descriptors read at a time
)

// kdumpReader is the physReader of a kdump-compressed file. Its caches make it
// stateful, so it is guarded by a mutex: File.ReadPhys may be called from
// several goroutines, as for ELF files.
type kdumpReader struct {
	f    *File
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

// readPhys is ReadPhys for a kdump-compressed file, one page at a time.
func (k *kdumpReader) readPhys(p []byte, addr uint64) (int, error) {
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
		page, err := k.page(a/ps, a)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], page[a%ps:])
	}
	return n, nil
}

// page returns the contents of page pfn (a is the address asked for,
// for errors), from the cache or the file.
func (k *kdumpReader) page(pfn, a uint64) ([]byte, error) {
	for i := range k.pages {
		if c := &k.pages[i]; c.ok && c.pfn == pfn {
			return c.data, nil
		}
	}
	info := k.info
	if pfn >= info.MaxMapnr || !k.exists(pfn) {
		return nil, &HoleError{Addr: a}
	}
	dumped, err := k.bit2(pfn)
	if err != nil {
		return nil, err
	}
	if !dumped {
		e := &PageError{Addr: a, PFN: pfn, Err: ErrExcluded}
		if k.f.incomplete {
			e.Why = "or, the dump being incomplete, never reached"
		}
		return nil, e
	}
	if start, end, ok := info.Split(); ok && (pfn < start || pfn >= end) {
		return nil, &PageError{Addr: a, PFN: pfn, Err: ErrMissing,
			Why: fmt.Sprintf("it is in another part of the split dump (this part holds pfns [0x%x, 0x%x))", start, end)}
	}
	if err := k.buildRank(); err != nil {
		return nil, err
	}
	idx := k.rankOf(pfn) - k.partFirst
	d, descOff, err := k.desc(idx, pfn, a)
	if err != nil {
		return nil, err
	}

	c := &k.pages[k.victim]
	k.victim = (k.victim + 1) % len(k.pages)
	c.ok = false
	if c.data == nil {
		c.data = make([]byte, 0, info.PageSize)
	}
	if err := k.decode(c, d, descOff, pfn, a); err != nil {
		return nil, err
	}
	c.pfn, c.ok = pfn, true
	return c.data, nil
}

func (k *kdumpReader) exists(pfn uint64) bool {
	addr := pfn * k.info.PageSize
	i := sort.Search(len(k.f.Loads), func(i int) bool { return k.f.Loads[i].Phys+k.f.Loads[i].MemSize > addr })
	return i < len(k.f.Loads) && k.f.Loads[i].Phys <= addr
}

// bit2 tests pfn in the 2nd bitmap, through a one-chunk cache.
func (k *kdumpReader) bit2(pfn uint64) (bool, error) {
	ci := int64(pfn / (rankChunk * 8))
	if ci != k.chunkIdx {
		k.chunkIdx = -1
		// BitmapLen is a whole number of blocks of at least rankChunk bytes.
		if err := k.f.readFull(k.chunk[:], k.info.Bitmap2+ci*rankChunk, "2nd bitmap"); err != nil {
			return false, err
		}
		k.chunkIdx = ci
	}
	bit := pfn % (rankChunk * 8)
	return k.chunk[bit/8]&(1<<(bit%8)) != 0, nil
}

// buildRank builds the rank index of the 2nd bitmap on first use: one
// count per rankChunk bytes, so its size is the bitmap's over 64.
func (k *kdumpReader) buildRank() error {
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
		if err := k.f.readFull(chunk, info.Bitmap2+off, "2nd bitmap"); err != nil {
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
		k.partFirst = k.rankOf(start)
	}
	return nil
}

// rankOf returns the number of dumped pfns below pfn. It reads the chunk
// of pfn into the cache; errors cannot happen there because buildRank read
// the whole bitmap already, and a failure now gives a conservative 0 that the
// descriptor checks catch.
func (k *kdumpReader) rankOf(pfn uint64) uint64 {
	if pfn >= k.info.MaxMapnr {
		return k.rank[len(k.rank)-1]
	}
	ci := pfn / (rankChunk * 8)
	r := k.rank[ci]
	if _, err := k.bit2(pfn); err != nil {
		return r
	}
	bit := pfn % (rankChunk * 8)
	for _, b := range k.chunk[:bit/8] {
		r += uint64(bits.OnesCount8(b))
	}
	return r + uint64(bits.OnesCount8(k.chunk[bit/8]&byte(1<<(bit%8)-1)))
}

// desc returns descriptor idx (of pfn, at address a) and its offset.
func (k *kdumpReader) desc(idx, pfn, a uint64) (kdump.PageDesc, int64, error) {
	info := k.info
	total := k.rank[len(k.rank)-1] - k.partFirst
	if idx >= total {
		return kdump.PageDesc{}, 0, k.f.errorf(info.Descriptors, "pfn 0x%x is dumped page %d of only %d", pfn, idx, total)
	}
	descOff := info.Descriptors + int64(idx)*kdump.PageDescSize
	if idx < k.descFirst || idx >= k.descFirst+uint64(len(k.descs)) {
		k.descs = k.descs[:0]
		n := min(total-idx, kdumpDescCache)
		var b [kdumpDescCache * kdump.PageDescSize]byte
		avail := (k.f.Size - descOff) / kdump.PageDescSize // descriptors wholly in the file
		if descOff >= k.f.Size || avail <= 0 {
			return kdump.PageDesc{}, descOff, k.missingOrTruncated(pfn, a, descOff, "its descriptor is past the end of the file")
		}
		n = min(n, uint64(avail))
		if err := k.f.readFull(b[:n*kdump.PageDescSize], descOff, "page descriptors"); err != nil {
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
func (k *kdumpReader) missingOrTruncated(pfn, a uint64, off int64, why string) error {
	if k.f.incomplete {
		return &PageError{Addr: a, PFN: pfn, Err: ErrMissing, Why: why + " (the dump is marked incomplete)"}
	}
	return k.f.errorf(off, "pfn 0x%x: %s, but the dump is not marked incomplete", pfn, why)
}

// decode reads and decompresses the page descriptor d (at descOff)
// points at into c.data.
func (k *kdumpReader) decode(c *cachedPage, d kdump.PageDesc, descOff int64, pfn, a uint64) error {
	ps := k.info.PageSize
	if d.Offset == 0 && d.Size == 0 && d.Flags == 0 {
		return k.missingOrTruncated(pfn, a, descOff, "its descriptor was never written (offset 0)")
	}
	if d.Offset <= 0 || d.Size == 0 || uint64(d.Size) > ps {
		return k.f.errorf(descOff, "descriptor of pfn 0x%x: data at offset %d of %d bytes, want a positive offset and 1..%d bytes",
			pfn, d.Offset, d.Size, ps)
	}
	if d.Offset > k.f.Size || int64(d.Size) > k.f.Size-d.Offset {
		return k.missingOrTruncated(pfn, a, descOff, fmt.Sprintf("its data [0x%x, +%d) is past the end of the file (size %d)", d.Offset, d.Size, k.f.Size))
	}
	if d.Flags&^uint32(kdump.CodecFlags) != 0 {
		return k.f.errorf(descOff+12, "descriptor of pfn 0x%x: unknown flags 0x%x", pfn, d.Flags)
	}
	codec, err := compress.CodecFromFlags(d.Flags)
	if err != nil {
		return k.f.errorf(descOff+12, "descriptor of pfn 0x%x: %v", pfn, err)
	}
	if codec == compress.None && uint64(d.Size) != ps {
		return k.f.errorf(descOff+8, "descriptor of pfn 0x%x: uncompressed page of %d bytes, want the page size %d", pfn, d.Size, ps)
	}
	src := k.raw[:d.Size]
	if err := k.f.readFull(src, d.Offset, "page data"); err != nil {
		return err
	}
	dec := k.dec[codec]
	if dec == nil {
		if dec, err = compress.NewPageDecompressor(codec); err != nil {
			return k.f.errorf(descOff+12, "descriptor of pfn 0x%x: %v", pfn, err)
		}
		k.dec[codec] = dec
	}
	out, err := dec.Decompress(c.data[:0], src, int(ps))
	if err != nil {
		return k.f.errorf(d.Offset, "page data of pfn 0x%x (%v, %d bytes): %v", pfn, codec, d.Size, err)
	}
	if uint64(len(out)) != ps {
		return k.f.errorf(d.Offset, "page data of pfn 0x%x decompressed to %d bytes, want %d", pfn, len(out), ps)
	}
	c.data = out
	return nil
}

// DumpedPages returns the number of pages the 2nd bitmap says are dumped
// (in this part, for a split dump), reading the bitmap the first time.
func (f *File) DumpedPages() (uint64, error) { return f.phys.dumpedPages() }

func (k *kdumpReader) dumpedPages() (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.buildRank(); err != nil {
		return 0, err
	}
	if start, end, ok := k.info.Split(); ok {
		return k.rankOf(end) - k.rankOf(start), nil
	}
	return k.rank[len(k.rank)-1], nil
}

// PageDumped reports whether pfn is in the 2nd bitmap of a kdump-compressed
// file: whether its contents are in the file (or should have been, in an
// incomplete dump).
func (f *File) PageDumped(pfn uint64) (bool, error) { return f.phys.pageDumped(pfn) }

func (k *kdumpReader) pageDumped(pfn uint64) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pfn >= k.info.MaxMapnr {
		return false, nil
	}
	return k.bit2(pfn)
}

// DumpedBitmap fills dst with the 2nd bitmap of a kdump-compressed file for the pfns
// from start (a multiple of 8) on: bit i of dst[j] says whether pfn start+8j+i is in
// the file. Pfns at or beyond max_mapnr read as not dumped. It is PageDumped for a
// whole range at once, for callers that walk every pfn (refiltering).
func (f *File) DumpedBitmap(dst []byte, start uint64) error { return f.phys.dumpedBitmap(dst, start) }

func (k *kdumpReader) dumpedBitmap(dst []byte, start uint64) error {
	if start%8 != 0 {
		return fmt.Errorf("vmcore: %s: DumpedBitmap: start pfn 0x%x is not a multiple of 8", k.f.Name, start)
	}
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
	if err := k.f.readFull(dst[:n], k.info.Bitmap2+int64(first), "2nd bitmap"); err != nil {
		return err
	}
	if maxPFN < start+8*n {
		dst[n-1] &= byte(1)<<(maxPFN%8) - 1 // the bits of the last byte beyond max_mapnr
	}
	return nil
}
