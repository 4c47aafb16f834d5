package lzo

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
)

// TestNoReadPastEnd compresses inputs that end right before an inaccessible page, so
// that a read past the input's end (compressSmall's search loads words without bounds
// checks) faults instead of passing unnoticed; each must still decode to itself.
func TestNoReadPastEnd(t *testing.T) {
	var enc Encoder
	err := testpage.ReadPastEnd(func(src []byte) ([]byte, error) { return enc.Compress(nil, src) },
		func(src, c []byte) error {
			d, err := Decompress(nil, c, len(src))
			if err == nil && !bytes.Equal(d, src) {
				err = errors.New("decodes to other bytes")
			}
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
}
