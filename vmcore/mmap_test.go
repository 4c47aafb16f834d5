package vmcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// mmapTestFile writes size patterned bytes to a temporary file and opens it.
func mmapTestFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	p := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// readAll reads the file through r in odd-sized pieces that straddle windows, and the
// last partial page.
func checkReads(t *testing.T, r io.ReaderAt, data []byte) {
	t.Helper()
	for _, c := range []struct{ off, n int }{
		{0, 1}, {0, 4096}, {4095, 2}, {8192 - 3, 8192 + 6}, {2 * 8192, 5000},
		{len(data) - 100, 100}, {len(data) - 5000, 5000}, {100, len(data) - 100},
	} {
		buf := make([]byte, c.n)
		n, err := r.ReadAt(buf, int64(c.off))
		if n != c.n || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", c.n, c.off, n, err)
		}
		if !bytes.Equal(buf, data[c.off:c.off+c.n]) {
			t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", c.n, c.off)
		}
	}
	// Past the end: io.EOF with what there is.
	buf := make([]byte, 10)
	n, err := r.ReadAt(buf, int64(len(data)-4))
	if n != 4 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt past the end = %d, %v; want 4, EOF", n, err)
	}
}

func TestMmapReaderWindows(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mmap windows are Linux-only here")
	}
	// 9.5 pages with 2-page windows: several windows, a short last one, and a partial
	// page that only pread reaches.
	f, data := mmapTestFile(t, 9*4096+2048)
	r := NewMmapReader(f, int64(len(data)), 8192)
	var maps int
	mmap := r.mmap
	r.mmap = func(fd int, off int64, length int) ([]byte, error) {
		maps++
		if off%4096 != 0 || length%4096 != 0 || off+int64(length) > int64(len(data))&^4095 {
			t.Errorf("mmap(off %d, length %d) is not within whole pages of the file", off, length)
		}
		return mmap(fd, off, length)
	}
	checkReads(t, r, data)
	if maps == 0 {
		t.Fatal("nothing was mapped")
	}
	if m := r.Method(); m != "mmap, 8 KiB windows" {
		t.Errorf("Method = %q", m)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed: a read fails and maps nothing again (the mapping would never be undone).
	before := maps
	if n, err := r.ReadAt(make([]byte, 10), 0); n != 0 || !errors.Is(err, os.ErrClosed) || maps != before {
		t.Errorf("ReadAt after Close = %d, %v, %d new mappings; want os.ErrClosed and none", n, err, maps-before)
	}
}

// TestMmapReaderFallback: a kernel that refuses mmap of /proc/vmcore still gives
// every byte (pread), and Method says why.
func TestMmapReaderFallback(t *testing.T) {
	f, data := mmapTestFile(t, 6*4096+100)
	r := NewMmapReader(f, int64(len(data)), 4096)
	calls := 0
	r.mmap = func(int, int64, int) ([]byte, error) { calls++; return nil, syscall.ENODEV }
	checkReads(t, r, data)
	if calls != 1 {
		t.Errorf("mmap tried %d times after it failed; want once", calls)
	}
	if m := r.Method(); !strings.HasPrefix(m, "pread (mmap of 4096 bytes at offset 0x0: ") {
		t.Errorf("Method = %q", m)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMmapReaderOneWindowFails: a window the kernel will not map (EAGAIN, as a 6.12
// capture kernel gave for one window in the lab) is read with pread; the others are
// still mapped, and each failed window is tried once.
func TestMmapReaderOneWindowFails(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mmap windows are Linux-only here")
	}
	f, data := mmapTestFile(t, 9*4096+2048)
	r := NewMmapReader(f, int64(len(data)), 8192)
	mmap := r.mmap
	tries := map[int64]int{}
	r.mmap = func(fd int, off int64, length int) ([]byte, error) {
		if tries[off]++; off == 8192 {
			return nil, syscall.EAGAIN
		}
		return mmap(fd, off, length)
	}
	checkReads(t, r, data)
	checkReads(t, r, data)
	if tries[8192] != 1 || tries[0] == 0 || tries[4*4096] == 0 {
		t.Errorf("mmap tries by offset %v; want the failed window once and the others mapped", tries)
	}
	if m := r.Method(); !strings.HasPrefix(m, "mmap, 8 KiB windows (1 read with pread: mmap of 8192 bytes at offset 0x2000: ") {
		t.Errorf("Method = %q", m)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMmapReaderMunmapFailure: a failed munmap also turns the reader to pread,
// without losing the bytes.
func TestMmapReaderMunmapFailure(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mmap windows are Linux-only here")
	}
	f, data := mmapTestFile(t, (MmapWindows+4)*4096)
	r := NewMmapReader(f, int64(len(data)), 4096)
	munmap := r.munmap
	r.munmap = func(b []byte) error { munmap(b); return syscall.EINVAL }
	checkReads(t, r, data)
	if m := r.Method(); !strings.HasPrefix(m, "pread (munmap: ") {
		t.Errorf("Method = %q", m)
	}
}

// TestOpenRegularFileUsesPread: only procfs files are mapped.
func TestOpenRegularFileUsesPread(t *testing.T) {
	f, _ := mmapTestFile(t, 8192)
	r, c := fileReader(f, 8192)
	if c != nil || r != io.ReaderAt(f) {
		t.Errorf("fileReader of a regular file = %T; want the file itself", r)
	}
}

// TestMmapReaderKeepsWindows: two readers taking turns in two parts of the file (the
// collector's workers) map each window once, not at every turn.
func TestMmapReaderKeepsWindows(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mmap windows are Linux-only here")
	}
	f, data := mmapTestFile(t, 64*4096)
	r := NewMmapReader(f, int64(len(data)), 8192)
	defer r.Close()
	maps := 0
	mmap := r.mmap
	r.mmap = func(fd int, off int64, length int) ([]byte, error) { maps++; return mmap(fd, off, length) }
	buf := make([]byte, 4096)
	for i := 0; i < 8; i++ {
		for _, base := range []int{0, 32 * 4096} {
			off := base + i*4096
			if _, err := r.ReadAt(buf, int64(off)); err != nil || !bytes.Equal(buf, data[off:off+4096]) {
				t.Fatalf("ReadAt %d: %v", off, err)
			}
		}
	}
	if maps != 8 { // 4 windows of 2 pages in each part
		t.Errorf("%d windows mapped, want 8", maps)
	}
}

// TestMmapReaderConcurrent: workers reading at once get their own bytes (run with
// -race: make test-race).
func TestMmapReaderConcurrent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mmap windows are Linux-only here")
	}
	f, data := mmapTestFile(t, 256*4096)
	r := NewMmapReader(f, int64(len(data)), 4096)
	defer r.Close()
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			buf := make([]byte, 4096+17)
			for i := 0; i < 200; i++ {
				off := ((w*61 + i*37) % 250) * 4096
				if _, err := r.ReadAt(buf, int64(off)); err != nil || !bytes.Equal(buf, data[off:off+len(buf)]) {
					errs <- fmt.Errorf("worker %d: ReadAt %d: %v", w, off, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
