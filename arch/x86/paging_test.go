package x86_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/arch/x86/x86test"
)

// Table pages live at tablesBase..tablesLimit in every synthetic memory.
const (
	tablesBase  = 0x100000
	tablesLimit = 0x200000
)

func newBuilder(t *testing.T, levels int) *x86test.PageTableBuilder {
	t.Helper()
	b, err := x86test.NewPageTableBuilder(levels, tablesBase, tablesLimit)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMap(t *testing.T, b *x86test.PageTableBuilder, vaddr, paddr, size, pageSize uint64) {
	t.Helper()
	if err := b.Map(vaddr, paddr, size, pageSize); err != nil {
		t.Fatal(err)
	}
}

// space places b's tables in memory (plus extra regions) and returns the
// address space over them, with one load covering the tables.
func space(t *testing.T, b *x86test.PageTableBuilder, levels int, cfg x86.Config, extra ...region) (*x86.AddressSpace, *x86test.Memory) {
	t.Helper()
	mem := &x86test.Memory{}
	if err := mem.Add(b.Base(), b.Bytes()); err != nil {
		t.Fatal(err)
	}
	cfg.Loads = append(cfg.Loads, x86.Load{Phys: tablesBase, Size: tablesLimit - tablesBase})
	for _, r := range extra {
		if err := mem.Add(r.phys, r.data); err != nil {
			t.Fatal(err)
		}
		cfg.Loads = append(cfg.Loads, x86.Load{Phys: r.phys, Size: uint64(len(r.data))})
	}
	if cfg.Mem == nil {
		cfg.Mem = mem
	}
	cfg.Root, cfg.Levels = b.Root(), levels
	as, err := x86.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return as, mem
}

type region struct {
	phys uint64
	data []byte
}

func TestTranslatePageSizes(t *testing.T) {
	tests := []struct {
		name     string
		vaddr    uint64
		paddr    uint64
		size     uint64
		pageSize uint64
	}{
		{"4K vmalloc", 0xffffc90000005000, 0x7654000, 3 * x86.PageSize, x86.PageSize},
		{"2M vmemmap", 0xffffea0000000000, 0x40000000, 2 * x86.PageSize2M, x86.PageSize2M},
		{"1G direct map", 0xffff888000000000, 0x80000000, x86.PageSize1G, x86.PageSize1G},
		{"4K user half", 0x00007f0000001000, 0x3000, x86.PageSize, x86.PageSize},
		// Index 511 at every level: the last entry of each table.
		{"4K top of space", 0xfffffffffffff000, 0x9000, x86.PageSize, x86.PageSize},
	}
	for _, levels := range []int{4, 5} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d-level/%s", levels, tt.name), func(t *testing.T) {
				b := newBuilder(t, levels)
				mustMap(t, b, tt.vaddr, tt.paddr, tt.size, tt.pageSize)
				as, _ := space(t, b, levels, x86.Config{})
				for _, off := range []uint64{0, 8, tt.pageSize - 1, tt.size - 1, tt.size / 2} {
					phys, ps, err := as.Translate(tt.vaddr + off)
					if err != nil {
						t.Fatalf("Translate(+0x%x): %v", off, err)
					}
					if phys != tt.paddr+off || ps != tt.pageSize {
						t.Errorf("Translate(+0x%x) = 0x%x, 0x%x; want 0x%x, 0x%x", off, phys, ps, tt.paddr+off, tt.pageSize)
					}
					wphys, wps, err := as.Walk(tt.vaddr + off)
					if err != nil || wphys != phys || wps != ps {
						t.Errorf("Walk(+0x%x) = 0x%x, 0x%x, %v; want Translate's 0x%x, 0x%x", off, wphys, wps, err, phys, ps)
					}
				}
				// Just past the mapping nothing is mapped.
				_, _, err := as.Translate(tt.vaddr + tt.size)
				if tt.vaddr+tt.size != 0 && !errors.Is(err, x86.ErrNotPresent) {
					t.Errorf("Translate past the end: %v, want ErrNotPresent", err)
				}
			})
		}
	}
}

