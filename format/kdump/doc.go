// Package kdump is makedumpfile's kdump-compressed file format written down
// once, for the reader (package vmcore) and the writer (package dumpfile) to
// share, as archive/tar keeps its format beside its reader and writer.
//
// A kdump-compressed file is a main [Header] (block 0), a [SubHeader] and the
// crashed kernel's notes (from block 1), two bitmaps of page frames (which
// exist, which are dumped), one [PageDesc] per dumped page and the pages,
// each compressed on its own. This package holds the structures, their sizes
// and flag bits, and the checks and encodings of the headers and
// descriptors; [DecodeHeader] and [DecodeSubHeader] refuse a damaged header
// with a [*FormatError] carrying the byte offset of the bad field.
//
// It is not a reader or a writer: it does not read bitmaps, find pages or
// decompress them (package vmcore does), nor lay out a file in bounded
// memory (package dumpfile does). It imports nothing of gokdump's, so the
// compression bits are plain numbers here (they equal compress.Codec
// values).
//
//	h, err := kdump.DecodeHeader(block0) // at least HeaderSize bytes
//	if err != nil { ... }
//	l := h.Layout() // where the bitmaps and descriptors are
package kdump
