package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/bitmap"
	"github.com/gokdump/gokdump/vmcore"
)

// DefaultSplitblockBytes is makedumpfile's default --splitblock-size: the memory whose
// dumped pages are counted together when the pfn space is cut into parts.
const DefaultSplitblockBytes = 1 << 30

// SplitPart is one part of a split dump as CollectSplit wrote it.
type SplitPart struct {
	StartPFN, EndPFN uint64 // the part's pfns: [StartPFN, EndPFN)
	Pages            uint64 // its dumped pages
	Stats            *Stats // its collection; nil when it did not run
}

// CollectSplit writes a kdump-compressed dump of src as len(dsts) parts, one per dst,
// as makedumpfile --split does, and the parts are written in parallel (makedumpfile
// forks a process per part). The pfn space is cut at splitblock boundaries
// (splitblockPages pages each, 0 for DefaultSplitblockBytes of pages) so that each
// part but the last holds at least total/len(dsts) dumped pages (makedumpfile's
// calculate_end_pfn_by_splitblock; the last part gets the rest, and parts after the
// end of memory an empty range). Each part has the sub header's split range, the
// whole of both bitmaps and a descriptor table sized for all the parts' pages, as
// makedumpfile writes them, so makedumpfile --reassemble and dumpfile.Reassemble
// merge them; vmcore reads each part alone (other parts' pages read as missing).
//
// opts.Threads are shared among the parts (at least one each); Flattened and ELF are
// refused (makedumpfile refuses them too). The returned Stats are the whole dump's:
// its pages and the sum of the parts' bytes. A part that cannot be finished is
// marked incomplete; the error then wraps ErrIncomplete and names the part.
func CollectSplit(ctx context.Context, src *vmcore.File, dsts []io.Writer, splitblockPages uint64, opts Options) (*Stats, []SplitPart, error) {
	begin := time.Now()
	switch {
	case len(dsts) < 2:
		return nil, nil, fmt.Errorf("collector: a split dump needs at least two parts, got %d", len(dsts))
	case opts.Format != KdumpCompressed:
		return nil, nil, errors.New("collector: a split dump is kdump-compressed: ELF output cannot be split")
	case opts.Flattened:
		return nil, nil, errors.New("collector: a split dump is written to files, not as a flattened stream")
	}
	if err := opts.normalize(); err != nil {
		return nil, nil, err
	}
	c := &collector{opts: opts}
	st := &c.stats
	st.Format, st.Codec, st.DumpLevel, st.DryRun = opts.Format.String(), opts.Codec.String(), int(opts.DumpLevel), opts.DryRun
	s, err := openSource(src, opts.DumpLevel, c.warn)
	if err != nil {
		return st, nil, err
	}
	c.src = s
	st.PageSize, st.TotalPages = s.pageSize, s.maxPFN
	st.OriginalPages = s.originalPages()
	st.HolePages = s.maxPFN - st.OriginalPages
	st.Classified = s.layout != nil
	if splitblockPages == 0 {
		splitblockPages = max(DefaultSplitblockBytes/s.pageSize, 1)
	}
	c.windows = newWindowPool(opts.Threads+2, opts.WindowPFNs)
	c.prog = newProgress(nil)

	// Pass 1 once for all the parts: the dumped pages of each splitblock.
	blocks := make([]uint64, (s.maxPFN+splitblockPages-1)/splitblockPages)
	total, err := c.pass1(ctx, false, true, func(w *window) {
		for pos := uint64(0); pos < w.n; {
			r, k := bitmap.NextRun(w.dumped, pos, w.n, true)
			if k == 0 {
				break
			}
			pos = r + k
			for pfn := w.start + r; pfn < w.start+r+k; {
				b := pfn / splitblockPages
				end := min((b+1)*splitblockPages, w.start+r+k)
				blocks[b] += end - pfn
				pfn = end
			}
		}
	})
	if err != nil {
		return st, nil, err
	}
	st.DumpedPages = total
	parts := splitRanges(blocks, splitblockPages, s.maxPFN, total, len(dsts))

	// The parts run at once: their warnings (the same for each, e.g. about the
	// header's utsname) are told once, one at a time.
	if warn := opts.Warn; warn != nil {
		var mu sync.Mutex
		seen := map[string]bool{}
		opts.Warn = func(msg string) {
			mu.Lock()
			defer mu.Unlock()
			if !seen[msg] {
				seen[msg] = true
				warn(msg)
			}
		}
	}
	threads := max(1, opts.Threads/len(dsts))
	errs := make([]error, len(dsts))
	var wg sync.WaitGroup
	for i := range parts {
		p := &parts[i]
		pc := &collector{src: s, opts: opts, kept: c.kept,
			part: &dumpfile.KdumpSplit{StartPFN: p.StartPFN, EndPFN: p.EndPFN, Descriptors: total}}
		pc.opts.Threads = threads
		pc.windows = newWindowPool(threads+2, opts.WindowPFNs)
		pc.prog = newProgress(nil)
		pst := &pc.stats
		*pst = Stats{Format: st.Format, Codec: st.Codec, DumpLevel: st.DumpLevel, PageSize: st.PageSize,
			TotalPages: st.TotalPages, Classified: st.Classified, DryRun: st.DryRun}
		p.Stats = pst
		out, err := newOutput(dsts[i], pc.opts)
		if err != nil {
			return st, parts, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pc.writeKdump(ctx, out, p.Pages)
			pst.BytesWritten = out.size()
			pst.ReclassifiedPages = pc.reclassified.Load()
		}()
	}
	wg.Wait()
	var first error
	for i, p := range parts {
		st.BytesWritten += p.Stats.BytesWritten
		st.ExcludedZero += p.Stats.ExcludedZero
		st.ReclassifiedPages += p.Stats.ReclassifiedPages
		st.Incomplete = st.Incomplete || p.Stats.Incomplete
		if errs[i] != nil && first == nil {
			first = fmt.Errorf("part %d of %d: %w", i+1, len(parts), errs[i])
		}
	}
	c.stats.sumExcluded()
	st.Duration = time.Since(begin)
	return st, parts, first
}

// splitRanges cuts [0, maxPFN) into n parts as makedumpfile's setup_splitting does:
// each part but the last takes whole splitblocks until it holds total/n dumped pages.
func splitRanges(blocks []uint64, blockPages, maxPFN, total uint64, n int) []SplitPart {
	parts := make([]SplitPart, n)
	var end uint64
	b := 0
	for i := 0; i < n-1; i++ {
		start := end
		var pages uint64
		if start < maxPFN {
			need := int64(total / uint64(n))
			for b < len(blocks) && need > 0 {
				need -= int64(blocks[b])
				pages += blocks[b]
				b++
			}
			end = min(uint64(b)*blockPages, maxPFN)
		}
		parts[i] = SplitPart{StartPFN: start, EndPFN: end, Pages: pages}
	}
	var rest uint64
	for _, k := range blocks[b:] {
		rest += k
	}
	parts[n-1] = SplitPart{StartPFN: end, EndPFN: maxPFN, Pages: rest}
	return parts
}
