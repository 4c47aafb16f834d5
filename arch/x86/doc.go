// Package x86 translates x86_64 kernel virtual addresses into physical
// addresses of a crashed kernel's memory, the "translate" stage of gokdump's
// pipeline (read -> translate -> classify -> compress -> write).
//
// A dump holds physical memory, but the kernel's own data structures (the
// uts namespace, the printk ring, mem_section and the vmemmap array of struct
// pages) are found by virtual address. An [AddressSpace] walks the kernel's
// page tables (4- or 5-level, with 2 MiB and 1 GiB pages and the AMD SME
// encryption bit cleared from entries) by reading table pages through a
// [PhysReader], and takes shortcuts for the two linear maps whose offset is
// known without a walk: the kernel text map (phys_base) and the direct map
// (page_offset_base).
//
// The package does not parse ELF or VMCOREINFO itself; it sees the dump only
// through the small [PhysReader] and [Symbols] interfaces and the [Load]
// ranges, so that it stays independent of the vmcore reader. Package kernel
// builds it for a dump when the dump's machine is x86_64.
//
// Page tables in a damaged dump can point anywhere, including back at
// themselves. Every walk takes at most one step per paging level, refuses
// table pointers outside the dump's memory and table loops, and reports
// failures as a [*TranslationError] that names the virtual address, the
// level and the physical address of the entry that failed.
//
// Usage:
//
//	as, err := x86.NewKernelSpace(core, info, loads)
//	if err != nil { ... }
//	buf := make([]byte, 65)
//	_, err = as.ReadVirt(buf, unameReleaseAddr)
package x86
