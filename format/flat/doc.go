// Package flat is makedumpfile's flattened format, the form of a dump file
// that a pipe or an ssh channel can carry (makedumpfile -F): a start block,
// then records, each the bytes of one write and the offset they belong at in
// the file, then an end record.
//
// [Reader] walks the records of a stream; package vmcore indexes a
// flattened file with it to read the file it describes in place, and
// dumpfile.Rearrange (gokdump dump -R, as makedumpfile -R) writes that file
// out. [Writer] turns writes at offsets into records; the kdump-compressed
// writer in package dumpfile and the collector's flattened ELF stream use
// it. A bad stream gives a [*FormatError] naming the stream offset; one that
// ends before its end record wraps [ErrTruncated], which a reader of a file
// may take as an incomplete dump and a rearranger refuses.
//
// It knows nothing of what the records hold (a kdump-compressed file or an
// ELF core) and imports nothing of gokdump's.
//
//	fr, err := flat.NewReader(stream)
//	for {
//		h, err := fr.Next() // io.EOF after the end record
//		...
//		io.CopyN(dst, fr, h.Size) // the record's bytes, for offset h.Offset
//	}
package flat
