// Package elfcore is the ELF64 core file as crash dumps use it, written down
// once: the checks of the ELF header and the walk of the program header
// table ([ReadHeader], [Header.Progs]), the notes ([ParseNotes] for a core
// file, [KernelNotes] for the ELF core header the kernel prepares before a
// crash), the x86_64 NT_PRSTATUS layout ([PRStatus]), and the names, sizes
// and flag bits readers and writers share.
//
// Package vmcore reads core files with it, package assemble reads the
// kernel's elfcorehdr= from memory with it, and package dumpfile writes cores
// with its constants and PRStatus encoding. Each caller keeps its own source
// of bytes (an io.ReaderAt of a file, or of physical memory, whose size may be
// unknown) and its own meaning of the program headers: in a core file
// p_offset is a file offset, in the kernel's header a physical address.
//
// Only x86_64 little-endian cores are accepted. Bad data gives a
// [*FormatError] with the byte offset of the bad field from the start of the
// ELF header; a failed read of the source gives a [*ReadError]. Tables of
// declared length are read in bounded chunks, up to a count the caller sets.
// It imports nothing of gokdump's.
//
//	h, err := elfcore.ReadHeader(r, size, 1<<22)
//	if err != nil { ... }
//	err = h.Progs(r, size, func(p elfcore.Prog) error { ...; return nil })
package elfcore
