package x86

import (
	"errors"
	"fmt"
)

// Symbols is the part of a dump's VMCOREINFO the translation needs:
// SYMBOL(name) values (hex in the note) and NUMBER(name) values (decimal,
// possibly negative).
type Symbols interface {
	Symbol(name string) (uint64, bool)
	Number(name string) (int64, bool)
}

// NewKernelSpace describes the crashed kernel's address space from its
// VMCOREINFO and the dump's PT_LOADs, and checks the result by translating
// the page-table root's own virtual address through the tables.
//
//   - Levels: 5 when NUMBER(pgtable_l5_enabled)=1 (kernel 4.17+ prints it), else 4.
//   - PhysBase: NUMBER(phys_base) (kernel 4.10+), else derived from the
//     PT_LOAD of the kernel image, whose addresses obey the kernel's
//     __phys_addr_symbol: phys = virt - KernelTextMap + phys_base.
//   - Root: SYMBOL(init_top_pgt) (kernel 4.13+; before that init_level4_pgt),
//     a text-map address, so phys = sym - KernelTextMap + phys_base.
//   - SMEMask: NUMBER(sme_mask) (kernel 4.15+), else 0.
//   - KernelImageSize: NUMBER(KERNEL_IMAGE_SIZE) (kernel 4.16+), else
//     DefaultKernelImageSize.
//   - DirectMapBase: Virt - Phys of the direct-map PT_LOADs (page_offset_base
//     is randomised by KASLR and not in VMCOREINFO), else DirectMapBase4 or
//     DirectMapBase5.
func NewKernelSpace(mem PhysReader, syms Symbols, loads []Load) (*AddressSpace, error) {
	cfg := Config{Mem: mem, Loads: loads, Levels: 4}

	if v, ok := syms.Number("pgtable_l5_enabled"); ok {
		switch v {
		case 0:
		case 1:
			cfg.Levels = 5
		default:
			return nil, fmt.Errorf("x86: NUMBER(pgtable_l5_enabled)=%d, want 0 or 1", v)
		}
	}

	if v, ok := syms.Number("phys_base"); ok {
		// Printed with %ld from an unsigned long: reinterpret the bits.
		cfg.PhysBase = uint64(v)
	} else {
		pb, err := physBaseFromLoads(loads)
		if err != nil {
			return nil, err
		}
		cfg.PhysBase = pb
	}

	cfg.KernelImageSize = DefaultKernelImageSize
	if v, ok := syms.Number("KERNEL_IMAGE_SIZE"); ok {
		if v <= 0 || uint64(v) > KernelTextMapSize {
			return nil, fmt.Errorf("x86: NUMBER(KERNEL_IMAGE_SIZE)=%d, want 1..%d", v, KernelTextMapSize)
		}
		cfg.KernelImageSize = uint64(v)
	}

	if v, ok := syms.Number("sme_mask"); ok {
		cfg.SMEMask = uint64(v)
	}

	rootName := "init_top_pgt"
	rootVirt, ok := syms.Symbol(rootName)
	if !ok {
		rootName = "init_level4_pgt"
		if rootVirt, ok = syms.Symbol(rootName); !ok {
			return nil, errors.New("x86: VMCOREINFO has neither SYMBOL(init_top_pgt) nor SYMBOL(init_level4_pgt)")
		}
	}
	if !inTextMap(rootVirt) {
		return nil, fmt.Errorf("x86: SYMBOL(%s)=0x%x is not in the kernel text map 0x%x..0x%x",
			rootName, rootVirt, KernelTextMap, KernelTextMap+KernelTextMapSize)
	}
	cfg.Root = rootVirt - KernelTextMap + cfg.PhysBase

	cfg.DirectMapBase = DirectMapBase4
	if cfg.Levels == 5 {
		cfg.DirectMapBase = DirectMapBase5
	}
	baseFromLoads := false
	if base, ok := directMapBaseFromLoads(loads, cfg.Levels); ok {
		cfg.DirectMapBase, baseFromLoads = base, true
	}

	as, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// The kernel maps its own image, page tables included, so a walk of the
	// root's virtual address must lead back to the root. This catches a wrong
	// level count or phys_base before anyone reads garbage through them.
	got, _, err := as.Walk(rootVirt)
	if err != nil {
		return nil, fmt.Errorf("x86: page tables at phys 0x%x (%d-level) do not map %s: %w", cfg.Root, cfg.Levels, rootName, err)
	}
	if got != cfg.Root {
		return nil, fmt.Errorf("x86: page tables at phys 0x%x (%d-level) map %s (0x%x) to phys 0x%x, not to themselves",
			cfg.Root, cfg.Levels, rootName, rootVirt, got)
	}
	if !baseFromLoads {
		if base, ok := directMapBaseFromTables(as); ok && base != cfg.DirectMapBase {
			cfg.DirectMapBase = base
			return New(cfg)
		}
	}
	return as, nil
}

