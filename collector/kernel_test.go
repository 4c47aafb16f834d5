package collector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/arch/x86/x86test"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/vmcore"
)

// This file builds synthetic crashed kernels with real struct page arrays in their
// physical memory: vmemmap mapped through the kernel's page tables, a SPARSEMEM_EXTREME
// mem_section tree in the direct map, and VMCOREINFO as a 6.1 or 6.12 kernel writes it
// (flag numbers and page-type values of Debian's builds, as in package mm's tests).

// profile is one kernel generation's struct page conventions.
type profile struct {
	name                                      string
	levels                                    int
	lru, private, swapcache, swapbacked, head int
	hwpoison, slabFlag                        int // slabFlag -1: slab is a page type
	buddy, offline, slab, hugetlb             uint32
	orderInFlags1                             bool // 6.6+: order in page[1].flags' low byte, else a byte at page[1]+17
	keys                                      func(v *dumpfile.VMCOREINFOText)
}

func commonKeys(v *dumpfile.VMCOREINFOText) {
	v.Size("page", 64)
	v.Offset("page.flags", 0)
	v.Offset("page._refcount", 52)
	v.Offset("page.mapping", 24)
	v.Offset("page.lru", 8)
	v.Offset("page._mapcount", 48)
	v.Offset("page.private", 40)
	v.Offset("page.compound_head", 8)
	v.Offset("list_head.next", 0)
	v.Offset("list_head.prev", 8)
	v.Size("mem_section", 32) // Debian: CONFIG_PAGE_EXTENSION
	v.Offset("mem_section.section_mem_map", 0)
	v.Length("zone.free_area", 11)
	v.Number("SECTION_SIZE_BITS", testSectionBits)
}

const testSectionBits = 25 // 8192 pfns a section: several sections in a small machine

var profile61 = profile{
	name: "6.1", levels: 5, lru: 4, private: 13, swapcache: 10, swapbacked: 19, head: 16, hwpoison: 23, slabFlag: 9,
	buddy: uint32(0xffffff7f), offline: uint32(0xfffffeff), // -129, -257
	keys: func(v *dumpfile.VMCOREINFOText) {
		commonKeys(v)
		v.Offset("page.compound_dtor", 16)
		v.Offset("page.compound_order", 17)
		v.Number("PG_lru", 4)
		v.Number("PG_private", 13)
		v.Number("PG_swapcache", 10)
		v.Number("PG_swapbacked", 19)
		v.Number("PG_slab", 9)
		v.Number("PG_hwpoison", 23)
		v.Number("PG_head_mask", 1<<16)
		v.Number("PAGE_BUDDY_MAPCOUNT_VALUE", -129)
		v.Number("PAGE_OFFLINE_MAPCOUNT_VALUE", -257)
		v.Number("HUGETLB_PAGE_DTOR", 2)
		v.Number("MAX_PHYSMEM_BITS", 52)
		v.Length("mem_section", 1<<(52-testSectionBits)/128)
	},
}

var profile612 = profile{
	name: "6.12", levels: 4, lru: 5, private: 14, swapcache: 10, swapbacked: 17, head: 6, hwpoison: 20, slabFlag: -1,
	buddy: 0xf0000000, offline: 0xf1000000, hugetlb: 0xf4000000, slab: 0xf5000000, orderInFlags1: true,
	keys: func(v *dumpfile.VMCOREINFOText) {
		commonKeys(v)
		v.Number("PG_lru", 5)
		v.Number("PG_private", 14)
		v.Number("PG_swapcache", 10)
		v.Number("PG_swapbacked", 17)
		v.Number("PG_hwpoison", 20)
		v.Number("PG_head_mask", 1<<6)
		v.Number("PAGE_BUDDY_MAPCOUNT_VALUE", -268435456)
		v.Number("PAGE_OFFLINE_MAPCOUNT_VALUE", -251658240)
		v.Number("PAGE_HUGETLB_MAPCOUNT_VALUE", -201326592)
		v.Number("PAGE_SLAB_MAPCOUNT_VALUE", -184549376)
		v.Number("MAX_PHYSMEM_BITS", 46)
		v.Length("mem_section", 1<<(46-testSectionBits)/128)
	},
}

