package zstdpage

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/gokdump/gokdump/compress/internal/testpage"
	"github.com/gokdump/gokdump/internal/testenv"
)

// libzstd is a running testdata/zstdhelper.c: libzstd's ZSTD_compressCCtx at level 1
// (makedumpfile -z's call) and ZSTD_decompress.
type libzstd struct{ *testenv.CHelper }

// startLibzstd builds the helper into a temporary directory and starts it.
func startLibzstd(t *testing.T) *libzstd {
	t.Helper()
	testenv.NeedPackages(t, map[string]string{"gcc": "gcc", "/usr/include/zstd.h": "libzstd-dev"})
	h := testenv.StartCHelper(t, filepath.Join("testdata", "zstdhelper.c"), "-lzstd")
	return &libzstd{h}
}

// compress runs ZSTD_compressCCtx at level 1.
func (l *libzstd) compress(t *testing.T, data []byte) []byte {
	t.Helper()
	status, out := l.Call(t, 'c', 0, data)
	if status != 0 {
		t.Fatalf("ZSTD_compressCCtx of %d bytes: status %d", len(data), status)
	}
	return out
}

// decompress runs ZSTD_decompress, which must produce exactly size bytes.
func (l *libzstd) decompress(t *testing.T, data []byte, size int) (int32, []byte) {
	t.Helper()
	return l.Call(t, 'd', size, data)
}

// TestLibzstdInterop proves that libzstd, the library makedumpfile, crash and
// libkdumpfile read -z dumps with, decodes every frame we write to exactly its input.
func TestLibzstdInterop(t *testing.T) {
	lib := startLibzstd(t)
	var enc Encoder
	for _, in := range testInputs(t) {
		ours := enc.Compress(nil, in.data)
		status, got := lib.decompress(t, ours, len(in.data))
		if status != 0 || !bytes.Equal(got, in.data) {
			t.Errorf("%s: ZSTD_decompress of our frame: status %d, %d bytes, equal %v",
				in.name, status, len(got), bytes.Equal(got, in.data))
		}
	}
	// And libzstd rejects a frame cut short (the helper tests what it claims).
	c := enc.Compress(nil, bytes.Repeat([]byte("kdump "), 700))
	if status, _ := lib.decompress(t, c[:len(c)-1], 4200); status == 0 {
		t.Errorf("libzstd accepted a truncated frame")
	}
}

// TestRatioVsLibzstd compares our frames' sizes with libzstd level 1's (makedumpfile
// -z's) on each kind of page: -z users expect dumps no larger than before.
func TestRatioVsLibzstd(t *testing.T) {
	lib := startLibzstd(t)
	var enc Encoder
	var allOurs, allTheirs int
	for _, kind := range testpage.Kinds {
		pages, err := testpage.Pages(kind, 64, 11)
		if err != nil {
			t.Fatal(err)
		}
		var ours, theirs int
		for _, p := range pages {
			ours += min(len(enc.Compress(nil, p)), len(p))
			theirs += min(len(lib.compress(t, p)), len(p))
		}
		allOurs += ours
		allTheirs += theirs
		ratio := float64(ours) / float64(theirs)
		t.Logf("%-12s ours %7d  libzstd-1 %7d  (%.3f)  of %d bytes", kind, ours, theirs, ratio, len(pages)*testpage.Size)
		if ratio > 1.02 {
			t.Errorf("%s pages: our output is %.1f%% of libzstd level 1's, want at most 102%%", kind, 100*ratio)
		}
	}
	if allOurs > allTheirs {
		t.Errorf("all kinds: our output %d bytes, libzstd level 1's %d", allOurs, allTheirs)
	}
}
