// Package kernel is the crashed kernel as its dump shows it: the "translate" stage of
// gokdump's pipeline (read -> translate -> classify -> compress -> write). Above the
// file reader (package vmcore, which knows files and physical memory) and the
// architectures (package arch/x86, which knows page tables), it gives what the later
// stages read the kernel through: its virtual address space ([Kernel.ReadVirt],
// [AddressSpace]), the KASLR facts ([Layout], [Kernel.KASLROffset]), the utsname
// ([Kernel.UTSName]) and VMCOREINFO's symbols ([Kernel.Symbol]).
//
// The architecture is chosen from the dump's machine ([ArchOf]) behind the small
// [Arch] interface, so that a second one (arm64) sits beside x86_64 without the
// reader or the stages above knowing. [TextAliases] is the one place that says which
// PT_LOAD is the kernel-text alias of memory other PT_LOADs hold.
//
// It is not the kernel's data structures: the log (package printk), the symbol table
// (package kallsyms) and struct pages (package mm) are read through a [*Kernel] by
// their own packages.
//
// Usage:
//
//	f, err := vmcore.Open("/proc/vmcore")
//	if err != nil { ... }
//	k, err := kernel.Open(f)
//	if err != nil { ... }
//	uts, err := k.UTSName()
//	log, err := printk.Read(k, k.Info)
package kernel