// Physical layout of the test machine (pfns of 4 KiB).
const (
	testRAM       = 64 << 20
	testPFNs      = testRAM / 4096
	memmapPhys    = 0x200000 // struct pages, 2 MiB: up to 32768 pfns
	sectionsPhys  = 0x400000 // mem_section root array; root pages follow
	imagePhys     = 0x3000000
	imageSize     = 0x400000
	holeStartPhys = 0x9fc00 // the first PT_LOAD ends mid-page, as e820's first range does
	holeEndPhys   = 0x100000
)

// Page frames with a known kind.
const (
	pfnFree9      = 0x800  // buddy block of order 9
	pfnFree0      = 0xa00  // order 0
	pfnFree3      = 0xa08  // order 3
	pfnCache      = 0xb00  // 32 page cache pages
	pfnCachePriv  = 0xb20  // 16 with PG_private
	pfnAnon       = 0xc00  // 128 anonymous pages
	pfnTHP        = 0xe00  // anonymous compound page of order 9
	pfnFree10     = 0x1000 // buddy block of order 10
	pfnHugetlb    = 0x1800 // hugetlbfs page of order 9
	pfnSlab       = 0x1a00 // 16 slab pages
	pfnSlabComp   = 0x1a10 // slab compound page of order 2
	pfnHWPoison   = 0x1b00
	pfnOffline    = 0x1b01
	pfnZero       = 0x1c00 // 300 zero-filled pages (kept by type)
	nZero         = 300
	pfnZeroShort  = 0x1e00 // 5 zero-filled pages amid data
	pfnCacheZero  = 0x1f00 // a zero-filled page cache page
	pfnAfterImage = (imagePhys + imageSize) / 4096
)

type testKernel struct {
	p     profile
	k     *x86test.Kernel
	ram   []byte
	vmem  uint64 // vmemmap base
	image []byte // the ELF vmcore
	loads []x86.Load
}

func (t *testKernel) sp(pfn uint64) []byte {
	o := memmapPhys + pfn*64
	return t.ram[o : o+64]
}
func (t *testKernel) flag(pfn uint64, b int) {
	s := t.sp(pfn)
	binary.LittleEndian.PutUint64(s, binary.LittleEndian.Uint64(s)|1<<uint(b))
}
func (t *testKernel) word(pfn uint64, off int, v uint64) {
	binary.LittleEndian.PutUint64(t.sp(pfn)[off:], v)
}
func (t *testKernel) mapcount(pfn uint64, v uint32) { binary.LittleEndian.PutUint32(t.sp(pfn)[48:], v) }

func (t *testKernel) free(pfn uint64, order uint64) {
	t.mapcount(pfn, t.p.buddy)
	t.word(pfn, 40, order)
}

func (t *testKernel) compound(head uint64, order uint) {
	t.flag(head, t.p.head)
	next := t.sp(head + 1)
	if t.p.orderInFlags1 {
		binary.LittleEndian.PutUint64(next, binary.LittleEndian.Uint64(next)|uint64(order))
	} else {
		next[17] = byte(order)
	}
	for tail := head + 1; tail < head+1<<order; tail++ {
		t.word(tail, 8, t.vmem+head*64+1)
	}
}

func (t *testKernel) anon(pfn uint64) {
	t.word(pfn, 24, 0xffff888012345001)
	t.mapcount(pfn, 0)
	t.flag(pfn, t.p.lru)
	t.flag(pfn, t.p.swapbacked)
}

func (t *testKernel) cache(pfn uint64, private bool) {
	t.word(pfn, 24, 0xffff888012345600)
	t.flag(pfn, t.p.lru)
	if private {
		t.flag(pfn, t.p.private)
	}
}

