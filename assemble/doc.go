// Package assemble builds an ELF vmcore from raw physical memory: the job of
// kexec-tools' old stand-alone "kdump" program, for places where no capture kernel
// offers /proc/vmcore — a hypervisor holding a crashed guest's RAM, an image of a
// halted machine's memory, or a capture environment reading /dev/mem.
//
// Before a crash the kernel (kexec_file_load) or kexec-tools (kexec_load) writes an
// ELF core header into the crashkernel reservation and passes its physical address to
// the capture kernel as elfcorehdr=. That header describes everything a vmcore needs:
// one PT_NOTE per CPU (the registers the crashing kernel saved) plus one for
// VMCOREINFO, and one PT_LOAD per range of the crashed kernel's memory. Package
// assemble reads the header from [Memory] with package format/elfcore (the parser
// vmcore reads core files with), gathers the notes the way the kernel's own
// /proc/vmcore does (each PT_NOTE's p_memsz is only an upper bound: its notes end at
// an empty note), and presents the result as a [Core]: an ELF file laid out by
// package dumpfile that can be streamed ([Core.WriteTo]) or read at any offset
// ([Core.ReadAt]), so that package collector can filter and compress it without an
// intermediate file.
//
// In both kinds of header p_offset is the physical address where a segment's bytes
// are: equal to p_paddr for kexec_file_load, and elsewhere for kexec_load's copy of
// the first 640 KiB (the backup region inside the reservation). Package assemble
// reads every segment at p_offset, as the kernel does.
//
// Memory is read in bounded windows, never mapped or read whole, and everything read
// from the header is checked before it is used: a bad header gives a [*FormatError]
// naming the physical address of the bad field, memory the source does not hold a
// [*MissingError] naming the range.
//
//	mem, err := assemble.OpenMemory("/dev/mem", nil)
//	addr, _, err := assemble.ParseAddress("0x27000000") // elfcorehdr= of the capture kernel
//	core, err := assemble.New(mem, addr)
//	_, err = core.WriteTo(os.Stdout)
package assemble
