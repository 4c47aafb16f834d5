package x86test

import (
	"fmt"

	"github.com/gokdump/gokdump/arch/x86"
)

// VMCOREINFO is a map-backed x86.Symbols: SYMBOL(name) and NUMBER(name).
type VMCOREINFO struct {
	Symbols map[string]uint64
	Numbers map[string]int64
}

func (v *VMCOREINFO) Symbol(name string) (uint64, bool) { x, ok := v.Symbols[name]; return x, ok }
func (v *VMCOREINFO) Number(name string) (int64, bool)  { x, ok := v.Numbers[name]; return x, ok }

// KernelConfig describes a synthetic booted x86_64 kernel for NewKernel.
// Sizes and addresses are multiples of 2 MiB.
type KernelConfig struct {
	Levels        int    // 4 or 5
	RAMSize       uint64 // physical memory is [0, RAMSize)
	ImagePhys     uint64 // where the kernel image (_text) was loaded
	ImageSize     uint64 // at least 2 MiB; its last MiB holds the page tables
	KASLROffset   uint64 // _text is at 0xffffffff81000000 + KASLROffset
	DirectMapBase uint64 // page_offset_base; 0: the non-KASLR default
	SMEMask       uint64 // set in every entry when non-zero
}

// Kernel is the memory layout of a synthetic crashed kernel: page tables
// that map the kernel image in the text map and all RAM in the direct map,
// as a booted kernel has them, and the VMCOREINFO values and PT_LOADs a dump
// of it carries. More mappings (vmemmap, vmalloc) can be added through
// Tables before Place is called.
type Kernel struct {
	KernelConfig
	TextVirt uint64 // virtual address of _text
	PhysBase uint64 // phys_base: ImagePhys - (TextVirt - x86.KernelTextMap)
	RootVirt uint64 // SYMBOL(init_top_pgt)
	Tables   *PageTableBuilder
}

// TablesSize is the part of the image, at its end, that holds page tables.
const TablesSize = 1 << 20

// NewKernel builds the page tables of the kernel cfg describes.
func NewKernel(cfg KernelConfig) (*Kernel, error) {
	const align = x86.PageSize2M
	if cfg.RAMSize%align != 0 || cfg.ImagePhys%align != 0 || cfg.ImageSize%align != 0 || cfg.KASLROffset%align != 0 {
		return nil, fmt.Errorf("x86test: kernel layout %+v not 2 MiB aligned", cfg)
	}
	if cfg.ImageSize == 0 || cfg.ImagePhys+cfg.ImageSize > cfg.RAMSize {
		return nil, fmt.Errorf("x86test: image 0x%x+0x%x not inside RAM of 0x%x bytes", cfg.ImagePhys, cfg.ImageSize, cfg.RAMSize)
	}
	if 0x1000000+cfg.KASLROffset+cfg.ImageSize > x86.KernelTextMapSize {
		return nil, fmt.Errorf("x86test: KASLR offset 0x%x puts the image beyond the text map", cfg.KASLROffset)
	}
	if cfg.DirectMapBase == 0 {
		cfg.DirectMapBase = x86.DirectMapBase4
		if cfg.Levels == 5 {
			cfg.DirectMapBase = x86.DirectMapBase5
		}
	}
	tablesBase := cfg.ImagePhys + cfg.ImageSize - TablesSize
	b, err := NewPageTableBuilder(cfg.Levels, tablesBase, tablesBase+TablesSize)
	if err != nil {
		return nil, err
	}
	b.SetSMEMask(cfg.SMEMask)
	k := &Kernel{KernelConfig: cfg, Tables: b, TextVirt: x86.KernelTextMap + 0x1000000 + cfg.KASLROffset}
	k.PhysBase = cfg.ImagePhys - (k.TextVirt - x86.KernelTextMap)
	k.RootVirt = k.TextVirt + (b.Root() - cfg.ImagePhys)
	if err := b.Map(k.TextVirt, cfg.ImagePhys, cfg.ImageSize, align); err != nil {
		return nil, err
	}
	if err := b.Map(cfg.DirectMapBase, 0, cfg.RAMSize, align); err != nil {
		return nil, err
	}
	return k, nil
}

// VMCOREINFO returns the entries the kernel's arch_crash_save_vmcoreinfo
// writes (kernel 4.17+ on x86_64), as a fresh map the caller may edit.
func (k *Kernel) VMCOREINFO() *VMCOREINFO {
	l5 := int64(0)
	if k.Levels == 5 {
		l5 = 1
	}
	return &VMCOREINFO{
		Symbols: map[string]uint64{"init_top_pgt": k.RootVirt},
		Numbers: map[string]int64{
			"phys_base":          int64(k.PhysBase),
			"pgtable_l5_enabled": l5,
			"KERNEL_IMAGE_SIZE":  int64(x86.KernelTextMapSize),
			"sme_mask":           int64(k.SMEMask),
		},
	}
}

// Loads returns the PT_LOADs the kernel's crash code writes for this
// machine: the kernel image in the text map, then RAM in the direct map.
func (k *Kernel) Loads() []x86.Load {
	return []x86.Load{
		{Virt: k.TextVirt, Phys: k.ImagePhys, Size: k.ImageSize},
		{Virt: k.DirectMapBase, Phys: 0, Size: k.RAMSize},
	}
}

// Place copies the page tables into ram, the contents of physical memory
// from address 0.
func (k *Kernel) Place(ram []byte) error {
	if uint64(len(ram)) < k.Tables.End() {
		return fmt.Errorf("x86test: %d bytes of RAM cannot hold tables up to 0x%x", len(ram), k.Tables.End())
	}
	copy(ram[k.Tables.Base():], k.Tables.Bytes())
	return nil
}
