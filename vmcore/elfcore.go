package vmcore

import "github.com/gokdump/gokdump/format/elfcore"

// The ELF core's notes and the x86_64 NT_PRSTATUS layout are written down
// in package format/elfcore, shared with the writer (package dumpfile) and
// with assemble; vmcore's File gives them under these names.
type (
	Note       = elfcore.Note       // one ELF note of File.Notes
	PRStatus   = elfcore.PRStatus   // an x86_64 NT_PRSTATUS descriptor, from File.PRStatus
	RegsX86_64 = elfcore.RegsX86_64 // PRStatus.Regs
	Timeval    = elfcore.Timeval    // PRStatus times
)

// Note names and types the kernel puts in a vmcore, and the e_flags bit
// that marks a dump cut short.
const (
	NoteNameCore       = elfcore.NoteNameCore
	NoteNameVMCOREINFO = elfcore.NoteNameVMCOREINFO
	NoteTypePRStatus   = elfcore.NoteTypePRStatus
	NoteTypeVMCOREINFO = elfcore.NoteTypeVMCOREINFO
	PRStatusSize       = elfcore.PRStatusSize
	ElfFlagIncomplete  = elfcore.FlagIncomplete
)
