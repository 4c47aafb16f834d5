package testpage

import "syscall"

// BeforeGuard returns n bytes of fresh memory whose last byte is followed by an
// inaccessible page, so that a codec reading past the end of its input (the match
// searches of lzo and zstdpage load words without bounds checks) faults instead of
// passing unnoticed, and a function that unmaps it. n is at most two pages.
func BeforeGuard(n int) ([]byte, func(), error) {
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

// GuardInputs are the inputs the read-past-the-end tests cut: two pages of every kind,
// a zero page and a repeated pattern; GuardLengths are the lengths each is cut to, its
// tail ending at the guard page.
func GuardInputs() ([][]byte, error) {
	var inputs [][]byte
	for _, kind := range Kinds {
		pages, err := Pages(kind, 2, 5)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, pages...)
	}
	pattern := make([]byte, Size)
	for i := range pattern {
		pattern[i] = "ab"[i%2]
	}
	return append(inputs, make([]byte, Size), pattern), nil
}

// GuardLengths: every short length where word loads change shape, then larger ones.
var GuardLengths = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 20, 31, 64, 100, 1000, 4095, 4096}
