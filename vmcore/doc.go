// Package vmcore reads what a crashed Linux kernel leaves behind, in every form
// dump tools save it: the ELF64 core (/proc/vmcore in the capture kernel, a copy
// of it, makedumpfile's -E output), makedumpfile's kdump-compressed format
// (bitmaps, page descriptors, pages compressed one by one with zlib, LZO, snappy
// or zstd) and its flattened form for pipes. [Open] tells them apart by their
// first bytes and gives the same [File] for all: notes, VMCOREINFO, physical
// memory; pages a filtered dump left out read as a [*PageError] wrapping
// [ErrExcluded].
//
// It is the first stage of gokdump's pipeline (read -> translate -> classify ->
// compress -> write): it gives the program headers as [Segment] values, the
// ELF notes as [Note] values (per-CPU NT_PRSTATUS register sets and the
// VMCOREINFO text the kernel prepared for dump tools), and reads physical
// memory by address. Turning kernel virtual addresses into physical ones is
// the next stage's job (package kernel, with the arch packages), which reads
// through [File.ReadPhys]; this package knows no architecture's page tables.
//
// The formats themselves are written down in packages format/elfcore,
// format/kdump and format/flat, which the writer (package dumpfile) shares;
// vmcore is their reader: it tells them apart, checks what they point at
// against the file, and reads pages through one reader per format behind a
// small interface. It is not a writer.
//
// Only x86_64 little-endian dumps are accepted. Everything read
// from the file is checked before it is used: a damaged file gives a
// [*FormatError] naming the file and the byte offset of the problem, never a
// panic or an allocation sized by an untrusted field. An address that no
// PT_LOAD describes gives a [*HoleError], never zeros.
//
// Usage:
//
//	f, err := vmcore.Open("/proc/vmcore")
//	if err != nil { ... }
//	defer f.Close()
//	info, err := f.VMCOREINFO()
//	release, _ := info.OSRelease()
//	buf := make([]byte, 4096)
//	_, err = f.ReadPhys(buf, 0x1000000)
package vmcore
