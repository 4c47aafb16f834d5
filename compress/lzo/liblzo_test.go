package lzo

import (
	"path/filepath"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// liblzo is a running testdata/lzohelper.c: liblzo2's own lzo1x_1_compress and
// lzo1x_decompress_safe, the functions makedumpfile and libkdumpfile call.
type liblzo struct{ *testenv.CHelper }

// startLiblzo builds the helper into a temporary directory and starts it.
func startLiblzo(t *testing.T) *liblzo {
	t.Helper()
	testenv.NeedPackages(t, map[string]string{"gcc": "gcc", "/usr/include/lzo/lzo1x.h": "liblzo2-dev"})
	h := testenv.StartCHelper(t, filepath.Join("testdata", "lzohelper.c"), "-llzo2")
	return &liblzo{h}
}

// compress runs liblzo2's lzo1x_1_compress.
func (l *liblzo) compress(t *testing.T, data []byte) []byte {
	t.Helper()
	status, out := l.Call(t, 'c', 0, data)
	if status != 0 {
		t.Fatalf("lzo1x_1_compress of %d bytes: status %d", len(data), status)
	}
	return out
}

// decompress runs liblzo2's lzo1x_decompress_safe with an output buffer of limit bytes.
func (l *liblzo) decompress(t *testing.T, data []byte, limit int) (int32, []byte) {
	t.Helper()
	return l.Call(t, 'd', limit, data)
}
