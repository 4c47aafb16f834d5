package zstdpage

import (
	"bytes"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
)

// TestNoReadPastEnd compresses inputs that end right before an inaccessible page, so
// that a read past the input's end (the match search reads words without bounds
// checks) faults instead of passing unnoticed.
func TestNoReadPastEnd(t *testing.T) {
	inputs, err := testpage.GuardInputs()
	if err != nil {
		t.Fatal(err)
	}
	dec := newDecoder(t)
	var enc Encoder
	for k, in := range inputs {
		for _, n := range testpage.GuardLengths {
			src, release, err := testpage.BeforeGuard(n)
			if err != nil {
				t.Fatal(err)
			}
			copy(src, in[len(in)-len(src):])
			c := enc.Compress(nil, src)
			if d, err := dec.DecodeAll(c, make([]byte, 0, len(src))); err != nil || !bytes.Equal(d, src) {
				t.Fatalf("input %d, %d bytes: %v", k, len(src), err)
			}
			release()
		}
	}
}
