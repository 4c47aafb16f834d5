package collector

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// memFile is an in-memory output file: io.Writer (appending at the write position) and
// io.WriterAt.
type memFile struct {
	mu  sync.Mutex
	b   []byte
	pos int64
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}

func (m *memFile) Write(p []byte) (int, error) {
	n, err := m.WriteAt(p, m.pos)
	m.pos += int64(n)
	return n, err
}

func (m *memFile) bytes() []byte { return m.b }

// streamOnly hides WriterAt: what a pipe looks like.
type streamOnly struct{ w *bytes.Buffer }

func (s streamOnly) Write(p []byte) (int, error) { return s.w.Write(p) }

// expectedTypes classifies the whole machine in one go, with mm directly.
func expectedTypes(tb testing.TB, f *vmcore.File, level mm.DumpLevel) []mm.PageType {
	tb.Helper()
	info, err := f.VMCOREINFO()
	if err != nil {
		tb.Fatal(err)
	}
	as, err := kernel.Open(f)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := mm.NewLayout(symbols{info})
	if err != nil {
		tb.Fatal(err)
	}
	mem := memory{as: as, f: f}
	secs, err := mm.ReadSections(l, mem, testPFNs)
	if err != nil {
		tb.Fatal(err)
	}
	types := make([]mm.PageType, 0, testPFNs)
	mm.NewClassifier(l, mem, secs).Classify(0, testPFNs, level, func(pfn, n uint64, t mm.PageType) {
		for range n {
			types = append(types, t)
		}
	})
	if len(types) != testPFNs {
		tb.Fatalf("mm classified %d pfns of %d", len(types), testPFNs)
	}
	return types
}

type collected struct {
	out   []byte
	stats *Stats
}

func collect(tb testing.TB, f *vmcore.File, opts Options) collected {
	tb.Helper()
	var dst interface {
		Write([]byte) (int, error)
	}
	mf := &memFile{}
	buf := &bytes.Buffer{}
	if opts.Flattened {
		dst = streamOnly{buf}
	} else {
		dst = mf
	}
	st, err := Collect(context.Background(), f, dst, opts)
	if err != nil {
		tb.Fatalf("Collect(%+v): %v", opts, err)
	}
	if opts.Flattened {
		return collected{buf.Bytes(), st}
	}
	return collected{mf.bytes(), st}
}

func TestCollectSynthetic(t *testing.T) {
	for _, p := range []profile{profile61, profile612} {
		k := newTestKernel(t, p)
		src := k.open(t)
		for _, level := range []mm.DumpLevel{0, 1, 31} {
			types := expectedTypes(t, src, level)
			for _, tc := range []struct {
				name   string
				format Format
				codec  compress.Codec
				flat   bool
			}{
				{"kdump-lzo", KdumpCompressed, compress.LZO, false},
				{"kdump-zlib-flat", KdumpCompressed, compress.Zlib, true},
				{"kdump-none", KdumpCompressed, compress.None, false},
				{"elf", ELF, compress.None, false},
				{"elf-flat", ELF, compress.None, true},
			} {
				t.Run(fmt.Sprintf("%s/d%d/%s", p.name, level, tc.name), func(t *testing.T) {
					res := collect(t, src, Options{DumpLevel: level, Codec: tc.codec, Format: tc.format, Flattened: tc.flat, Threads: 2, WindowPFNs: 4096})
					out, err := vmcore.NewFile(bytes.NewReader(res.out), int64(len(res.out)), tc.name)
					if err != nil {
						t.Fatalf("reading the dump back: %v", err)
					}
					if out.Flattened != tc.flat {
						t.Errorf("Flattened = %v, want %v", out.Flattened, tc.flat)
					}
					if out.Incomplete() {
						t.Error("a finished dump is marked incomplete")
					}
					checkDump(t, k, out, types, level, tc.format, res.stats)
				})
			}
		}
	}
}

