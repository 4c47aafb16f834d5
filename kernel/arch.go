package kernel

import (
	"fmt"

	"github.com/gokdump/gokdump/vmcore"
)

// Arch is what the kernel package needs to know about one processor architecture to
// read a crashed kernel of it. x86_64 (package arch/x86) is the one there is; another
// sits beside it as a second value in arches.
type Arch interface {
	// Name is the machine's name as uname(2) gives it: "x86_64".
	Name() string
	// NewSpace builds the crashed kernel's virtual address space from the dump's
	// physical memory, PT_LOADs and VMCOREINFO, and says how it is laid out.
	NewSpace(f *vmcore.File, info *vmcore.VMCOREINFO) (AddressSpace, Layout, error)
	// InTextMap reports whether a PT_LOAD at virtual address virt maps the kernel
	// image at its link address (x86_64: the kernel-text map) rather than the direct
	// map of all memory.
	InTextMap(virt uint64) bool
}

// AddressSpace is the crashed kernel's virtual memory. *x86.AddressSpace is one.
type AddressSpace interface {
	// ReadVirt reads len(p) bytes at vaddr; when it stops early it returns the number
	// of bytes read and an error.
	ReadVirt(p []byte, vaddr uint64) (int, error)
	// Translate returns the physical address of vaddr and the size of the page that
	// maps it.
	Translate(vaddr uint64) (phys, pageSize uint64, err error)
}

// Layout is how the crashed kernel laid out its address space, as the architecture
// found it while building the AddressSpace. A field the architecture does not have is 0.
type Layout struct {
	PagingLevels int // page-table levels (x86_64: 4 or 5)
	// PhysBase is x86_64's phys_base: the physical address the kernel image was loaded
	// at minus the one it was linked for.
	PhysBase uint64
	// DirectMapBase is the virtual address of physical address 0 in the direct map of
	// all memory (x86_64: page_offset_base, moved by KASLR).
	DirectMapBase uint64
}

// arches are the architectures a dump can be read for.
var arches = []Arch{x86Arch{}}

// ArchOf returns the architecture of the machine f was taken on. vmcore opens ELF cores
// of EM_X86_64 only, so an ELF dump is x86_64; a kdump-compressed file names its
// machine in the utsname of its main header.
func ArchOf(f *vmcore.File) (Arch, error) {
	machine := "x86_64"
	if f.Kdump != nil && f.Kdump.UTSName.Machine != "" {
		machine = f.Kdump.UTSName.Machine
	}
	for _, a := range arches {
		if a.Name() == machine {
			return a, nil
		}
	}
	return nil, fmt.Errorf("kernel: %s: machine %q: cannot read its kernel's memory (only x86_64)", f.Name, machine)
}

// TextAliases reports, for each of f's PT_LOADs, whether it is the kernel-text alias of
// memory other PT_LOADs describe too. The kernel writes a PT_LOAD for its own image at
// its link address beside the direct-map PT_LOADs that hold the same physical memory,
// so whoever counts memory counts it once by leaving the alias out. The text PT_LOAD
// counts only when it is all the dump has (no other PT_LOAD with a size). A dump of a
// machine ArchOf does not know has no aliases.
func TextAliases(f *vmcore.File) []bool {
	alias := make([]bool, len(f.Loads))
	arch, err := ArchOf(f)
	if err != nil {
		return alias
	}
	sized := 0
	for _, l := range f.Loads {
		if l.MemSize != 0 {
			sized++
		}
	}
	for i, l := range f.Loads {
		alias[i] = sized > 1 && arch.InTextMap(l.Virt)
	}
	return alias
}
