package vmcore

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/gokdump/gokdump/format/flat"
)

// maxFlatRecords bounds the record index of a flattened file (32 bytes a
// record). makedumpfile writes a record per buffer flush, megabytes each,
// so a real dump has thousands; 16M records of data would be a dump of
// terabytes even at 64 KiB a record.
const maxFlatRecords = 1 << 24

// maxFlatHoles is how much more than twice the bytes its records hold a
// flattened file may describe (see unflatten).
const maxFlatHoles = 1 << 20

// flatPiece maps file bytes [start, end) of the described file to offset
// src of the flattened one.
type flatPiece struct{ start, end, src int64 }

// flatReaderAt reads a flattened file as the file it describes (the
// result of makedumpfile -R): each byte from the last record that wrote it,
// bytes no record wrote as zero (a hole of a sparse file), up to the end of
// the highest record.
type flatReaderAt struct {
	r      io.ReaderAt
	pieces []flatPiece // sorted, disjoint
	size   int64
}

func (fr *flatReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vmcore: negative offset %d", off)
	}
	n := 0
	// Each pass fills at least one byte or returns.
	for n < len(p) {
		o := off + int64(n)
		if o >= fr.size {
			return n, io.EOF
		}
		want := min(int64(len(p)-n), fr.size-o)
		i := sort.Search(len(fr.pieces), func(i int) bool { return fr.pieces[i].end > o })
		if i == len(fr.pieces) || fr.pieces[i].start > o {
			k := want
			if i < len(fr.pieces) {
				k = min(k, fr.pieces[i].start-o)
			}
			clear(p[n : n+int(k)])
			n += int(k)
			continue
		}
		pc := fr.pieces[i]
		k := min(want, pc.end-o)
		got, err := fr.r.ReadAt(p[n:n+int(k)], pc.src+(o-pc.start))
		n += got
		if got < int(k) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

// unflatten checks for the flattened format's start block and, when there
// is one, indexes the records once (reading their headers through
// flat.Reader, the parser dumpfile.Rearrange uses too) and makes f read the
// described file through the index: f.Size becomes its size and offsets in
// later errors are offsets in it. A stream that ends before its end record
// (a broken pipe) is read as far as it goes and marks f incomplete.
func (f *File) unflatten() error {
	var start [32]byte
	if f.Size < int64(len(start)) {
		return nil
	}
	if err := f.readFull(start[:], 0, "file signature"); err != nil {
		return err
	}
	if !flat.IsSignature(start[:]) {
		return nil
	}
	if f.Size < flat.StartBlockSize {
		return f.errorf(0, "flattened start block truncated: want %d bytes, file size is %d", flat.StartBlockSize, f.Size)
	}
	fr, err := flat.NewReader(io.NewSectionReader(f.r, 0, f.Size))
	if err != nil {
		return withFile(err, f.Name, 0)
	}
	type record struct{ start, end, src, seq int64 }
	var recs []record
	ended := false
	// Each pass reads a record header and moves past its data, or leaves
	// the loop.
	for {
		h, err := fr.Next()
		if err == io.EOF {
			ended = true
			break
		}
		if errors.Is(err, flat.ErrTruncated) {
			break
		}
		if err != nil {
			return withFile(err, f.Name, 0)
		}
		if len(recs) >= maxFlatRecords {
			return f.errorf(fr.Pos()-flat.RecordHeaderLen, "flattened file has more than %d records", maxFlatRecords)
		}
		data := fr.Pos()
		avail := min(h.Size, f.Size-data)
		if avail > 0 {
			recs = append(recs, record{h.Offset, h.Offset + avail, data, int64(len(recs))})
		}
		if avail < h.Size {
			break
		}
	}
	f.Flattened = true
	f.incomplete = f.incomplete || !ended

	// Later records win where records overlap: sweep the record bounds in
	// order, keeping the records that cover the current span in a heap by
	// sequence number.
	bounds := make([]int64, 0, 2*len(recs))
	for _, r := range recs {
		bounds = append(bounds, r.start, r.end)
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	slices.SortFunc(recs, func(a, b record) int { return int(min(max(a.start-b.start, -1), 1)) })
	var active recordHeap
	var pieces []flatPiece
	next := 0
	for i := 0; i+1 < len(bounds); i++ {
		b := bounds[i]
		for next < len(recs) && recs[next].start <= b {
			heap.Push(&active, heapItem{end: recs[next].end, start: recs[next].start, src: recs[next].src, seq: recs[next].seq})
			next++
		}
		for active.Len() > 0 && active[0].end <= b {
			heap.Pop(&active)
		}
		if active.Len() == 0 {
			continue
		}
		top := active[0]
		src := top.src + (b - top.start)
		if n := len(pieces); n > 0 && pieces[n-1].end == b && pieces[n-1].src+(b-pieces[n-1].start) == src {
			pieces[n-1].end = bounds[i+1]
			continue
		}
		pieces = append(pieces, flatPiece{b, bounds[i+1], src})
	}
	var size, held int64
	if len(bounds) > 0 {
		size = bounds[len(bounds)-1]
	}
	for _, pc := range pieces {
		held += pc.end - pc.start
	}
	// Real flattened dumps write every part of the file they describe (the
	// kdump headers, bitmaps and pages; an ELF core front to back), so the
	// records hold nearly all of it. A file mostly made of holes would let
	// a few records make readers scan gigabytes of zeros.
	if size > 2*held+maxFlatHoles {
		return f.errorf(flat.StartBlockSize, "flattened records describe a file of %d bytes but hold only %d bytes of it", size, held)
	}
	f.r = &flatReaderAt{r: f.r, pieces: pieces, size: size}
	f.Size = size
	return nil
}

type heapItem struct{ start, end, src, seq int64 }

// recordHeap is a max-heap of records by sequence number.
type recordHeap []heapItem

func (h recordHeap) Len() int           { return len(h) }
func (h recordHeap) Less(i, j int) bool { return h[i].seq > h[j].seq }
func (h recordHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)        { *h = append(*h, x.(heapItem)) }
func (h *recordHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
