package collector

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

// TestCollectSplit writes split dumps of the test kernels and merges the parts with
// dumpfile.Reassemble: the merged file is byte for byte the dump Collect writes whole
// (the same header, bitmaps, descriptors and page data), and each part read alone has
// its range's pages and no others.
func TestCollectSplit(t *testing.T) {
	k := newTestKernel(t, profile61)
	src := k.open(t)
	for _, tc := range []struct {
		level      mm.DumpLevel
		codec      compress.Codec
		parts      int
		blockPages uint64
		keep       int // keepBitmapMax for the parts' pass 1, when not 0
	}{
		{31, compress.LZO, 3, 512, 0},
		{1, compress.Zlib, 2, 100, 0},
		{0, compress.None, 4, 0, 0}, // one default splitblock: all in the first part
		// Room for some windows' verdicts: each part classifies the others again.
		{31, compress.Zlib, 3, 512, 40},
	} {
		opts := Options{DumpLevel: tc.level, Codec: tc.codec, Threads: 4, WindowPFNs: 1024}
		// The whole dump classifies its windows twice; the parts share pass 1's bitmap.
		var whole collected
		reclassifying(t, func() { whole = collect(t, src, opts) })
		files := make([]*memFile, tc.parts)
		dsts := make([]io.Writer, tc.parts)
		for i := range files {
			files[i] = &memFile{}
			dsts[i] = files[i]
		}
		var warned []string
		opts.Warn = func(m string) { warned = append(warned, m) }
		var st *Stats
		var parts []SplitPart
		var err error
		withKeepBudget(t, cmp.Or(tc.keep, keepBitmapMax), func() {
			st, parts, err = CollectSplit(context.Background(), src, dsts, tc.blockPages, opts)
		})
		if err != nil {
			t.Fatal(err)
		}
		// Every part classifies the windows not kept again: none with room for all,
		// fewer than all of every part's with room for some.
		if r := st.ReclassifiedPages; (tc.keep == 0) != (r == 0) || r >= uint64(tc.parts)*st.TotalPages {
			t.Errorf("-d %d, %d bytes kept at most: the parts classified %d pfns again (%d parts of %d pfns)", tc.level, tc.keep, r, tc.parts, st.TotalPages)
		}
		if st.DumpedPages != whole.stats.DumpedPages || st.ExcludedPages != whole.stats.ExcludedPages {
			t.Errorf("-d %d: split stats %d dumped, %d excluded; whole %d, %d", tc.level, st.DumpedPages, st.ExcludedPages, whole.stats.DumpedPages, whole.stats.ExcludedPages)
		}
		var sp []dumpfile.SplitPart
		var next, total uint64
		nonEmpty := 0
		for i, p := range parts {
			b := files[i].bytes()
			sp = append(sp, dumpfile.SplitPart{Name: "part", R: bytes.NewReader(b), Size: int64(len(b))})
			if p.StartPFN != next {
				t.Errorf("part %d starts at %d, want %d", i, p.StartPFN, next)
			}
			next, total = p.EndPFN, total+p.Pages
			if p.Pages > 0 {
				nonEmpty++
			}
			f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), "part")
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if n, err := f.DumpedPages(); err != nil || n != p.Pages {
				t.Errorf("part %d: %d pages read back (%v), want %d", i, n, err, p.Pages)
			}
			buf := make([]byte, 4096)
			for pfn := p.StartPFN; pfn < p.EndPFN; pfn += 97 {
				in, _ := f.PageDumped(pfn)
				if !in {
					continue
				}
				if _, err := f.ReadPhys(buf, pfn*4096); err != nil {
					t.Fatalf("part %d: pfn %d: %v", i, pfn, err)
				}
			}
		}
		if total != whole.stats.DumpedPages || (tc.blockPages != 0 && nonEmpty != tc.parts) || (tc.blockPages == 0 && nonEmpty != 1) {
			t.Errorf("-d %d: parts %+v hold %d pages (whole %d)", tc.level, parts, total, whole.stats.DumpedPages)
		}
		var merged memFile
		if _, err := dumpfile.Reassemble(&merged, sp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(merged.bytes(), whole.out) {
			t.Errorf("-d %d %v: the reassembled parts (%d bytes) differ from the whole dump (%d bytes)", tc.level, tc.codec, len(merged.bytes()), len(whole.out))
		}
		if len(warned) != len(dedupe(warned)) {
			t.Errorf("a warning was told more than once: %q", warned)
		}
	}
}

func dedupe(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

func TestCollectSplitRefuses(t *testing.T) {
	k := newTestKernel(t, profile61)
	src := k.open(t)
	two := []io.Writer{&memFile{}, &memFile{}}
	for _, tc := range []struct {
		dsts []io.Writer
		opts Options
		want string
	}{
		{two[:1], Options{}, "at least two parts"},
		{two, Options{Format: ELF}, "ELF"},
		{two, Options{Flattened: true}, "flattened"},
	} {
		if _, _, err := CollectSplit(context.Background(), src, tc.dsts, 0, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
}
