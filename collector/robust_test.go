package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// fullDisk is a memFile that holds at most limit bytes: writes beyond fail with ENOSPC
// after writing what fits, as a full file system does.
type fullDisk struct {
	memFile
	limit int64
}

func (d *fullDisk) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= d.limit {
		return d.memFile.WriteAt(p, off)
	}
	n := 0
	if off < d.limit {
		n, _ = d.memFile.WriteAt(p[:d.limit-off], off)
	}
	return n, &pathError{syscall.ENOSPC}
}

func (d *fullDisk) Write(p []byte) (int, error) {
	n, err := d.WriteAt(p, d.pos)
	d.pos += int64(n)
	return n, err
}

type pathError struct{ err error }

func (e *pathError) Error() string { return "write dump: " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func TestNoSpace(t *testing.T) {
	k := newTestKernel(t, profile612)
	src := k.open(t)
	for _, format := range []Format{KdumpCompressed, ELF} {
		opts := Options{DumpLevel: 1, Codec: compress.LZO, Format: format}
		if format == ELF {
			opts.Codec = compress.None
		}
		full := collect(t, src, opts)
		disk := &fullDisk{limit: int64(len(full.out)) / 2}
		st, err := Collect(context.Background(), src, disk, opts)
		if !errors.Is(err, ErrIncomplete) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%v: error %v, want ErrIncomplete wrapping ENOSPC", format, err)
		}
		if st == nil || !st.Incomplete {
			t.Errorf("%v: stats do not say incomplete", format)
		}
		out, err := vmcore.NewFile(bytes.NewReader(disk.bytes()), int64(len(disk.bytes())), "full-disk")
		if err != nil {
			t.Fatalf("%v: the cut dump does not open: %v", format, err)
		}
		if !out.Incomplete() {
			t.Errorf("%v: the cut dump is not marked incomplete", format)
		}
		// Every page that reads back is right, and the early ones do.
		buf := make([]byte, 4096)
		var good, missing int
		for pfn := uint64(holeEndPhys / 4096); pfn < testPFNs; pfn++ {
			if _, err := out.ReadPhys(buf, pfn*4096); err != nil {
				missing++
				continue
			}
			if !bytes.Equal(buf, k.page(pfn)) {
				t.Fatalf("%v: pfn %#x reads back wrong from the cut dump", format, pfn)
			}
			good++
		}
		if good == 0 || missing == 0 {
			t.Errorf("%v: %d pages read back, %d missing: want some of each", format, good, missing)
		}
	}
}

// cancelAfter cancels a context once n bytes were written.
type cancelAfter struct {
	memFile
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.n {
		c.cancel()
	}
	return c.memFile.WriteAt(p, off)
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	n, err := c.WriteAt(p, c.pos)
	c.pos += int64(n)
	return n, err
}

func TestCancel(t *testing.T) {
	k := newTestKernel(t, profile61)
	src := k.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, src, &memFile{}, Options{Codec: compress.LZO}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v, want context.Canceled", err)
	}
	for _, format := range []Format{KdumpCompressed, ELF} {
		ctx, cancel := context.WithCancel(context.Background())
		w := &cancelAfter{n: 1 << 20, cancel: cancel}
		begin := time.Now()
		_, err := Collect(ctx, src, w, Options{Format: format, ChunkPages: 1, Threads: 2})
		cancel()
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrIncomplete) {
			t.Errorf("%v cancelled while writing: %v, want ErrIncomplete and context.Canceled", format, err)
		}
		if d := time.Since(begin); d > 20*time.Second {
			t.Errorf("%v: cancellation took %v", format, d)
		}
		out, err := vmcore.NewFile(bytes.NewReader(w.bytes()), int64(len(w.bytes())), "cancelled")
		if err != nil || !out.Incomplete() {
			t.Errorf("%v: cancelled dump: open %v, incomplete %v", format, err, err == nil && out.Incomplete())
		}
	}
}