func (t *testKernel) slab(pfn uint64) {
	if t.p.slabFlag >= 0 {
		t.flag(pfn, t.p.slabFlag)
	} else {
		t.mapcount(pfn, t.p.slab)
	}
	t.word(pfn, 24, 0x3) // 6.2+: slab counters overlay mapping; odd looks anonymous
}

// fill writes a page of data derived from pfn: never all zero, compressible.
func fill(page []byte, pfn uint64) {
	for i := 0; i < len(page); i += 8 {
		v := pfn<<20 | uint64(i/64)
		if i%64 == 56 {
			v = pfn*0x9e3779b97f4a7c15 ^ uint64(i)
		}
		binary.LittleEndian.PutUint64(page[i:], v|1)
	}
}

// newTestKernel builds the machine and its vmcore.
func newTestKernel(tb testing.TB, p profile) *testKernel {
	tb.Helper()
	dm := uint64(0xffff9f3c40000000)
	vmem := uint64(0xffffea0000000000)
	if p.levels == 5 {
		dm, vmem = 0xff40139d00000000, 0xfff5cd30c0000000
	}
	k, err := x86test.NewKernel(x86test.KernelConfig{Levels: p.levels, RAMSize: testRAM, ImagePhys: imagePhys, ImageSize: imageSize,
		KASLROffset: 0x20c00000, DirectMapBase: dm})
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Tables.Map(vmem, memmapPhys, 2<<20, x86.PageSize2M); err != nil {
		tb.Fatal(err)
	}
	t := &testKernel{p: p, k: k, ram: make([]byte, testRAM), vmem: vmem}
	ps := uint64(4096)
	for pfn := uint64(0); pfn < testPFNs; pfn++ {
		fill(t.ram[pfn*ps:(pfn+1)*ps], pfn)
	}
	clear(t.ram[memmapPhys : memmapPhys+2<<20])
	clear(t.ram[sectionsPhys : sectionsPhys+0x10000])
	clear(t.ram[imagePhys : imagePhys+imageSize])
	if err := k.Place(t.ram); err != nil {
		tb.Fatal(err)
	}
	// Fresh struct pages: _mapcount -1, _refcount 1.
	for pfn := uint64(0); pfn < testPFNs; pfn++ {
		t.mapcount(pfn, 0xffffffff)
		binary.LittleEndian.PutUint32(t.sp(pfn)[52:], 1)
	}
	// mem_section: the root array, then root pages of 4096/32 sections each.
	rootPage := uint64(sectionsPhys + 0x1000)
	binary.LittleEndian.PutUint64(t.ram[sectionsPhys:], dm+rootPage)
	pps := uint64(1) << (testSectionBits - 12)
	for nr := uint64(0); nr*pps < testPFNs; nr++ {
		// Encoded: mem_map - first_pfn*SIZE(page), flags present|has_mem_map|online|early.
		binary.LittleEndian.PutUint64(t.ram[rootPage+nr*32:], vmem|0xf)
	}

	t.free(pfnFree9, 9)
	t.free(pfnFree0, 0)
	t.free(pfnFree3, 3)
	t.free(pfnFree10, 10)
	for i := uint64(0); i < 32; i++ {
		t.cache(pfnCache+i, false)
	}
	for i := uint64(0); i < 16; i++ {
		t.cache(pfnCachePriv+i, true)
	}
	for i := uint64(0); i < 128; i++ {
		t.anon(pfnAnon + i)
	}
	t.compound(pfnTHP, 9)
	t.anon(pfnTHP)
	t.compound(pfnHugetlb, 9)
	if t.p.hugetlb != 0 {
		t.mapcount(pfnHugetlb, t.p.hugetlb)
	} else {
		t.sp(pfnHugetlb + 1)[16] = 2 // compound_dtor = HUGETLB_PAGE_DTOR
	}
	t.word(pfnHugetlb, 24, 0xffff888012347700)
	for i := uint64(0); i < 16; i++ {
		t.slab(pfnSlab + i)
	}
	t.compound(pfnSlabComp, 2)
	t.slab(pfnSlabComp)
	t.flag(pfnHWPoison, t.p.hwpoison)
	t.mapcount(pfnOffline, t.p.offline)
	clear(t.ram[pfnZero*ps : (pfnZero+nZero)*ps])
	clear(t.ram[pfnZeroShort*ps : (pfnZeroShort+5)*ps])
	t.cache(pfnCacheZero, false)
	clear(t.ram[pfnCacheZero*ps : (pfnCacheZero+1)*ps])

	// The uts namespace, for the kdump header.
	uts := k.TextVirt + 0x123000
	name := t.ram[imagePhys+0x123000:]
	for i, s := range []string{"Linux", "synth", "6.x-test", "#1 SMP test", "x86_64", "(none)"} {
		copy(name[i*65:(i+1)*65], s)
	}

	var vi dumpfile.VMCOREINFOText
	vi.Standard(p.name+".0-test", 4096, 1764132830, k.KASLROffset)
	kv := k.VMCOREINFO()
	vi.Symbol("init_top_pgt", kv.Symbols["init_top_pgt"])
	for _, n := range []string{"phys_base", "pgtable_l5_enabled", "KERNEL_IMAGE_SIZE", "sme_mask"} {
		vi.Number(n, kv.Numbers[n])
	}
	vi.Symbol("init_uts_ns", uts)
	vi.Symbol("mem_section", dm+sectionsPhys)
	p.keys(&vi)

	var notes []byte
	for cpu := 0; cpu < 2; cpu++ {
		pr := &vmcore.PRStatus{Pid: int32(100 + cpu)}
		pr.Regs.RIP = k.TextVirt + 0x1000
		notes = append(notes, dumpfile.PRStatusNote(pr)...)
	}
	notes = append(notes, dumpfile.VMCOREINFONote(vi.Bytes())...)

	t.loads = []x86.Load{
		{Virt: k.TextVirt, Phys: imagePhys, Size: imageSize},
		{Virt: dm, Phys: 0, Size: holeStartPhys},
		{Virt: dm + holeEndPhys, Phys: holeEndPhys, Size: testRAM - holeEndPhys},
	}
	w := &dumpfile.ELFWriter{Notes: notes}
	for _, l := range t.loads {
		w.Loads = append(w.Loads, dumpfile.ELFLoad{Phys: l.Phys, Virt: l.Virt, FileSize: l.Size, MemSize: l.Size,
			Data: bytes.NewReader(t.ram[l.Phys : l.Phys+l.Size])})
	}
	var out bytes.Buffer
	if _, err := w.WriteTo(&out); err != nil {
		tb.Fatal(err)
	}
	t.image = out.Bytes()
	return t
}

func (t *testKernel) open(tb testing.TB) *vmcore.File {
	tb.Helper()
	f, err := vmcore.NewFile(bytes.NewReader(t.image), int64(len(t.image)), "synthetic-"+t.p.name)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// page returns pfn's contents as the dump should hold them: the RAM, with the bytes no
// PT_LOAD holds read as zero.
func (t *testKernel) page(pfn uint64) []byte {
	p := bytes.Clone(t.ram[pfn*4096 : (pfn+1)*4096])
	if a := pfn * 4096; a < holeEndPhys && a+4096 > holeStartPhys {
		clear(p[max(holeStartPhys, a)-a:])
	}
	return p
}

// present reports whether a PT_LOAD holds any byte of pfn.
func (t *testKernel) present(pfn uint64) bool {
	a := pfn * 4096
	return a < holeStartPhys || a >= holeEndPhys && pfn < testPFNs
}

func (t *testKernel) String() string {
	return fmt.Sprintf("kernel %s (%d-level)", t.p.name, t.p.levels)
}
