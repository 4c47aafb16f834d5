package x86

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gokdump/gokdump/internal/ranges"
)

// PhysReader reads the dump's physical memory. A read that touches memory
// the dump does not hold must return a non-nil error (never zeros); n is the
// number of bytes read before the hole.
type PhysReader interface {
	ReadPhys(p []byte, addr uint64) (n int, err error)
}

// Load is one PT_LOAD of the dump: Size bytes of physical memory at Phys,
// which the kernel that wrote the ELF header said are mapped at Virt (0 when
// it did not say).
type Load struct {
	Virt, Phys, Size uint64
}

// Fixed parts of the x86_64 kernel memory layout
// (Documentation/arch/x86/x86_64/mm.rst).
const (
	// KernelTextMap is __START_KERNEL_map: the kernel image is mapped at
	// KernelTextMap + (phys - phys_base).
	KernelTextMap uint64 = 0xffffffff80000000
	// KernelTextMapSize is the most the text map can span: KERNEL_IMAGE_SIZE
	// with CONFIG_RANDOMIZE_BASE (1 GiB). Without KASLR it is 512 MiB and
	// modules follow it, so the text shortcut uses the dump's own
	// NUMBER(KERNEL_IMAGE_SIZE) instead.
	KernelTextMapSize uint64 = 1 << 30
	// DefaultKernelImageSize is KERNEL_IMAGE_SIZE without KASLR (512 MiB),
	// the smaller of the two possible values, used when the dump does not
	// give NUMBER(KERNEL_IMAGE_SIZE).
	DefaultKernelImageSize uint64 = 512 << 20
	// DirectMapBase4 and DirectMapBase5 are page_offset_base without KASLR
	// for 4- and 5-level paging.
	DirectMapBase4 uint64 = 0xffff888000000000
	DirectMapBase5 uint64 = 0xff11000000000000

	// PageSize is the x86_64 base page size; page tables are one page of
	// 512 eight-byte entries.
	PageSize uint64 = 4096
	// PageSize2M and PageSize1G are the large pages mapped by a PMD or PUD
	// entry with the PSE bit set.
	PageSize2M uint64 = 2 << 20
	PageSize1G uint64 = 1 << 30

	// EntryAddrMask selects the physical address bits 12..51 of a
	// page-table entry; bits 52..63 are software bits, protection keys and NX.
	EntryAddrMask uint64 = 0x000ffffffffff000

	entryPresent uint64 = 1 << 0
	entryPSE     uint64 = 1 << 7 // page size: a 2 MiB / 1 GiB leaf at PMD / PUD
	entriesPer          = 512
)

// Level names a page-table level. Four-level paging has no P4D (the kernel
// folds it into the PGD).
type Level int

const (
	LevelNone Level = iota // not a table level: the address itself was refused
	LevelPGD
	LevelP4D
	LevelPUD
	LevelPMD
	LevelPTE
)