// TestUnreadablePage: a vmcore cut short (its last pages are past the end of the file)
// gives an error naming the pfn and a dump marked incomplete, not a panic or garbage.
func TestUnreadablePage(t *testing.T) {
	k := newTestKernel(t, profile612)
	img := k.image[:len(k.image)-3*4096-100]
	src, err := vmcore.NewFile(bytes.NewReader(img), int64(len(img)), "truncated")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []Format{KdumpCompressed, ELF} {
		dst := &memFile{}
		_, err := Collect(context.Background(), src, dst, Options{Format: format, DumpLevel: 0})
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "pfn 0x") {
			t.Errorf("%v: error %v, want an incomplete dump and the pfn", format, err)
		}
		out, oerr := vmcore.NewFile(bytes.NewReader(dst.bytes()), int64(len(dst.bytes())), "cut")
		if oerr != nil || !out.Incomplete() {
			t.Errorf("%v: %v, want a readable dump marked incomplete", format, oerr)
		}
	}
}

func TestNeedsWriterAt(t *testing.T) {
	k := newTestKernel(t, profile612)
	_, err := Collect(context.Background(), k.open(t), streamOnly{&bytes.Buffer{}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "flattened") {
		t.Errorf("kdump-compressed to a pipe: %v, want an error pointing at the flattened format", err)
	}
}

// TestUnclassifiable: without the struct page keys the dump keeps every page but the
// zero ones, and says so.
func TestUnclassifiable(t *testing.T) {
	k2 := newTestKernel(t, profile{name: "bare", levels: 4, keys: func(*dumpfile.VMCOREINFOText) {}, buddy: 1, offline: 1})
	var warned []string
	res, err := Collect(context.Background(), k2.open(t), &memFile{}, Options{DumpLevel: 31, Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Classified || len(warned) == 0 || !strings.Contains(strings.Join(warned, "\n"), "keeping every page but zero pages") {
		t.Errorf("classified %v, warnings %q", res.Classified, warned)
	}
	if res.ExcludedFree+res.ExcludedUser+res.ExcludedCache != 0 || res.ExcludedZero == 0 {
		t.Errorf("stats %+v: want only zero pages excluded", res)
	}
}

// TestUnclassifiableLowLevels: -d 0 and -d 1 leave out no page type, so a kernel whose
// pages cannot be classified is no reason to warn there: the dump is what was asked for.
func TestUnclassifiableLowLevels(t *testing.T) {
	k2 := newTestKernel(t, profile{name: "bare", levels: 4, keys: func(*dumpfile.VMCOREINFOText) {}, buddy: 1, offline: 1})
	for _, level := range []mm.DumpLevel{0, 1} {
		var warned []string
		res, err := Collect(context.Background(), k2.open(t), &memFile{}, Options{DumpLevel: level, Warn: func(m string) { warned = append(warned, m) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Classified || len(warned) != 0 || len(res.Warnings) != 0 {
			t.Errorf("-d %d: classified %v, warnings %q, recorded %q; want no warning", level, res.Classified, warned, res.Warnings)
		}
		if (level == 1) != (res.ExcludedZero != 0) {
			t.Errorf("-d %d: %d zero pages left out", level, res.ExcludedZero)
		}
	}
}

// sparseSource is a vmcore of a machine with a large physical address space and few
// pages: the test machine, plus 2 MiB of memory at the start of every 4 GiB up to top.
// Its memory beyond the test machine's is generated, never held.
type sparseSource struct {
	head  []byte // ELF header, program headers, notes: everything before the first data
	k     *testKernel
	loads []dumpfile.ELFLoad
	offs  []uint64
	size  int64
}

func newSparseSource(tb testing.TB, k *testKernel, top uint64) *vmcore.File {
	s := &sparseSource{k: k}
	base, _ := vmcore.NewFile(bytes.NewReader(k.image), int64(len(k.image)), "base")
	var notes []byte
	for _, n := range base.Notes {
		notes = dumpfile.AppendNote(notes, 4, n.Name, n.Type, n.Desc)
	}
	for _, l := range k.loads {
		s.loads = append(s.loads, dumpfile.ELFLoad{Phys: l.Phys, Virt: l.Virt, FileSize: l.Size, MemSize: l.Size})
	}
	dm := k.loads[1].Virt
	for a := uint64(4 << 30); a < top; a += 4 << 30 {
		s.loads = append(s.loads, dumpfile.ELFLoad{Phys: a, Virt: dm + a, FileSize: 2 << 20, MemSize: 2 << 20})
	}
	for i := range s.loads {
		s.loads[i].Data = zeroReader{}
	}
	w := &dumpfile.ELFWriter{Notes: notes, Loads: s.loads}
	lay, err := w.Layout()
	if err != nil {
		tb.Fatal(err)
	}
	s.offs, s.size = lay.LoadOffsets, int64(lay.Size)
	// The header part: write the ELF with empty data and keep what precedes the loads.
	hw := &headOnly{limit: int(lay.LoadOffsets[0])}
	w.WriteTo(hw)
	s.head = hw.b
	f, err := vmcore.NewFile(s, s.size, fmt.Sprintf("sparse-%dG", top>>30))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// headOnly keeps the first limit bytes written and drops the rest.
type headOnly struct {
	b     []byte
	limit int
}

func (h *headOnly) Write(p []byte) (int, error) {
	if k := min(len(p), h.limit-len(h.b)); k > 0 {
		h.b = append(h.b, p[:k]...)
	}
	return len(p), nil
}

func (s *sparseSource) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		o := uint64(off) + uint64(n)
		if o < uint64(len(s.head)) {
			n += copy(p[n:], s.head[o:])
			continue
		}
		done := false
		for i, l := range s.loads {
			if o >= s.offs[i] && o < s.offs[i]+l.FileSize {
				phys := l.Phys + (o - s.offs[i])
				k := min(uint64(len(p)-n), s.offs[i]+l.FileSize-o)
				if phys < testRAM {
					copy(p[n:n+int(k)], s.k.ram[phys:phys+k])
				} else {
					for j := uint64(0); j < k; j++ {
						p[n+int(j)] = byte((phys + j) >> 12)
					}
				}
				n += int(k)
				done = true
				break
			}
		}
		if !done {
			p[n] = 0 // padding between loads
			n++
		}
	}
	return n, nil
}

// TestBoundedMemory: collecting a machine with 8x the address space (and the same
// number of pages) allocates about the same: nothing is sized by max_mapnr or the
// number of windows.
func TestBoundedMemory(t *testing.T) {
	k := newTestKernel(t, profile612)
	measure := func(top uint64, format Format) (uint64, *Stats) {
		src := newSparseSource(t, k, top)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		st, err := Collect(context.Background(), src, nil, Options{DumpLevel: 31, Codec: compress.LZO, Format: format, DryRun: true, Threads: 2})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		return after.TotalAlloc - before.TotalAlloc, st
	}
	for _, format := range []Format{KdumpCompressed, ELF} {
		small, s1 := measure(8<<30, format)
		big, s2 := measure(64<<30, format)
		if s2.TotalPages != (60<<30+2<<20)/4096 || s1.TotalPages >= s2.TotalPages {
			t.Fatalf("max_mapnr %d and %d: the sources are not what the test means", s1.TotalPages, s2.TotalPages)
		}
		t.Logf("%v: %d pfns: %d KiB allocated; %d pfns: %d KiB", format, s1.TotalPages, small>>10, s2.TotalPages, big>>10)
		// The bitmaps of the big machine alone would be 2 x 2 MiB; the pages added are 14 x 2 MiB.
		if big > small+1<<20 {
			t.Errorf("%v: %d KiB allocated for 64 GiB, %d KiB for 8 GiB: grows with the address space", format, big>>10, small>>10)
		}
		if big > 24<<20 {
			t.Errorf("%v: %d MiB allocated in all", format, big>>20)
		}
	}
}