// The PGD index comes from bits 48-56 under 5-level paging and 39-47 under
// 4-level: the same tables give different answers.
func TestLevelIndexBits(t *testing.T) {
	const vaddr uint64 = 0xff11000000000000 // 5-level direct map: PGD 0x111, P4D 0
	b := newBuilder(t, 5)
	mustMap(t, b, vaddr, 0x200000, x86.PageSize2M, x86.PageSize2M)
	as5, mem := space(t, b, 5, x86.Config{})
	if phys, _, err := as5.Translate(vaddr + 0x1234); err != nil || phys != 0x201234 {
		t.Fatalf("5-level: 0x%x, %v; want 0x201234", phys, err)
	}
	if idx := (vaddr >> 48) & 511; idx != 0x111 {
		t.Fatalf("test assumption: PGD index %#x", idx)
	}
	as4, err := x86.New(x86.Config{Mem: mem, Root: b.Root(), Levels: 4})
	if err != nil {
		t.Fatal(err)
	}
	// As 4-level, the address is not canonical (bits 48-63 are not copies of bit 47).
	if _, _, err := as4.Translate(vaddr); !errors.Is(err, x86.ErrNonCanonical) {
		t.Errorf("4-level: %v, want ErrNonCanonical", err)
	}
}

func TestNotPresentAtEachLevel(t *testing.T) {
	const vaddr uint64 = 0xffffc90000123000
	for _, levels := range []int{4, 5} {
		order := []x86.Level{x86.LevelPGD, x86.LevelPUD, x86.LevelPMD, x86.LevelPTE}
		if levels == 5 {
			order = []x86.Level{x86.LevelPGD, x86.LevelP4D, x86.LevelPUD, x86.LevelPMD, x86.LevelPTE}
		}
		for _, lvl := range order {
			t.Run(fmt.Sprintf("%d-level/%v", levels, lvl), func(t *testing.T) {
				b := newBuilder(t, levels)
				mustMap(t, b, vaddr, 0x5000, x86.PageSize, x86.PageSize)
				addr, err := b.EntryAddr(vaddr, lvl)
				if err != nil {
					t.Fatal(err)
				}
				old, _ := b.Entry(addr)
				// Clear only the present bit: the rest of the entry stays, as
				// in a swapped-out or PROT_NONE entry.
				if err := b.SetEntry(addr, old&^1); err != nil {
					t.Fatal(err)
				}
				as, _ := space(t, b, levels, x86.Config{})
				_, _, err = as.Translate(vaddr)
				var te *x86.TranslationError
				if !errors.As(err, &te) || !errors.Is(err, x86.ErrNotPresent) {
					t.Fatalf("err = %v, want a TranslationError with ErrNotPresent", err)
				}
				if te.Vaddr != vaddr || te.Level != lvl || te.EntryAddr != addr || te.Entry != old&^1 {
					t.Errorf("error = %+v; want vaddr 0x%x level %v entry 0x%x at 0x%x", te, vaddr, lvl, old&^1, addr)
				}
			})
		}
	}
}

