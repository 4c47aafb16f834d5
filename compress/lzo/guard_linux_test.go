package lzo

import (
	"bytes"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
)

// TestNoReadPastEnd compresses inputs that end right before an inaccessible page, so
// that a read past the input's end (compressSmall's search loads words without bounds
// checks) faults instead of passing unnoticed; each must still decode to itself.
func TestNoReadPastEnd(t *testing.T) {
	inputs, err := testpage.GuardInputs()
	if err != nil {
		t.Fatal(err)
	}
	var enc Encoder
	for k, in := range inputs {
		for _, n := range testpage.GuardLengths {
			src, release, err := testpage.BeforeGuard(n)
			if err != nil {
				t.Fatal(err)
			}
			copy(src, in[len(in)-len(src):])
			c, err := enc.Compress(nil, src)
			if err != nil {
				t.Fatalf("input %d, %d bytes: %v", k, len(src), err)
			}
			if d, err := Decompress(nil, c, len(src)); err != nil || !bytes.Equal(d, src) {
				t.Fatalf("input %d, %d bytes: does not decode to itself: %v", k, len(src), err)
			}
			release()
		}
	}
}