func (l Level) String() string {
	switch l {
	case LevelNone:
		return "address"
	case LevelPGD:
		return "PGD"
	case LevelP4D:
		return "P4D"
	case LevelPUD:
		return "PUD"
	case LevelPMD:
		return "PMD"
	case LevelPTE:
		return "PTE"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Errors matched with errors.Is against a *TranslationError.
var (
	ErrNonCanonical = errors.New("x86: non-canonical virtual address")
	ErrNotPresent   = errors.New("x86: page not present")
	// ErrOutsideMemory: a table pointer names a page the dump does not hold.
	ErrOutsideMemory = errors.New("x86: page table outside the dump's memory")
	// ErrTableLoop: a table pointer names a table already used in this walk,
	// which the kernel never does; the tables are damaged.
	ErrTableLoop = errors.New("x86: page-table loop")
	// ErrReservedPSE: the page-size bit is set in a PGD or P4D entry, where
	// it is reserved.
	ErrReservedPSE = errors.New("x86: page-size bit set in a PGD or P4D entry")
	// ErrTableRead: the table page could not be read; the reader's error is
	// wrapped too.
	ErrTableRead = errors.New("x86: cannot read page table")
)

// TranslationError reports a page-table walk that failed.
type TranslationError struct {
	Vaddr     uint64 // the virtual address being translated
	Level     Level  // the level whose entry failed (LevelNone: the address itself)
	EntryAddr uint64 // physical address of that entry
	Entry     uint64 // the entry's value (0 when it could not be read)
	Err       error  // one of the Err* values above, possibly wrapping a read error
}

func (e *TranslationError) Error() string {
	// The sentinels carry the package prefix for use on their own; the
	// message already starts with it.
	why := strings.TrimPrefix(fmt.Sprint(e.Err), "x86: ")
	if e.Level == LevelNone {
		return fmt.Sprintf("x86: translate 0x%x: %s", e.Vaddr, why)
	}
	return fmt.Sprintf("x86: translate 0x%x: %v entry 0x%x at phys 0x%x: %s",
		e.Vaddr, e.Level, e.Entry, e.EntryAddr, why)
}

func (e *TranslationError) Unwrap() error { return e.Err }

// Config describes an address space for New. NewKernelSpace fills it from a
// dump's VMCOREINFO and PT_LOADs.
type Config struct {
	Mem     PhysReader
	Root    uint64 // physical address of the top-level table (PGD), page aligned
	Levels  int    // 4 or 5
	SMEMask uint64 // AMD SME encryption bit(s) to clear from entries (NUMBER(sme_mask))

	// Loads are the dump's memory. When non-empty, table pointers outside
	// them are refused with ErrOutsideMemory before any read, and direct-map
	// loads give the direct-map shortcut.
	Loads []Load

	// PhysBase is phys_base. The kernel-text shortcut (vaddr - KernelTextMap
	// + PhysBase for vaddr below KernelTextMap + KernelImageSize) is used
	// only when KernelImageSize is non-zero.
	PhysBase        uint64
	KernelImageSize uint64

	// DirectMapBase is page_offset_base. Loads whose Virt - Phys equals it
	// (and whose Virt is non-zero and outside the text map) are translated
	// without a walk.
	DirectMapBase uint64

	// TableCacheSize is how many page-table pages to keep (LRU); 0 means
	// DefaultTableCacheSize, negative means no cache.
	TableCacheSize int
}

// DefaultTableCacheSize page-table pages (256 KiB) hold every table needed
// to walk the whole vmemmap of a machine with terabytes of memory, whose
// struct pages are mapped by 2 MiB pages.
const DefaultTableCacheSize = 64

// AddressSpace translates the kernel's virtual addresses. It is safe for
// concurrent use if its PhysReader is. The exported fields describe it and
// must not be changed.
type AddressSpace struct {
	Root            uint64 // physical address of the PGD
	Levels          int    // 4 or 5
	SMEMask         uint64 // cleared from every entry before use
	PhysBase        uint64 // phys_base
	KernelImageSize uint64 // extent of the text shortcut; 0: no text shortcut
	DirectMapBase   uint64 // page_offset_base

	mem      PhysReader
	addrMask uint64
	memory   []ranges.Range // merged, sorted physical ranges of the loads
	direct   []Load         // direct-map loads, sorted by Virt

	mu      sync.Mutex
	tables  *tableCache
	tlb     [tlbSize]tlbEntry
	tlbNext int
}

// tlbSize recent leaf translations are remembered: sequential reads of
// struct pages hit the same 2 MiB vmemmap page thousands of times.
const tlbSize = 4

type tlbEntry struct {
	vbase, pbase, size uint64 // size 0: empty slot
}

// New checks cfg and returns the address space it describes.
func New(cfg Config) (*AddressSpace, error) {
	if cfg.Mem == nil {
		return nil, errors.New("x86: no physical memory reader")
	}
	if cfg.Levels != 4 && cfg.Levels != 5 {
		return nil, fmt.Errorf("x86: %d paging levels, want 4 or 5", cfg.Levels)
	}
	if cfg.SMEMask&^EntryAddrMask != 0 {
		return nil, fmt.Errorf("x86: sme_mask 0x%x has bits outside the entry address bits 0x%x", cfg.SMEMask, EntryAddrMask)
	}
	addrMask := EntryAddrMask &^ cfg.SMEMask
	if cfg.Root&^addrMask != 0 {
		return nil, fmt.Errorf("x86: page-table root 0x%x is not a page-aligned physical address", cfg.Root)
	}
	if cfg.KernelImageSize > KernelTextMapSize {
		return nil, fmt.Errorf("x86: kernel image size 0x%x exceeds the text map (0x%x)", cfg.KernelImageSize, KernelTextMapSize)
	}
	as := &AddressSpace{
		Root:            cfg.Root,
		Levels:          cfg.Levels,
		SMEMask:         cfg.SMEMask,
		PhysBase:        cfg.PhysBase,
		KernelImageSize: cfg.KernelImageSize,
		DirectMapBase:   cfg.DirectMapBase,
		mem:             cfg.Mem,
		addrMask:        addrMask,
	}
	for i, l := range cfg.Loads {
		if l.Size == 0 {
			continue
		}
		if l.Phys+l.Size < l.Phys {
			return nil, fmt.Errorf("x86: load %d: physical range 0x%x+0x%x overflows", i, l.Phys, l.Size)
		}
		as.memory = append(as.memory, ranges.Range{Start: l.Phys, End: l.Phys + l.Size})
		if isDirectMapLoad(l) && l.Virt-l.Phys == cfg.DirectMapBase && l.Virt+l.Size > l.Virt {
			as.direct = append(as.direct, l)
		}
	}
	as.memory = ranges.Merge(as.memory)
	sort.Slice(as.direct, func(i, j int) bool { return as.direct[i].Virt < as.direct[j].Virt })
	size := cfg.TableCacheSize
	if size == 0 {
		size = DefaultTableCacheSize
	}
	if size > 0 {
		as.tables = newTableCache(size)
	}
	return as, nil
}

// isDirectMapLoad: the kernel says where the load is mapped, and it is not
// the kernel image.
func isDirectMapLoad(l Load) bool {
	return l.Virt != 0 && !inTextMap(l.Virt)
}

func inTextMap(v uint64) bool { return v >= KernelTextMap && v-KernelTextMap < KernelTextMapSize }

// inMemory reports whether [addr, addr+size) lies in the loads (always true
// when no loads were given).
func (as *AddressSpace) inMemory(addr, size uint64) bool {
	if len(as.memory) == 0 {
		return true
	}
	i := sort.Search(len(as.memory), func(i int) bool { return as.memory[i].End > addr })
	return i < len(as.memory) && as.memory[i].Start <= addr && addr+size <= as.memory[i].End && addr+size > addr
}

// canonical reports whether the bits above the top translated bit (47 for
// 4-level, 56 for 5-level paging) are copies of it.
func (as *AddressSpace) canonical(vaddr uint64) bool {
	top := uint(47)
	if as.Levels == 5 {
		top = 56
	}
	hi := int64(vaddr) >> top // arithmetic shift: all 0s or all 1s when canonical
	return hi == 0 || hi == -1
}

// shift is the lowest virtual-address bit indexed by a table at level l.
func (as *AddressSpace) shift(l Level) uint {
	switch l {
	case LevelPGD:
		if as.Levels == 5 {
			return 48
		}
		return 39
	case LevelP4D:
		return 39
	case LevelPUD:
		return 30
	case LevelPMD:
		return 21
	}
	return 12
}

var (
	walk4 = []Level{LevelPGD, LevelPUD, LevelPMD, LevelPTE}
	walk5 = []Level{LevelPGD, LevelP4D, LevelPUD, LevelPMD, LevelPTE}
)

// Translate returns the physical address of vaddr and the size of the page
// that maps it contiguously around vaddr (4 KiB, 2 MiB or 1 GiB; 4 KiB for an
// address translated by the text or direct-map shortcut, for which the
// real page size is not looked up).
func (as *AddressSpace) Translate(vaddr uint64) (phys, pageSize uint64, err error) {
	if p, ok := as.shortcut(vaddr); ok {
		return p, PageSize, nil
	}
	base, size, err := as.leaf(vaddr)
	if err != nil {
		return 0, 0, err
	}
	return base + vaddr&(size-1), size, nil
}

// Walk translates vaddr by walking the page tables, never by a shortcut.
// It returns what Translate does, except that pageSize is always the size
// of the page-table mapping.
func (as *AddressSpace) Walk(vaddr uint64) (phys, pageSize uint64, err error) {
	base, size, err := as.walk(vaddr)
	if err != nil {
		return 0, 0, err
	}
	return base + vaddr&(size-1), size, nil
}

// shortcut translates text-map and direct-map addresses arithmetically.
func (as *AddressSpace) shortcut(vaddr uint64) (uint64, bool) {
	if l, ok := as.directLoad(vaddr); ok {
		return l.Phys + (vaddr - l.Virt), true
	}
	if as.KernelImageSize != 0 && vaddr >= KernelTextMap && vaddr-KernelTextMap < as.KernelImageSize {
		return vaddr - KernelTextMap + as.PhysBase, true
	}
	return 0, false
}

func (as *AddressSpace) directLoad(vaddr uint64) (Load, bool) {
	i := sort.Search(len(as.direct), func(i int) bool { return as.direct[i].Virt+as.direct[i].Size > vaddr })
	if i < len(as.direct) && as.direct[i].Virt <= vaddr {
		return as.direct[i], true
	}
	return Load{}, false
}

// leaf returns the physical base and size of the page mapping vaddr,
// from the TLB or by a walk.
func (as *AddressSpace) leaf(vaddr uint64) (base, size uint64, err error) {
	as.mu.Lock()
	for _, t := range as.tlb {
		if t.size != 0 && vaddr&^(t.size-1) == t.vbase {
			as.mu.Unlock()
			return t.pbase, t.size, nil
		}
	}
	as.mu.Unlock()
	base, size, err = as.walk(vaddr)
	if err != nil {
		return 0, 0, err
	}
	as.mu.Lock()
	as.tlb[as.tlbNext] = tlbEntry{vbase: vaddr &^ (size - 1), pbase: base, size: size}
	as.tlbNext = (as.tlbNext + 1) % tlbSize
	as.mu.Unlock()
	return base, size, nil
}

// walk does the page-table walk: at most Levels steps.
func (as *AddressSpace) walk(vaddr uint64) (base, size uint64, err error) {
	if !as.canonical(vaddr) {
		return 0, 0, &TranslationError{Vaddr: vaddr, Err: ErrNonCanonical}
	}
	levels := walk4
	if as.Levels == 5 {
		levels = walk5
	}
	var visited [5]uint64
	table := as.Root
	for i, lvl := range levels {
		visited[i] = table
		entryAddr := table + (vaddr>>as.shift(lvl))%entriesPer*8
		fail := func(entry uint64, e error) (uint64, uint64, error) {
			return 0, 0, &TranslationError{Vaddr: vaddr, Level: lvl, EntryAddr: entryAddr, Entry: entry, Err: e}
		}
		entry, err := as.readEntry(table, entryAddr)
		if err != nil {
			return fail(0, err)
		}
		if entry&entryPresent == 0 {
			return fail(entry, ErrNotPresent)
		}
		addr := entry & as.addrMask
		switch {
		case lvl == LevelPTE:
			return addr, PageSize, nil
		case entry&entryPSE != 0 && lvl == LevelPMD:
			return addr &^ (PageSize2M - 1), PageSize2M, nil
		case entry&entryPSE != 0 && lvl == LevelPUD:
			return addr &^ (PageSize1G - 1), PageSize1G, nil
		case entry&entryPSE != 0:
			return fail(entry, ErrReservedPSE)
		}
		if !as.inMemory(addr, PageSize) {
			return fail(entry, ErrOutsideMemory)
		}
		for _, v := range visited[:i+1] {
			if v == addr {
				return fail(entry, ErrTableLoop)
			}
		}
		table = addr
	}
	// Not reached: the PTE level always returns.
	return 0, 0, &TranslationError{Vaddr: vaddr, Level: LevelPTE, Err: errors.New("x86: walk ended without a leaf")}
}

// readEntry reads the eight-byte entry at entryAddr in the table page at
// table, through the cache when there is one. A table page that cannot be
// read whole (a dump that holds only part of it) is read entry by entry.
func (as *AddressSpace) readEntry(table, entryAddr uint64) (uint64, error) {
	off := entryAddr - table
	if as.tables != nil {
		as.mu.Lock()
		page := as.tables.get(table)
		as.mu.Unlock()
		if page != nil {
			return binary.LittleEndian.Uint64(page[off:]), nil
		}
		page = new([PageSize]byte)
		// A full read counts even with an error such as io.EOF at the
		// end of the dump, as io.ReaderAt allows.
		if n, _ := as.mem.ReadPhys(page[:], table); n == len(page) {
			as.mu.Lock()
			as.tables.put(table, page)
			as.mu.Unlock()
			return binary.LittleEndian.Uint64(page[off:]), nil
		}
	}
	var b [8]byte
	n, err := as.mem.ReadPhys(b[:], entryAddr)
	if n == len(b) {
		err = nil
	} else if err == nil {
		err = fmt.Errorf("short read of %d bytes", n)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrTableRead, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// ReadVirt reads len(p) bytes of kernel virtual memory at vaddr, crossing
// page boundaries. When it stops early it returns the number of bytes read
// before the address that failed and an error naming it.
func (as *AddressSpace) ReadVirt(p []byte, vaddr uint64) (int, error) {
	done := 0
	for done < len(p) {
		v := vaddr + uint64(done)
		if v < vaddr {
			return done, &TranslationError{Vaddr: v, Err: ErrNonCanonical}
		}
		phys, span, err := as.translateSpan(v)
		if err != nil {
			return done, err
		}
		chunk := p[done:]
		if uint64(len(chunk)) > span {
			chunk = chunk[:span]
		}
		n, err := as.mem.ReadPhys(chunk, phys)
		done += n
		if n == len(chunk) {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("short read of %d bytes", n)
		}
		if err != nil {
			return done, fmt.Errorf("x86: read vaddr 0x%x (phys 0x%x): %w", v+uint64(n), phys+uint64(n), err)
		}
	}
	return done, nil
}

// translateSpan returns the physical address of vaddr and how many bytes
// from there are contiguous in physical memory (at least 1).
func (as *AddressSpace) translateSpan(vaddr uint64) (phys, span uint64, err error) {
	if l, ok := as.directLoad(vaddr); ok {
		return l.Phys + (vaddr - l.Virt), l.Virt + l.Size - vaddr, nil
	}
	if p, ok := as.shortcut(vaddr); ok {
		return p, KernelTextMap + as.KernelImageSize - vaddr, nil
	}
	base, size, err := as.leaf(vaddr)
	if err != nil {
		return 0, 0, err
	}
	off := vaddr & (size - 1)
	return base + off, size - off, nil
}
