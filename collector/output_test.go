package collector

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fdFile is a destination that says it has a file descriptor.
type fdFile struct{ *os.File }

// TestWriteback checks that writing a dump starts writeback of each further 8 MiB
// written, on the output's descriptor, ranges following each other.
func TestWriteback(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "dump"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type call struct {
		fd     int
		off, n int64
	}
	var calls []call
	saved := startWriteback
	startWriteback = func(fd int, off, n int64) { calls = append(calls, call{fd, off, n}) }
	defer func() { startWriteback = saved }()

	o, err := newOutput(fdFile{f}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range 20 {
		if _, err := o.WriteAt(buf, int64(i)<<20); err != nil {
			t.Fatal(err)
		}
	}
	want := []call{{int(f.Fd()), 0, 8 << 20}, {int(f.Fd()), 8 << 20, 8 << 20}}
	if len(calls) != len(want) {
		t.Fatalf("writeback started %d times (%v), want %v", len(calls), calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("writeback call %d: %+v, want %+v", i, calls[i], want[i])
		}
	}

	// A destination without a descriptor gets none.
	calls = nil
	o, _ = newOutput(&memFile{}, Options{})
	for i := range 20 {
		o.WriteAt(buf, int64(i)<<20)
	}
	if len(calls) != 0 {
		t.Errorf("writeback started on a destination without a descriptor: %v", calls)
	}
}

// TestSizeLimit: a write across Options.SizeLimit writes the part below it and fails
// with an error NoSpace recognises; writes beyond it write nothing.
func TestSizeLimit(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "dump"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := newOutput(f, Options{SizeLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 60)
	if n, err := o.WriteAt(buf, 0); n != 60 || err != nil {
		t.Fatalf("write below the limit: %d, %v", n, err)
	}
	n, err := o.WriteAt(buf, 60)
	if n != 40 || !errors.Is(err, ErrSizeLimit) || !NoSpace(err) {
		t.Fatalf("write across the limit: %d, %v; want 40 bytes and ErrSizeLimit", n, err)
	}
	if n, err := o.Write(buf); n != 60 || err != nil {
		t.Fatalf("stream write below the limit: %d, %v", n, err)
	}
	if n, err := o.Write(buf); n != 40 || !NoSpace(err) {
		t.Fatalf("stream write across the limit: %d, %v", n, err)
	}
	if n, err := o.WriteAt(buf, 200); n != 0 || !NoSpace(err) {
		t.Fatalf("write beyond the limit: %d, %v", n, err)
	}
	if fi, _ := f.Stat(); fi.Size() != 100 {
		t.Errorf("file is %d bytes, want the limit, 100", fi.Size())
	}
	if NoSpace(errors.New("other")) {
		t.Error("NoSpace took an unrelated error")
	}
}
