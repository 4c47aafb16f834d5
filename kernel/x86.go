package kernel

import (
	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/vmcore"
)

// x86Arch is x86_64, translated by package arch/x86.
type x86Arch struct{}

func (x86Arch) Name() string { return "x86_64" }

// InTextMap: a PT_LOAD at __START_KERNEL_map or above is the kernel image's; the
// direct map lies below it.
func (x86Arch) InTextMap(virt uint64) bool { return virt >= x86.KernelTextMap }

func (x86Arch) NewSpace(f *vmcore.File, info *vmcore.VMCOREINFO) (AddressSpace, Layout, error) {
	as, err := x86.NewKernelSpace(f, x86Symbols(f, info), x86Loads(f))
	if err != nil {
		return nil, Layout{}, err
	}
	return as, Layout{PagingLevels: as.Levels, PhysBase: as.PhysBase, DirectMapBase: as.DirectMapBase}, nil
}

func x86Loads(f *vmcore.File) []x86.Load {
	loads := make([]x86.Load, 0, len(f.Loads))
	for _, s := range f.Loads {
		loads = append(loads, x86.Load{Virt: s.Virt, Phys: s.Phys, Size: s.MemSize})
	}
	return loads
}

// kdumpSymbols gives x86.NewKernelSpace the sub header's phys_base when
// VMCOREINFO lacks NUMBER(phys_base) (kernels before 4.10): an ELF dump's
// kernel-text PT_LOAD would give it, but a kdump-compressed file has no
// virtual addresses.
type kdumpSymbols struct {
	*vmcore.VMCOREINFO
	physBase uint64
}

func (s kdumpSymbols) Number(name string) (int64, bool) {
	if v, ok := s.VMCOREINFO.Number(name); ok || name != "phys_base" {
		return v, ok
	}
	return int64(s.physBase), true
}

// x86Symbols returns what NewSpace hands x86.NewKernelSpace as symbols.
func x86Symbols(f *vmcore.File, info *vmcore.VMCOREINFO) x86.Symbols {
	if f.Kdump == nil {
		return info
	}
	return kdumpSymbols{info, f.Kdump.PhysBase()}
}