// directMapBaseFromTables finds page_offset_base in the page tables, for dumps whose
// program headers carry no virtual addresses (kdump-compressed files keep only pfn
// bitmaps). KASLR (arch/x86/mm/kaslr.c) places the direct map first among the
// randomised regions of the kernel half, PUD-aligned, and the direct map starts with
// physical address 0 (the first MiB is always mapped): so the base is the lowest
// 1 GiB-aligned kernel-half address that translates to physical 0. Unpopulated
// top-level entries are skipped whole, so the search costs a few thousand walks at most.
func directMapBaseFromTables(as *AddressSpace) (uint64, bool) {
	lo, pgdSpan := uint64(0xffff800000000000), uint64(1)<<39
	if as.Levels == 5 {
		lo, pgdSpan = 0xff00000000000000, uint64(1)<<48
	}
	const p4dSpan = uint64(1) << 39
	for v := lo; v >= lo && v < KernelTextMap; {
		phys, _, err := as.Walk(v)
		if err == nil && phys == 0 {
			return v, true
		}
		step := uint64(PageSize1G)
		var te *TranslationError
		if errors.As(err, &te) {
			switch te.Level {
			case LevelPGD:
				step = pgdSpan - v%pgdSpan
			case LevelP4D:
				step = p4dSpan - v%p4dSpan
			}
		}
		v += step
	}
	return 0, false
}

// physBaseFromLoads finds phys_base from the PT_LOAD of the kernel image
// (the one whose Virt is in the text map).
func physBaseFromLoads(loads []Load) (uint64, error) {
	for _, l := range loads {
		if l.Size != 0 && inTextMap(l.Virt) {
			return l.Phys - (l.Virt - KernelTextMap), nil
		}
	}
	return 0, errors.New("x86: VMCOREINFO has no NUMBER(phys_base) and no PT_LOAD is in the kernel text map")
}

// directMapBaseFromLoads returns the Virt - Phys offset shared by most
// direct-map loads, if it is a kernel-half address for the paging mode.
// A vote rather than the first load, so that one odd header entry does not
// move the whole direct map.
func directMapBaseFromLoads(loads []Load, levels int) (uint64, bool) {
	lowest := uint64(0xffff800000000000) // start of the 4-level kernel half
	if levels == 5 {
		lowest = 0xff00000000000000
	}
	votes := map[uint64]int{}
	best, bestVotes := uint64(0), 0
	for _, l := range loads {
		if l.Size == 0 || !isDirectMapLoad(l) || l.Virt < l.Phys {
			continue
		}
		base := l.Virt - l.Phys
		if base < lowest || inTextMap(base) {
			continue
		}
		votes[base]++
		if n := votes[base]; n > bestVotes || (n == bestVotes && base < best) {
			best, bestVotes = base, n
		}
	}
	return best, bestVotes > 0
}
