package testpage

import (
	"fmt"
	"syscall"
)

// beforeGuard returns n bytes of fresh memory whose last byte is followed by an
// inaccessible page, so that a codec reading past the end of its input (the match
// searches of lzo and zstdpage load words without bounds checks) faults instead of
// passing unnoticed, and a function that unmaps it. n is at most two pages.
func beforeGuard(n int) ([]byte, func(), error) {
	ps := syscall.Getpagesize()
	if n > 2*ps {
		n = 2 * ps
	}
	mem, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Mprotect(mem[2*ps:], syscall.PROT_NONE); err != nil {
		syscall.Munmap(mem)
		return nil, nil, err
	}
	return mem[2*ps-n : 2*ps : 2*ps], func() { syscall.Munmap(mem) }, nil
}

// ReadPastEnd compresses every one of its inputs (two pages of every kind, a zero page,
// a repeated pattern), cut to every length of guardLengths, each ending right before an
// inaccessible page, and asks check whether the result decodes to the input. A read
// past an input's end faults (the process dies with the address); a wrong result is
// the error returned, naming the input and its length.
func ReadPastEnd(compress func(src []byte) ([]byte, error), check func(src, compressed []byte) error) error {
	var inputs [][]byte
	for _, kind := range Kinds {
		pages, err := Pages(kind, 2, 5)
		if err != nil {
			return err
		}
		inputs = append(inputs, pages...)
	}
	pattern := make([]byte, Size)
	for i := range pattern {
		pattern[i] = "ab"[i%2]
	}
	inputs = append(inputs, make([]byte, Size), pattern)
	for k, in := range inputs {
		for _, n := range guardLengths {
			src, release, err := beforeGuard(n)
			if err != nil {
				return err
			}
			copy(src, in[len(in)-len(src):])
			c, err := compress(src)
			if err == nil {
				err = check(src, c)
			}
			release()
			if err != nil {
				return fmt.Errorf("input %d cut to %d bytes: %w", k, n, err)
			}
		}
	}
	return nil
}

// guardLengths: every short length where word loads change shape, then larger ones.
var guardLengths = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 20, 31, 64, 100, 1000, 4095, 4096}
