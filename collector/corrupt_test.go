package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/vmcore"
)

// patchPhys overwrites the bytes of physical address addr in every PT_LOAD of the
// kernel's ELF image that holds it (the text map and the direct map may both).
func patchPhys(t *testing.T, k *testKernel, addr uint64, b []byte) {
	t.Helper()
	f := k.open(t)
	n := 0
	for _, s := range f.Loads {
		if addr >= s.Phys && addr+uint64(len(b)) <= s.Phys+s.FileSize {
			copy(k.image[s.Offset+addr-s.Phys:], b)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no PT_LOAD holds phys %#x", addr)
	}
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// TestCorruptKernelData: a damaged mem_section or page table ends the dump in bounded
// time with either a clear error or the documented fallback (keep every page the
// classifier cannot judge), never a hang and never a page silently lost.
func TestCorruptKernelData(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, k *testKernel)
	}{
		{"mem_section root points nowhere", func(t *testing.T, k *testKernel) {
			patchPhys(t, k, sectionsPhys, u64(0xffff9f3c7f000000)) // beyond RAM in the direct map
		}},
		{"mem_section root non-canonical", func(t *testing.T, k *testKernel) {
			patchPhys(t, k, sectionsPhys, u64(0xdead000000000000))
		}},
		{"section_mem_map garbage", func(t *testing.T, k *testKernel) {
			root := uint64(sectionsPhys + 0x1000)
			for nr := uint64(0); nr < 8; nr++ {
				patchPhys(t, k, root+nr*32, u64(0x4141414141414141|0xf))
			}
		}},
		{"vmemmap page table loops", func(t *testing.T, k *testKernel) {
			// The PMD entry mapping vmemmap points back at the top-level table,
			// without PSE: a walk through it meets the same table again.
			entry, err := k.k.Tables.EntryAddr(k.vmem, x86.LevelPMD)
			if err != nil {
				t.Fatal(err)
			}
			patchPhys(t, k, entry, u64(k.k.Tables.Root()|0x63))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newTestKernel(t, profile612)
			tc.corrupt(t, k)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var warned []string
			dst := &memFile{}
			st, err := Collect(ctx, k.open(t), dst, Options{DumpLevel: 31, Warn: func(m string) { warned = append(warned, m) }})
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				t.Fatalf("the collector did not finish on damaged kernel data (hang guard): %v", err)
			}
			if err != nil {
				// A clear error is allowed: it must say what was damaged.
				if !strings.Contains(err.Error(), "mem_section") && !strings.Contains(err.Error(), "x86") {
					t.Errorf("error does not say what was damaged: %v", err)
				}
				return
			}
			// The fallback: pages whose struct page cannot be read or trusted are kept,
			// and the dump says so.
			if len(warned) == 0 && st.UnreadableStructPages == 0 {
				t.Errorf("damaged kernel data went unnoticed: stats %+v", st)
			}
			// Every warning is both reported (Options.Warn) and recorded (Stats.Warnings),
			// so the status file says what the console said.
			if !slices.Equal(warned, st.Warnings) {
				t.Errorf("reported warnings %q, recorded %q", warned, st.Warnings)
			}
			out, oerr := vmcore.NewFile(bytes.NewReader(dst.b), int64(len(dst.b)), "out")
			if oerr != nil {
				t.Fatal(oerr)
			}
			lost := 0
			for pfn := uint64(0); pfn < testPFNs; pfn++ {
				if !k.present(pfn) {
					continue
				}
				ok, perr := out.PageDumped(pfn)
				if perr != nil {
					t.Fatal(perr)
				}
				if !ok && !isZero(k.page(pfn)) && st.ExcludedFree+st.ExcludedUser+st.ExcludedCache+st.ExcludedCachePrivate == 0 {
					lost++
				}
			}
			if lost != 0 {
				t.Errorf("%d non-zero pages left out although nothing could be classified", lost)
			}
			t.Logf("fallback: warnings %q, unreadable struct pages %d, dumped %d", warned, st.UnreadableStructPages, st.DumpedPages)
		})
	}
}
