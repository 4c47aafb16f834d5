package zstdpage

import (
	"bytes"
	"syscall"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
)

// TestNoReadPastEnd compresses inputs that end right before an inaccessible page, so
// that a read past the input's end (the match search reads words without bounds
// checks) faults instead of passing unnoticed.
func TestNoReadPastEnd(t *testing.T) {
	ps := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[2*ps:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	end := 2 * ps
	var inputs [][]byte
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 2, 5)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, pages...)
	}
	inputs = append(inputs, make([]byte, 4096), bytes.Repeat([]byte("ab"), 2048))
	dec := newDecoder(t)
	var enc Encoder
	for k, in := range inputs {
		// Every length from 0 to 64, then a few larger ones, each ending at the
		// guard page.
		for _, n := range []int{0, 1, 2, 3, 5, 8, 9, 11, 12, 13, 16, 17, 31, 64, 100, 1000, 4095, 4096} {
			if n > len(in) || n > end {
				continue
			}
			src := mem[end-n : end : end]
			copy(src, in[len(in)-n:])
			c := enc.Compress(nil, src)
			if d, err := dec.DecodeAll(c, make([]byte, 0, n)); err != nil || !bytes.Equal(d, src) {
				t.Fatalf("input %d, %d bytes: %v", k, n, err)
			}
		}
	}
}