func TestSMEMask(t *testing.T) {
	const sme = 1 << 47
	const vaddr uint64 = 0xffffc90000400000
	for _, levels := range []int{4, 5} {
		t.Run(fmt.Sprintf("%d-level", levels), func(t *testing.T) {
			b := newBuilder(t, levels)
			b.SetSMEMask(sme)
			mustMap(t, b, vaddr, 0x6000, x86.PageSize, x86.PageSize)
			mustMap(t, b, vaddr+x86.PageSize2M, 0x400000, x86.PageSize2M, x86.PageSize2M)
			addr, _ := b.EntryAddr(vaddr, x86.LevelPGD)
			if e, _ := b.Entry(addr); e&sme == 0 {
				t.Fatalf("builder did not set the SME bit: 0x%x", e)
			}
			as, mem := space(t, b, levels, x86.Config{SMEMask: sme})
			if phys, _, err := as.Translate(vaddr + 0x10); err != nil || phys != 0x6010 {
				t.Errorf("4K: 0x%x, %v; want 0x6010", phys, err)
			}
			if phys, _, err := as.Translate(vaddr + x86.PageSize2M + 0x10); err != nil || phys != 0x400010 {
				t.Errorf("2M: 0x%x, %v; want 0x400010", phys, err)
			}
			// Without the mask, the encryption bit is taken for an address bit
			// and the next table is far outside memory.
			bare, err := x86.New(x86.Config{Mem: mem, Root: b.Root(), Levels: levels,
				Loads: []x86.Load{{Phys: tablesBase, Size: tablesLimit - tablesBase}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := bare.Translate(vaddr); !errors.Is(err, x86.ErrOutsideMemory) {
				t.Errorf("without sme_mask: %v, want ErrOutsideMemory", err)
			}
		})
	}
	if _, err := x86.New(x86.Config{Mem: &x86test.Memory{}, Levels: 4, SMEMask: 1 << 60}); err == nil {
		t.Error("sme_mask outside the address bits accepted")
	}
}

// countingReader counts the reads that reach memory.
type countingReader struct {
	mem   x86.PhysReader
	reads atomic.Int64
}

func (c *countingReader) ReadPhys(p []byte, addr uint64) (int, error) {
	c.reads.Add(1)
	return c.mem.ReadPhys(p, addr)
}

func TestDamagedTables(t *testing.T) {
	const vaddr uint64 = 0xffffc90000123000
	tests := []struct {
		name    string
		level   x86.Level
		entry   func(b *x86test.PageTableBuilder) uint64
		noLoads bool
		want    error
	}{
		{"PGD points at itself", x86.LevelPGD, func(b *x86test.PageTableBuilder) uint64 { return b.Root() | 0x63 }, false, x86.ErrTableLoop},
		{"PMD points at the PGD", x86.LevelPMD, func(b *x86test.PageTableBuilder) uint64 { return b.Root() | 0x63 }, false, x86.ErrTableLoop},
		{"PUD points at the PUD table", x86.LevelPUD, func(b *x86test.PageTableBuilder) uint64 {
			a, _ := b.EntryAddr(vaddr, x86.LevelPUD)
			return a&^0xfff | 0x63
		}, false, x86.ErrTableLoop},
		{"PUD beyond memory", x86.LevelPUD, func(*x86test.PageTableBuilder) uint64 { return 0xfffff000000 | 0x63 }, false, x86.ErrOutsideMemory},
		{"PMD beyond memory, no loads", x86.LevelPMD, func(*x86test.PageTableBuilder) uint64 { return 0x7fff0000 | 0x63 }, true, x86.ErrTableRead},
		{"PSE in PGD", x86.LevelPGD, func(*x86test.PageTableBuilder) uint64 { return 0x40000000 | 0xe3 }, false, x86.ErrReservedPSE},
	}
	for _, levels := range []int{4, 5} {
		for _, tt := range tests {
			for _, cache := range []int{0, -1} {
				t.Run(fmt.Sprintf("%d-level/%s/cache%d", levels, tt.name, cache), func(t *testing.T) {
					b := newBuilder(t, levels)
					mustMap(t, b, vaddr, 0x5000, x86.PageSize, x86.PageSize)
					addr, err := b.EntryAddr(vaddr, tt.level)
					if err != nil {
						t.Fatal(err)
					}
					bad := tt.entry(b)
					if err := b.SetEntry(addr, bad); err != nil {
						t.Fatal(err)
					}
					mem := &x86test.Memory{}
					if err := mem.Add(b.Base(), b.Bytes()); err != nil {
						t.Fatal(err)
					}
					cr := &countingReader{mem: mem}
					cfg := x86.Config{Mem: cr, Root: b.Root(), Levels: levels, TableCacheSize: cache}
					if !tt.noLoads {
						cfg.Loads = []x86.Load{{Phys: tablesBase, Size: tablesLimit - tablesBase}}
					}
					as, err := x86.New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					_, _, err = as.Translate(vaddr)
					var te *x86.TranslationError
					if !errors.Is(err, tt.want) || !errors.As(err, &te) {
						t.Fatalf("err = %v, want %v", err, tt.want)
					}
					wantLevel, wantAddr, wantEntry := tt.level, addr, bad
					if tt.want == x86.ErrTableRead {
						// The failure is the read of the next table's entry.
						wantLevel, wantAddr, wantEntry = x86.LevelPTE, bad&^0xfff+(vaddr>>12)%512*8, 0
					}
					if te.Level != wantLevel || te.EntryAddr != wantAddr || te.Entry != wantEntry || te.Vaddr != vaddr {
						t.Errorf("error = %+v; want level %v entry 0x%x at 0x%x", te, wantLevel, wantEntry, wantAddr)
					}
					// One page read per level at most, plus an entry-sized
					// retry for the table that could not be read whole.
					if n := cr.reads.Load(); n > int64(2*levels) {
						t.Errorf("%d reads for one walk, want at most %d", n, 2*levels)
					}
					if tt.want == x86.ErrTableRead && !errors.Is(err, x86test.ErrHole) {
						t.Errorf("read error not wrapped: %v", err)
					}
				})
			}
		}
	}
}

// A leaf may point anywhere (MMIO mapped by ioremap is not in the dump):
// translation succeeds, reading fails.
func TestLeafOutsideMemory(t *testing.T) {
	const vaddr uint64 = 0xffffc90000010000
	b := newBuilder(t, 4)
	mustMap(t, b, vaddr, 0xfe000000, x86.PageSize, x86.PageSize)
	as, _ := space(t, b, 4, x86.Config{})
	phys, _, err := as.Translate(vaddr)
	if err != nil || phys != 0xfe000000 {
		t.Fatalf("Translate = 0x%x, %v; want 0xfe000000", phys, err)
	}
	n, err := as.ReadVirt(make([]byte, 8), vaddr)
	if n != 0 || !errors.Is(err, x86test.ErrHole) {
		t.Errorf("ReadVirt = %d, %v; want 0 and the reader's hole error", n, err)
	}
}

func TestNonCanonical(t *testing.T) {
	b := newBuilder(t, 4)
	as, _ := space(t, b, 4, x86.Config{})
	for _, v := range []uint64{0x0000800000000000, 0xffff7fffffffffff, 0x8000000000000000} {
		_, _, err := as.Translate(v)
		var te *x86.TranslationError
		if !errors.Is(err, x86.ErrNonCanonical) || !errors.As(err, &te) || te.Vaddr != v || te.Level != x86.LevelNone {
			t.Errorf("Translate(0x%x) = %v, want ErrNonCanonical naming it", v, err)
		}
	}
	b5 := newBuilder(t, 5)
	as5, _ := space(t, b5, 5, x86.Config{})
	// Canonical for 5-level (bit 56 copied upwards) but not for 4-level.
	if _, _, err := as5.Translate(0xff11000000000000); !errors.Is(err, x86.ErrNotPresent) {
		t.Errorf("5-level canonical address: %v, want ErrNotPresent", err)
	}
	if _, _, err := as5.Translate(0x0100000000000000); !errors.Is(err, x86.ErrNonCanonical) {
		t.Errorf("5-level non-canonical address: %v, want ErrNonCanonical", err)
	}
}

func TestReadVirt(t *testing.T) {
	const vaddr uint64 = 0xffffc90000200000
	for _, levels := range []int{4, 5} {
		t.Run(fmt.Sprintf("%d-level", levels), func(t *testing.T) {
			b := newBuilder(t, levels)
			// Two virtually adjacent pages, physically apart and in reverse
			// order; the third page is not mapped.
			mustMap(t, b, vaddr, 0x9000, x86.PageSize, x86.PageSize)
			mustMap(t, b, vaddr+x86.PageSize, 0x4000, x86.PageSize, x86.PageSize)
			low := bytes.Repeat([]byte{0xaa}, int(x86.PageSize))
			high := bytes.Repeat([]byte{0xbb}, int(x86.PageSize))
			copy(low[x86.PageSize-4:], "tail")
			copy(high, "head")
			as, _ := space(t, b, levels, x86.Config{}, region{0x9000, low}, region{0x4000, high})

			buf := make([]byte, 8)
			n, err := as.ReadVirt(buf, vaddr+x86.PageSize-4)
			if err != nil || n != 8 || string(buf) != "tailhead" {
				t.Fatalf("ReadVirt across the boundary = %d, %q, %v; want 8, \"tailhead\"", n, buf, err)
			}

			buf = make([]byte, 3*x86.PageSize)
			n, err = as.ReadVirt(buf, vaddr+0x100)
			want := 2*int(x86.PageSize) - 0x100
			var te *x86.TranslationError
			if n != want || !errors.As(err, &te) || !errors.Is(err, x86.ErrNotPresent) {
				t.Fatalf("ReadVirt into the hole = %d, %v; want %d and ErrNotPresent", n, err, want)
			}
			if te.Vaddr != vaddr+2*x86.PageSize {
				t.Errorf("error names 0x%x, want 0x%x", te.Vaddr, vaddr+2*x86.PageSize)
			}
			if !bytes.Equal(buf[:int(x86.PageSize)-0x100], low[0x100:]) || !bytes.Equal(buf[int(x86.PageSize)-0x100:n], high) {
				t.Error("bytes before the hole differ from memory")
			}

			if n, err := as.ReadVirt(nil, 0x1234); n != 0 || err != nil {
				t.Errorf("empty read = %d, %v", n, err)
			}
			// Reading past the top of the address space stops, not wraps.
			if n, err := as.ReadVirt(make([]byte, 16), 0xfffffffffffffff8); n != 0 || err == nil {
				t.Errorf("read at the top = %d, %v; want an error", n, err)
			}
		})
	}
}

// Translating every struct page of a vmemmap mapped by 2 MiB pages must not
// re-read the tables for each one.
func TestTableCache(t *testing.T) {
	const vmemmap uint64 = 0xffffea0000000000
	b := newBuilder(t, 5)
	for i := range uint64(64) {
		mustMap(t, b, vmemmap+i*x86.PageSize2M, 0x40000000+i*x86.PageSize2M*3, x86.PageSize2M, x86.PageSize2M)
	}
	// Some 4K pages in another PMD table, to need more than one cached table.
	mustMap(t, b, 0xffffc90000000000, 0x7000, 16*x86.PageSize, x86.PageSize)
	mem := &x86test.Memory{}
	if err := mem.Add(b.Base(), b.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, cache := range []int{0, 2, -1} {
		cr := &countingReader{mem: mem}
		as, err := x86.New(x86.Config{Mem: cr, Root: b.Root(), Levels: 5, TableCacheSize: cache})
		if err != nil {
			t.Fatal(err)
		}
		const pages = 64 * x86.PageSize2M / 64 // struct pages of 64 bytes
		for i := range uint64(pages) {
			v := vmemmap + i*64
			phys, _, err := as.Translate(v)
			j := i * 64 / x86.PageSize2M
			if want := 0x40000000 + j*x86.PageSize2M*3 + i*64%x86.PageSize2M; err != nil || phys != want {
				t.Fatalf("cache %d: Translate(0x%x) = 0x%x, %v; want 0x%x", cache, v, phys, err, want)
			}
			if i%4096 == 0 {
				if _, _, err := as.Translate(0xffffc90000000000 + i%16*x86.PageSize); err != nil {
					t.Fatal(err)
				}
			}
		}
		reads := cr.reads.Load()
		t.Logf("cache %d: %d reads for %d translations", cache, reads, pages)
		// 64 distinct 2M pages walked once each (the TLB catches the rest):
		// with a cache, the 5 + 2 table pages are read once.
		switch {
		case cache >= 0 && cache != 2 && reads > 10:
			t.Errorf("cache %d: %d table reads, want at most 10", cache, reads)
		case cache == 2 && reads > 64*5+16*5:
			t.Errorf("cache 2: %d table reads, want at most one walk's worth per new page", reads)
		case cache < 0 && reads < 64*4:
			t.Errorf("no cache: only %d reads; the count does not measure what it should", reads)
		}
	}
}

func TestShortcuts(t *testing.T) {
	const (
		textPhys  = 0x2000000
		physBase  = textPhys - 0x1000000
		directMap = 0xff4a000000000000 // a KASLR-randomised 5-level page_offset_base
	)
	// Empty tables: anything translated must come from a shortcut.
	b := newBuilder(t, 5)
	ram := make([]byte, 0x10000)
	copy(ram[0x1234:], "direct")
	cfg := x86.Config{
		PhysBase:        physBase,
		KernelImageSize: x86.DefaultKernelImageSize,
		DirectMapBase:   directMap,
		Loads: []x86.Load{
			{Virt: directMap + 0x10000000, Phys: 0x10000000, Size: 0x10000},
			{Virt: 0xffffffff81000000, Phys: textPhys, Size: 0x1000},
		},
	}
	as, _ := space(t, b, 5, cfg, region{0x10000000, ram}, region{textPhys, []byte("text")})
	tests := []struct {
		vaddr, phys uint64
	}{
		{directMap + 0x10000000, 0x10000000},
		{directMap + 0x1000ffff, 0x1000ffff},
		{directMap + 0x10001234, 0x10001234},
		{0xffffffff81000000, textPhys},
		{0xffffffff80000000, physBase},
		{0xffffffff9fffffff, physBase + 0x1fffffff},
	}
	for _, tt := range tests {
		phys, ps, err := as.Translate(tt.vaddr)
		if err != nil || phys != tt.phys || ps != x86.PageSize {
			t.Errorf("Translate(0x%x) = 0x%x, 0x%x, %v; want 0x%x, 4K", tt.vaddr, phys, ps, err, tt.phys)
		}
		if _, _, err := as.Walk(tt.vaddr); !errors.Is(err, x86.ErrNotPresent) {
			t.Errorf("Walk(0x%x) = %v; the empty tables should not map it", tt.vaddr, err)
		}
	}
	// Outside the loads and the image: the tables decide.
	for _, v := range []uint64{directMap + 0x10010000, directMap + 0x0ffff000, 0xffffffffa0000000} {
		if _, _, err := as.Translate(v); !errors.Is(err, x86.ErrNotPresent) {
			t.Errorf("Translate(0x%x) = %v, want a walk that fails", v, err)
		}
	}
	buf := make([]byte, 6)
	if n, err := as.ReadVirt(buf, directMap+0x10001234); err != nil || n != 6 || string(buf) != "direct" {
		t.Errorf("ReadVirt(direct map) = %d, %q, %v", n, buf, err)
	}
	buf = make([]byte, 4)
	if n, err := as.ReadVirt(buf, 0xffffffff81000000); err != nil || n != 4 || string(buf) != "text" {
		t.Errorf("ReadVirt(text) = %d, %q, %v", n, buf, err)
	}
}

func TestNewRejects(t *testing.T) {
	mem := &x86test.Memory{}
	tests := []struct {
		name string
		cfg  x86.Config
	}{
		{"no reader", x86.Config{Levels: 4}},
		{"3 levels", x86.Config{Mem: mem, Levels: 3}},
		{"unaligned root", x86.Config{Mem: mem, Levels: 4, Root: 0x1008}},
		{"root beyond 52 bits", x86.Config{Mem: mem, Levels: 4, Root: 1 << 52}},
		{"root has the sme bit", x86.Config{Mem: mem, Levels: 4, Root: 1<<47 | 0x1000, SMEMask: 1 << 47}},
		{"overflowing load", x86.Config{Mem: mem, Levels: 4, Loads: []x86.Load{{Phys: 1 << 63, Size: 1 << 63}}}},
		{"huge image", x86.Config{Mem: mem, Levels: 4, KernelImageSize: 2 << 30}},
	}
	for _, tt := range tests {
		if _, err := x86.New(tt.cfg); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestLevelString(t *testing.T) {
	want := map[x86.Level]string{x86.LevelNone: "address", x86.LevelPGD: "PGD", x86.LevelP4D: "P4D",
		x86.LevelPUD: "PUD", x86.LevelPMD: "PMD", x86.LevelPTE: "PTE", x86.Level(9): "Level(9)"}
	for l, s := range want {
		if l.String() != s {
			t.Errorf("%d: %q, want %q", int(l), l.String(), s)
		}
	}
	e := &x86.TranslationError{Vaddr: 0xffff888000001000, Level: x86.LevelPMD, EntryAddr: 0x1008, Entry: 0x62, Err: x86.ErrNotPresent}
	if got := e.Error(); got != "x86: translate 0xffff888000001000: PMD entry 0x62 at phys 0x1008: page not present" {
		t.Errorf("Error() = %q", got)
	}
}

// Translations from many goroutines share the cache and the TLB.
func TestConcurrentTranslate(t *testing.T) {
	const base uint64 = 0xffffea0000000000
	b := newBuilder(t, 4)
	mustMap(t, b, base, 0x40000000, 32*x86.PageSize2M, x86.PageSize2M)
	mustMap(t, b, 0xffffc90000000000, 0x8000, 64*x86.PageSize, x86.PageSize)
	as, _ := space(t, b, 4, x86.Config{TableCacheSize: 2})
	errs := make(chan error, 8)
	for g := range uint64(8) {
		go func() {
			for i := range uint64(2000) {
				v, want := base+(g*2000+i)*4096, 0x40000000+(g*2000+i)*4096
				if g%2 == 1 {
					v, want = 0xffffc90000000000+i%64*4096+g, 0x8000+i%64*4096+g
				}
				if phys, _, err := as.Translate(v); err != nil || phys != want {
					errs <- fmt.Errorf("Translate(0x%x) = 0x%x, %v; want 0x%x", v, phys, err, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// eofReader ends every read with io.EOF, as an io.ReaderAt may at the end of
// a file even when it filled the buffer.
type eofReader struct{ mem x86.PhysReader }

func (r eofReader) ReadPhys(p []byte, addr uint64) (int, error) {
	n, err := r.mem.ReadPhys(p, addr)
	if err == nil {
		err = io.EOF
	}
	return n, err
}

func TestFullReadWithEOF(t *testing.T) {
	const vaddr uint64 = 0xffffc90000200000
	b := newBuilder(t, 4)
	mustMap(t, b, vaddr, 0x9000, x86.PageSize, x86.PageSize)
	_, mem := space(t, b, 4, x86.Config{}, region{0x9000, []byte("data")})
	for _, cache := range []int{0, -1} {
		as, err := x86.New(x86.Config{Mem: eofReader{mem}, Root: b.Root(), Levels: 4, TableCacheSize: cache})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if n, err := as.ReadVirt(buf, vaddr); err != nil || string(buf[:n]) != "data" {
			t.Errorf("cache %d: ReadVirt = %q, %v", cache, buf[:n], err)
		}
	}
}