// checkDump checks every pfn of a dump read back against the machine and mm's verdict,
// and the statistics against both.
func checkDump(t *testing.T, k *testKernel, out *vmcore.File, types []mm.PageType, level mm.DumpLevel, format Format, st *Stats) {
	t.Helper()
	var want Stats
	var kdumpBits uint64
	buf := make([]byte, 4096)
	bad := 0
	var inFile func(pfn uint64) bool // ELF: some PT_LOAD has file data for pfn
	if format == ELF {
		inFile = checkELFLoads(t, k, out, types, level)
	}
	for pfn := uint64(0); pfn < testPFNs; pfn++ {
		if !k.present(pfn) {
			continue
		}
		want.OriginalPages++
		page := k.page(pfn)
		zero := isZero(page)
		byType := level.Excludes(types[pfn])
		if byType {
			switch types[pfn] {
			case mm.Free:
				want.ExcludedFree++
			case mm.CacheNotPrivate:
				want.ExcludedCache++
			case mm.CachePrivate:
				want.ExcludedCachePrivate++
			case mm.User:
				want.ExcludedUser++
			case mm.HWPoison:
				want.ExcludedHWPoison++
			case mm.Offline:
				want.ExcludedOffline++
			}
		} else if zero && level&mm.ExcludeZero != 0 {
			want.ExcludedZero++
		}
		dumped := !byType
		if format == ELF && zero && level&mm.ExcludeZero != 0 {
			dumped = false
		}
		if dumped {
			kdumpBits++
		}
		rb, rp := buf, page
		if format == ELF && pfn == holeStartPhys/4096 {
			// An ELF dump keeps the partial page as the source has it: up to the hole.
			rb, rp = buf[:holeStartPhys%4096], page[:holeStartPhys%4096]
		}
		_, err := out.ReadPhys(rb, pfn*4096)
		switch {
		case format == KdumpCompressed:
			bit, berr := out.PageDumped(pfn)
			if berr != nil || bit != dumped {
				t.Errorf("pfn %#x (%v, zero %v): 2nd bitmap bit %v (%v), want %v", pfn, types[pfn], zero, bit, berr, dumped)
				bad++
			}
			if dumped && (err != nil || !bytes.Equal(buf, page)) {
				t.Errorf("pfn %#x: read back %v, contents equal %v", pfn, err, bytes.Equal(buf, page))
				bad++
			}
			if !dumped && err == nil {
				t.Errorf("pfn %#x (%v) is excluded but reads back", pfn, types[pfn])
				bad++
			}
		default:
			// ELF: dumped pages, and excluded ones in short runs, hold their contents;
			// the other excluded pages are in a PT_LOAD's zero-filled tail.
			wantPage := rp
			if !inFile(pfn) {
				wantPage = make([]byte, len(rb))
			}
			if dumped && !inFile(pfn) {
				t.Errorf("pfn %#x (%v) is dumped but no PT_LOAD has its data", pfn, types[pfn])
				bad++
			}
			if err != nil || !bytes.Equal(rb, wantPage) {
				t.Errorf("pfn %#x (%v, dumped %v, in the file %v): read back %v, contents as expected %v", pfn, types[pfn], dumped, inFile(pfn), err, bytes.Equal(rb, wantPage))
				bad++
			}
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
	if format == KdumpCompressed {
		checkDumpedBitmap(t, out)
	}
	want.sumExcluded()
	if st.OriginalPages != want.OriginalPages || st.TotalPages != testPFNs || st.HolePages != testPFNs-want.OriginalPages {
		t.Errorf("pages: original %d total %d hole %d, want %d %d %d", st.OriginalPages, st.TotalPages, st.HolePages, want.OriginalPages, testPFNs, testPFNs-want.OriginalPages)
	}
	type pair struct {
		name      string
		got, want uint64
	}
	for _, c := range []pair{
		{"zero", st.ExcludedZero, want.ExcludedZero},
		{"cache", st.ExcludedCache, want.ExcludedCache},
		{"cache private", st.ExcludedCachePrivate, want.ExcludedCachePrivate},
		{"user", st.ExcludedUser, want.ExcludedUser},
		{"free", st.ExcludedFree, want.ExcludedFree},
		{"hwpoison", st.ExcludedHWPoison, want.ExcludedHWPoison},
		{"offline", st.ExcludedOffline, want.ExcludedOffline},
		{"excluded", st.ExcludedPages, want.ExcludedPages},
		{"remaining", st.RemainingPages, want.RemainingPages},
	} {
		if c.got != c.want {
			t.Errorf("stats: %s pages %d, want %d", c.name, c.got, c.want)
		}
	}
	if st.ExcludedPages+st.RemainingPages != st.OriginalPages {
		t.Errorf("stats: excluded %d + remaining %d != original %d", st.ExcludedPages, st.RemainingPages, st.OriginalPages)
	}
	if format == KdumpCompressed {
		if st.DumpedPages != kdumpBits || st.DumpedPages != st.RemainingPages+st.ExcludedZero {
			t.Errorf("stats: dumped %d, want %d bitmap bits = remaining %d + zero %d", st.DumpedPages, kdumpBits, st.RemainingPages, st.ExcludedZero)
		}
		if n, err := out.DumpedPages(); err != nil || n != kdumpBits {
			t.Errorf("the dump's 2nd bitmap has %d pages (%v), want %d", n, err, kdumpBits)
		}
	}
	if st.BytesWritten != int64(out.Size) && !out.Flattened {
		t.Errorf("stats: %d bytes written, the file has %d", st.BytesWritten, out.Size)
	}
	if !st.Classified {
		t.Error("stats: not classified")
	}
}

// TestKnownPages pins the verdicts on the pages the builder made, so that a classifier
// that gets everything wrong in the same way as the reference cannot pass.
func TestKnownPages(t *testing.T) {
	for _, p := range []profile{profile61, profile612} {
		k := newTestKernel(t, p)
		src := k.open(t)
		res := collect(t, src, Options{DumpLevel: 31, Codec: compress.LZO, WindowPFNs: 64})
		out, err := vmcore.NewFile(bytes.NewReader(res.out), int64(len(res.out)), "d31")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			pfn  uint64
			kept bool
		}{
			{pfnFree9 - 1, true}, {pfnFree9, false}, {pfnFree9 + 511, false},
			{pfnFree0, false}, {pfnFree0 + 1, true}, {pfnFree3 + 7, false},
			{pfnCache, false}, {pfnCachePriv + 3, false},
			{pfnAnon + 127, false}, {pfnTHP, false}, {pfnTHP + 300, false},
			{pfnFree10 + 1023, false}, {pfnHugetlb + 511, false},
			{pfnSlab, true}, {pfnSlabComp + 3, true},
			{pfnHWPoison, false}, {pfnOffline, false}, {pfnOffline + 1, true},
			{pfnZero + 10, true}, // zero pages keep their bit: the shared zero page
			{pfnCacheZero, false},
			{memmapPhys / 4096, true}, {imagePhys / 4096, true},
		} {
			got, err := out.PageDumped(c.pfn)
			if err != nil || got != c.kept {
				t.Errorf("%s: pfn %#x dumped %v (%v), want %v", p.name, c.pfn, got, err, c.kept)
			}
		}
		if res.stats.ExcludedHWPoison != 1 || res.stats.ExcludedOffline != 1 {
			t.Errorf("%s: hwpoison %d offline %d, want 1 and 1", p.name, res.stats.ExcludedHWPoison, res.stats.ExcludedOffline)
		}
		// Zero-filled pages: the image (4 MiB less what is written in it), the struct
		// pages' and mem_section's unused parts, and the ones made on purpose.
		if res.stats.ExcludedZero < nZero+5 {
			t.Errorf("%s: %d zero pages, want at least %d", p.name, res.stats.ExcludedZero, nZero+5)
		}
	}
}

// TestELFGaps: a run of 256 or more excluded pages splits a PT_LOAD, and the piece
// before it reaches the next one's start with a zero-filled tail, so the pages read
// back as zeros, not as a hole; shorter runs stay in the file with their contents, as
// makedumpfile writes them.
func TestELFGaps(t *testing.T) {
	k := newTestKernel(t, profile612)
	src := k.open(t)
	res := collect(t, src, Options{DumpLevel: 1, Format: ELF})
	out, err := vmcore.NewFile(bytes.NewReader(res.out), int64(len(res.out)), "elf")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for _, pfn := range []uint64{pfnZero, pfnZero + 150, pfnZero + nZero - 1} {
		clear(buf)
		buf[0] = 1
		if _, err := out.ReadPhys(buf, pfn*4096); err != nil || !isZero(buf) {
			t.Errorf("pfn %#x, in the %d zero pages left out: %v, zero %v; want zeros", pfn, nZero, err, isZero(buf))
		}
	}
	// The split: one PT_LOAD's data ends at the zero pages, its memory at their end,
	// where the next PT_LOAD starts.
	var before, after *vmcore.Segment
	for i := range out.Loads {
		l := &out.Loads[i]
		if l.Phys < pfnZero*4096 && l.Phys+l.MemSize > pfnZero*4096 {
			before = l
		}
		if l.Phys == (pfnZero+nZero)*4096 {
			after = l
		}
	}
	switch {
	case before == nil || after == nil:
		t.Errorf("no PT_LOAD across pfn %#x (%v) or none starting at pfn %#x (%v):%s", uint64(pfnZero), before, uint64(pfnZero+nZero), after, segString(out.Loads))
	case before.Phys+before.FileSize != pfnZero*4096 || before.Phys+before.MemSize != (pfnZero+nZero)*4096:
		t.Errorf("PT_LOAD before the zero pages: paddr %#x filesz %#x memsz %#x; want its data to end at %#x and its memory at %#x",
			before.Phys, before.FileSize, before.MemSize, uint64(pfnZero*4096), uint64((pfnZero+nZero)*4096))
	case after.Virt != before.Virt+(after.Phys-before.Phys):
		t.Errorf("PT_LOAD after the zero pages: vaddr %#x, want %#x", after.Virt, before.Virt+(after.Phys-before.Phys))
	}
	// Five zero pages amid data are written (their data is zeros).
	for _, l := range out.Loads {
		if a := uint64(pfnZeroShort+2) * 4096; l.Phys <= a && a < l.Phys+l.MemSize && a >= l.Phys+l.FileSize {
			t.Errorf("pfn %#x, in a run of 5 zero pages, is in the zero tail of PT_LOAD %#x, want it in the file", uint64(pfnZeroShort+2), l.Phys)
		}
	}
	if _, err := out.ReadPhys(buf, (pfnZeroShort+2)*4096); err != nil || !isZero(buf) {
		t.Errorf("inside 5 zero pages: %v, want the (zero) contents", err)
	}
	if res.stats.ELFExcludedPages == 0 || res.stats.ELFExcludedPages >= res.stats.ExcludedPages {
		t.Errorf("ELF excluded %d of %d excluded pages: want some, not all", res.stats.ELFExcludedPages, res.stats.ExcludedPages)
	}
	// The pieces of each source PT_LOAD tile it: each ends where the next starts, the
	// last at the source's end; none has more file than memory. The kernel text alias
	// is kept with its virtual addresses.
	var textPieces int
	i := 0
	for _, s := range src.Loads {
		at := s.Phys
		for ; i < len(out.Loads) && at < s.Phys+s.MemSize; i++ {
			l := out.Loads[i]
			if l.Phys != at || l.FileSize > l.MemSize || l.MemSize == 0 || l.Virt != s.Virt+(l.Phys-s.Phys) {
				t.Errorf("source PT_LOAD %#x+%#x: piece paddr %#x vaddr %#x filesz %#x memsz %#x, want it at %#x",
					s.Phys, s.MemSize, l.Phys, l.Virt, l.FileSize, l.MemSize, at)
			}
			if l.Virt >= 0xffffffff80000000 {
				textPieces++
			}
			at = l.Phys + l.MemSize
		}
		if at != s.Phys+s.MemSize {
			t.Errorf("source PT_LOAD %#x+%#x: the pieces end at %#x", s.Phys, s.MemSize, at)
		}
	}
	if i != len(out.Loads) {
		t.Errorf("%d PT_LOADs beyond the source's:%s", len(out.Loads)-i, segString(out.Loads[i:]))
	}
	if textPieces == 0 {
		t.Error("no PT_LOAD of the kernel text map")
	}
}

// checkELFLoads compares an ELF dump's PT_LOADs with the ones makedumpfile writes for the
// pages the dump level keeps (makedumpfileELFLoads) and says which pfns have file data.
func checkELFLoads(t *testing.T, k *testKernel, out *vmcore.File, types []mm.PageType, level mm.DumpLevel) func(pfn uint64) bool {
	t.Helper()
	dumped := func(pfn uint64) bool {
		if pfn >= testPFNs || !k.present(pfn) || level.Excludes(types[pfn]) {
			return false
		}
		return level&mm.ExcludeZero == 0 || !isZero(k.page(pfn))
	}
	var segs []vmcore.Segment
	for _, l := range k.loads {
		segs = append(segs, vmcore.Segment{Phys: l.Phys, Virt: l.Virt, FileSize: l.Size, MemSize: l.Size})
	}
	want := makedumpfileELFLoads(segs, 4096, dumped)
	got := make([]vmcore.Segment, len(out.Loads))
	for i, l := range out.Loads {
		got[i] = vmcore.Segment{Phys: l.Phys, Virt: l.Virt, FileSize: l.FileSize, MemSize: l.MemSize}
	}
	if segString(got) != segString(want) {
		t.Errorf("PT_LOADs:%s\nwant (as makedumpfile lays them out):%s", segString(got), segString(want))
	}
	return func(pfn uint64) bool {
		for _, l := range want {
			if l.Phys < (pfn+1)*4096 && l.Phys+l.FileSize > pfn*4096 {
				return true
			}
		}
		return false
	}
}

// TestDeterminism: the output does not depend on the window size or the thread count,
// nor on whether pass 2 classifies the windows again or takes pass 1's kept bitmap (the
// reference run classifies twice; the variants keep it).
func TestDeterminism(t *testing.T) {
	k := newTestKernel(t, profile61)
	src := k.open(t)
	for _, tc := range []struct {
		format Format
		codec  compress.Codec
		level  mm.DumpLevel
	}{
		{KdumpCompressed, compress.LZO, 31},
		{KdumpCompressed, compress.Zstd, 1},
		{ELF, compress.None, 31},
	} {
		var ref collected
		reclassifying(t, func() {
			ref = collect(t, src, Options{DumpLevel: tc.level, Codec: tc.codec, Format: tc.format, Threads: 1})
		})
		variants := []Options{
			{WindowPFNs: 8, Threads: 1},
			{WindowPFNs: 24, Threads: 4, ChunkPages: 3},
			{WindowPFNs: 512, Threads: 4},
			{WindowPFNs: 4096, Threads: 2, ChunkPages: 1},
			{WindowPFNs: 1 << 20, Threads: 4, ChunkPages: 500},
		}
		if tc.codec == compress.Zstd {
			variants = variants[:2] // a zstd encoder per thread is slow to set up
		}
		for _, v := range variants {
			v.DumpLevel, v.Codec, v.Format = tc.level, tc.codec, tc.format
			got := collect(t, src, v)
			if !bytes.Equal(got.out, ref.out) {
				t.Errorf("%v %v -d %d: window %d, %d threads, chunk %d: output differs from the 1-thread default run (%d vs %d bytes)",
					tc.format, tc.codec, tc.level, v.WindowPFNs, v.Threads, v.ChunkPages, len(got.out), len(ref.out))
			}
		}
	}
}

// reclassifying runs f with pass 1 keeping no bitmap, so that pass 2 classifies every
// window again: the reference the kept bitmap is held to.
func reclassifying(t *testing.T, f func()) {
	t.Helper()
	withKeepBudget(t, 0, f)
}

// TestRefilterKept: refiltering a kdump-compressed dump (its own 2nd bitmap says which
// pages it holds) gives the same output whether pass 2 takes pass 1's kept bitmap or
// classifies again.
func TestRefilterKept(t *testing.T) {
	k := newTestKernel(t, profile61)
	first := collect(t, k.open(t), Options{DumpLevel: 1, Codec: compress.LZO, Threads: 2})
	src, err := vmcore.NewFile(bytes.NewReader(first.out), int64(len(first.out)), "first")
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []mm.DumpLevel{1, 31} {
		opts := Options{DumpLevel: level, Codec: compress.Zlib, Threads: 2, WindowPFNs: 1000}
		var ref collected
		reclassifying(t, func() { ref = collect(t, src, opts) })
		got := collect(t, src, opts)
		if !bytes.Equal(got.out, ref.out) {
			t.Errorf("-d %d of a -d 1 dump: %d bytes with the kept bitmap, %d classifying again", level, len(got.out), len(ref.out))
		}
		if got.stats.ExcludedNoData != ref.stats.ExcludedNoData || got.stats.ExcludedNoData == 0 {
			t.Errorf("-d %d of a -d 1 dump: %d pages without data (kept), %d (classifying again); want the same, not 0", level, got.stats.ExcludedNoData, ref.stats.ExcludedNoData)
		}
	}
}

// checkDumpedBitmap reads f's 2nd bitmap in pieces of several sizes, up to and past
// max_mapnr, and holds each bit to PageDumped.
func checkDumpedBitmap(t *testing.T, f *vmcore.File) {
	t.Helper()
	maxPFN := f.Kdump.MaxMapnr
	for _, size := range []int{1, 3, 64, 1000} {
		buf := make([]byte, size)
		for start := uint64(0); start < maxPFN+16; start += uint64(8 * size) {
			if err := f.DumpedBitmap(buf, start); err != nil {
				t.Fatalf("DumpedBitmap(%d bytes, pfn %#x): %v", size, start, err)
			}
			for i := range uint64(8 * size) {
				got := buf[i/8]&(1<<(i%8)) != 0
				want, err := f.PageDumped(start + i)
				if err != nil || got != want {
					t.Fatalf("pfn %#x: DumpedBitmap says %v, PageDumped %v (%v)", start+i, got, want, err)
				}
			}
		}
	}
	if err := f.DumpedBitmap(make([]byte, 1), 3); err == nil {
		t.Error("DumpedBitmap accepted a start pfn that is not a multiple of 8")
	}
}

// TestProgress: with Options.Progress the dump draws makedumpfile's "Copying data"
// line, rewritten in place, and ends it at 100%.
func TestProgress(t *testing.T) {
	k := newTestKernel(t, profile61)
	var line bytes.Buffer
	collect(t, k.open(t), Options{DumpLevel: 31, Codec: compress.LZO, Progress: &line})
	out := line.String()
	if !strings.HasPrefix(out, "\rCopying data") || !strings.HasSuffix(out, "[100.0 %]              \n") {
		t.Errorf("progress output %q: want \\r-rewritten Copying data lines ending at 100%%", out)
	}
}
