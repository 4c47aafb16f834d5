package vmcore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// DefaultWindow is the size of the windows MmapReader maps /proc/vmcore in. Measured
// in the bench's capture kernels (Debian 6.1 under QEMU TCG, 256 MiB read with 1 MiB
// copies, the faster of two passes, four capture kernels): 16 MiB windows 1704-2452
// MiB/s, as fast as or faster than 4 MiB (makedumpfile's size, 313-2062 MiB/s) and
// 1 MiB (405-1071 MiB/s) in every one, against 80-188 MiB/s for pread of 4 KiB to
// 1 MiB. Eight such windows (MmapWindows) are 128 MiB of address space and 256 KiB of
// page tables.
const DefaultWindow = 16 << 20

// pageSize is the machine's: mmap offsets and lengths are multiples of it (64 KiB on
// some arm64 and ppc64le kernels).
var pageSize = int64(os.Getpagesize())

// MmapReader reads a file through read-only mmap(2) windows.
// It is how the capture kernel's /proc/vmcore is read fastest: read(2) of
// /proc/vmcore maps and unmaps the old kernel's memory one page at a time
// (copy_oldmem_page), while mmap maps a whole window with remap_pfn_range once, after
// which reading is a copy from memory. Measured in the capture kernel by the bench
// (bench/, `make bench`).
//
// Where a mapping fails (a kernel without mmap for /proc/vmcore, before 3.11, or a
// file system without it) the reader says why in Method and reads with pread(2) from
// then on; the bytes past the last whole page (which mmap cannot map) are read with
// pread too. It is safe for concurrent use (under a lock). It keeps up to
// MmapWindows windows mapped, least recently used unmapped first, so the collector's
// workers, each reading its own part of memory, and the reads of struct pages between
// them do not unmap each other's windows. The file must not shrink while mapped: use
// it for /proc/vmcore, whose size is fixed.
type MmapReader struct {
	f      *os.File
	size   int64 // the file's size
	mapEnd int64 // size rounded down to a whole page: what mmap may map
	window int64

	mu       sync.Mutex
	wins     []mapped // the mapped windows, most recently used first
	fallback error    // why mmap is no longer tried, nil while it works
	// failed are the windows whose mapping failed (read with pread); firstFail is
	// why the first did. After maxFailedWindows of them mmap is given up.
	failed    map[int64]bool
	firstFail error
	closed    bool // Close was called: nothing is mapped again

	mmap   func(fd int, off int64, length int) ([]byte, error)
	munmap func([]byte) error
}

// maxFailedWindows is how many windows may fail to map before mmap is given up.
const maxFailedWindows = 8

// MmapWindows is how many windows an MmapReader keeps mapped: address space only
// (the old kernel's memory is mapped, not copied), plus 8 KiB of page tables each.
const MmapWindows = 8

// mapped is one window.
type mapped struct {
	off int64
	b   []byte
}

// NewMmapReader reads f (of size bytes) in windows of window bytes (DefaultWindow when
// 0; rounded up to whole pages). f stays the caller's to close, after Close.
func NewMmapReader(f *os.File, size int64, window int) *MmapReader {
	if window <= 0 {
		window = DefaultWindow
	}
	w := (int64(window) + pageSize - 1) &^ (pageSize - 1)
	r := &MmapReader{f: f, size: size, mapEnd: size &^ (pageSize - 1), window: w}
	r.mmap, r.munmap = sysMmap, sysMunmap
	return r
}

// ReadAt reads len(p) bytes at off (io.ReaderAt).
func (r *MmapReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vmcore: %s: negative offset %d", r.f.Name(), off)
	}
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o >= r.size {
			return n, io.EOF
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return n, fmt.Errorf("vmcore: %s: read after the reader was closed: %w", r.f.Name(), os.ErrClosed)
		}
		w, err := r.windowFor(o)
		if err != nil || w == nil {
			r.mu.Unlock()
			// No mapping for o: pread the rest of p (or up to the next window
			// boundary when mmap still works past mapEnd: nothing is mappable there).
			m, err := r.f.ReadAt(p[n:], o)
			return n + m, err
		}
		k := copy(p[n:], w.b[o-w.off:])
		r.mu.Unlock()
		n += k
	}
	return n, nil
}

// windowFor returns the mapped window holding o (mapping it when needed), or nil when
// o is past the mappable part or mmap has failed. r.mu is held.
func (r *MmapReader) windowFor(o int64) (*mapped, error) {
	if r.fallback != nil || o >= r.mapEnd {
		return nil, nil
	}
	for i := range r.wins {
		if w := r.wins[i]; o >= w.off && o < w.off+int64(len(w.b)) {
			if i > 0 { // most recently used first
				copy(r.wins[1:i+1], r.wins[:i])
				r.wins[0] = w
			}
			return &r.wins[0], nil
		}
	}
	if len(r.wins) == MmapWindows {
		last := r.wins[len(r.wins)-1]
		r.wins = r.wins[:len(r.wins)-1]
		if err := r.munmap(last.b); err != nil {
			r.fallback = fmt.Errorf("munmap: %w", err)
			return nil, nil
		}
	}
	start := o / r.window * r.window // a whole number of pages: window is
	if r.failed[start] {
		return nil, nil
	}
	length := min(r.window, r.mapEnd-start)
	b, err := r.mmap(int(r.f.Fd()), start, int(length))
	if err != nil {
		// One window may fail where the others map (a 6.12 capture kernel refused one
		// with EAGAIN in the lab): that window is read with pread, the rest still by
		// mmap, unless mapping fails everywhere.
		err = fmt.Errorf("mmap of %d bytes at offset 0x%x: %w", length, start, err)
		if r.failed == nil {
			r.failed, r.firstFail = map[int64]bool{}, err
		}
		r.failed[start] = true
		if len(r.failed) >= maxFailedWindows || errors.Is(err, errNoMmap) || errors.Is(err, syscall.ENODEV) {
			r.fallback = r.firstFail
		}
		return nil, nil
	}
	r.wins = append(r.wins, mapped{})
	copy(r.wins[1:], r.wins[:len(r.wins)-1])
	r.wins[0] = mapped{off: start, b: b}
	return &r.wins[0], nil
}

// Method says how the reader reads: "mmap, 16384 KiB windows", or "pread (mmap failed:
// ...)" once a mapping failed.
func (r *MmapReader) Method() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fallback != nil {
		return "pread (" + r.fallback.Error() + ")"
	}
	m := fmt.Sprintf("mmap, %d KiB windows", r.window>>10)
	if len(r.failed) > 0 {
		m += fmt.Sprintf(" (%d read with pread: %v)", len(r.failed), r.firstFail)
	}
	return m
}

// Close unmaps the windows; a later ReadAt fails with os.ErrClosed instead of mapping
// them again. It does not close the file.
func (r *MmapReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first error
	for _, w := range r.wins {
		if err := r.munmap(w.b); err != nil && first == nil {
			first = err
		}
	}
	r.wins = nil
	r.closed = true
	return first
}

// errNoMmap is sysMmap's answer where there is no mmap.
var errNoMmap = errors.New("mmap is not supported on this system")

// closers closes several in order, returning the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
