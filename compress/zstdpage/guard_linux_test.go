package zstdpage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
)

// TestNoReadPastEnd compresses inputs that end right before an inaccessible page, so
// that a read past the input's end (the match search reads words without bounds
// checks) faults instead of passing unnoticed.
func TestNoReadPastEnd(t *testing.T) {
	dec := newDecoder(t)
	var enc Encoder
	err := testpage.ReadPastEnd(func(src []byte) ([]byte, error) { return enc.Compress(nil, src), nil },
		func(src, c []byte) error {
			d, err := dec.DecodeAll(c, make([]byte, 0, len(src)))
			if err == nil && !bytes.Equal(d, src) {
				err = errors.New("decodes to other bytes")
			}
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
}
