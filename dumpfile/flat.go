package dumpfile

import (
	"errors"
	"fmt"
	"io"

	"github.com/gokdump/gokdump/format/flat"
)

// Rearrange turns a flattened stream (makedumpfile -F, or
// NewFlattenedKdumpWriter) read from src into the file it describes,
// written to dst, as `makedumpfile -R` does: each record's bytes go to its
// offset, later records overwriting earlier ones. The stream is read by
// flat.Reader, the parser vmcore reads flattened files with. Memory use is a
// fixed buffer whatever the stream. dst should be a new file: bytes no
// record covers are left as they are. A stream without its end record is an
// error (a *flat.FormatError wrapping flat.ErrTruncated).
func Rearrange(dst io.WriterAt, src io.Reader) error {
	fr, err := flat.NewReader(src)
	if err != nil {
		return err
	}
	buf := make([]byte, rearrangeBuf)
	// Each pass reads a record, so the loop ends with the stream.
	for {
		h, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for done := int64(0); done < h.Size; {
			k := min(h.Size-done, int64(len(buf)))
			if _, err := io.ReadFull(fr, buf[:k]); err != nil {
				return err
			}
			if _, err := dst.WriteAt(buf[:k], h.Offset+done); err != nil {
				return fmt.Errorf("dumpfile: rearranging: writing offset 0x%x: %w", h.Offset+done, err)
			}
			done += k
		}
	}
}
