package lab

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/testenv"
)

// TestServiceScale: a 64 GiB guest (QEMU allocates its memory lazily) is crashed and
// captured by the real gokdump in a 256 MiB reservation with the default
// configuration, beside a 1 GiB guest, and the collector's peak RSS (the status file's
// collector.peak_rss_bytes, getrusage of the capture process) stays flat: a collector
// holding a byte per page of the crashed machine would grow by 16 MiB. The absolute
// bound (24 MiB) and the smallest reservation are make bench's (BENCH_RESERVATION=1).
// Pass 2 reads no struct page again: pass 1's verdicts fit its kept bitmap.
// Under TCG the two guests run in parallel: 29 s and 48 s on a 2-core host (2026-12;
// earlier hosts took 100-130 s for the 64 GiB one); the 64 GiB guest's QEMU holds
// about 1.8 GB of host memory (its first kernel's struct pages), the rest is never
// touched (NoReserve).
func TestServiceScale(t *testing.T) {
	var mu sync.Mutex
	peak := map[int]int64{}
	t.Run("group", func(t *testing.T) {
		for _, mem := range []int{1024, 65536} {
			t.Run(map[int]string{1024: "1GiB", 65536: "64GiB"}[mem], func(t *testing.T) {
				t.Parallel()
				r := runService(t, serviceCase{
					name: "service-scale", kernel: testenv.Kernel61, memoryMiB: mem, crashMiB: 256, diskMiB: 512,
					conf: "ext4 LABEL=" + dumpLabel + "\n", // core_collector and actions: gokdump's defaults
				})
				dir, files := r.dumpDir(t)
				checkDumpDir(t, dir, files, testenv.KernelPackage(t, testenv.Kernel61).Release)
				st, err := dumpdir.ReadStatus(dir)
				if err != nil {
					t.Fatal(err)
				}
				var cs struct {
					PeakRSS  int64   `json:"peak_rss_bytes"`
					Total    uint64  `json:"total_pages"`
					Dumped   uint64  `json:"dumped_pages"`
					Excluded uint64  `json:"excluded_free"`
					Reclass  *uint64 `json:"reclassified_pages"`
				}
				if err := json.Unmarshal(st.Collector, &cs); err != nil {
					t.Fatalf("status collector %s: %v", st.Collector, err)
				}
				// The pfns span the guest's memory (less QEMU's top 152 KiB below 4 GiB,
				// more above it when the PCI hole pushes RAM up).
				if cs.Total < uint64(mem-1)<<8 || cs.PeakRSS <= 0 {
					t.Errorf("collector stats %+v: want %d+ pages and a peak RSS", cs, (mem-1)<<8)
				}
				// Pass 1's verdicts fit its kept bitmap, as runs, even for 64 GiB (2 MiB
				// as plain bits): pass 2 reads no struct page again.
				switch {
				case cs.Reclass == nil:
					t.Errorf("status collector %s: no reclassified_pages", st.Collector)
				case *cs.Reclass != 0:
					t.Errorf("pass 2 classified %d pfns again (of %d): pass 1's verdicts were not all kept", *cs.Reclass, cs.Total)
				}
				t.Logf("%d MiB guest: collector peak RSS %.1f MiB, %d of %d pages dumped, capture %s",
					mem, float64(cs.PeakRSS)/(1<<20), cs.Dumped, cs.Total, st.End.Sub(st.Start))
				mu.Lock()
				peak[mem] = cs.PeakRSS
				mu.Unlock()
			})
		}
	})
	if t.Failed() || t.Skipped() || len(peak) != 2 {
		return
	}
	if grow := peak[65536] - peak[1024]; grow > 4<<20 {
		t.Errorf("collector peak RSS grew by %.1f MiB from a 1 GiB to a 64 GiB guest (%.1f -> %.1f MiB); want it flat (<= 4 MiB)",
			float64(grow)/(1<<20), float64(peak[1024])/(1<<20), float64(peak[65536])/(1<<20))
	}
}
