// Package raw is gokdump's own layout of a dump on a raw partition (kdump.conf's
// "raw <device>"): a header block at offset 0, then makedumpfile's flattened stream
// (package flat) from StreamOffset on. The capture kernel writes the header with
// state Writing first, then the stream, then the header again with the final state
// (Complete, or Incomplete for a stream cut short), the stream's length and its
// CRC-32C; on the next boot the stream is rebuilt into a dump file and the header
// marked Saved, so that it is not converted twice.
//
// The header is one HeaderSize-byte record, little-endian, checked by its own
// CRC-32C (Castagnoli) in its last four bytes; the rest of its block is zero.
// Decoding checks the magic, the version, the checksum, the state and that the
// stream lies inside the device before anything is used; a bad header is a
// *FormatError naming the byte offset.
//
//	h := raw.Header{State: raw.Writing, Release: "6.1.0-31-amd64", ...}
//	dev.WriteAt(h.Encode(), 0)                  // one HeaderBlock-sized block
//	h2, err := raw.DecodeHeader(block, devSize) // on the next boot
//
// It knows nothing of devices, of the flattened stream's records or of the dump
// inside it: package rawdump writes and converts, package flat reads the stream.
package raw
