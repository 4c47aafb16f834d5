package lzo

import (
	"bufio"
	"encoding/binary"
	"io"
	"path/filepath"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// liblzo is a running testdata/lzohelper.c: liblzo2's own lzo1x_1_compress and
// lzo1x_decompress_safe, the functions makedumpfile and libkdumpfile call.
type liblzo struct {
	in  *bufio.Writer
	out *bufio.Reader
}

// startLiblzo builds the helper into a temporary directory and starts it.
func startLiblzo(t *testing.T) *liblzo {
	t.Helper()
	testenv.NeedPackages(t, map[string]string{"gcc": "gcc", "/usr/include/lzo/lzo1x.h": "liblzo2-dev"})
	h := testenv.StartCHelper(t, filepath.Join("testdata", "lzohelper.c"), "-llzo2")
	return &liblzo{in: h.In, out: h.Out}
}

func (l *liblzo) call(t *testing.T, op byte, limit int, data []byte) (status int32, out []byte) {
	t.Helper()
	var head [9]byte
	head[0] = op
	binary.LittleEndian.PutUint32(head[1:], uint32(limit))
	binary.LittleEndian.PutUint32(head[5:], uint32(len(data)))
	l.in.Write(head[:])
	l.in.Write(data)
	if err := l.in.Flush(); err != nil {
		t.Fatalf("writing to the liblzo2 helper: %v", err)
	}
	var ans [8]byte
	if _, err := io.ReadFull(l.out, ans[:]); err != nil {
		t.Fatalf("reading from the liblzo2 helper: %v", err)
	}
	out = make([]byte, binary.LittleEndian.Uint32(ans[4:]))
	if _, err := io.ReadFull(l.out, out); err != nil {
		t.Fatalf("reading from the liblzo2 helper: %v", err)
	}
	return int32(binary.LittleEndian.Uint32(ans[:])), out
}

// compress runs liblzo2's lzo1x_1_compress.
func (l *liblzo) compress(t *testing.T, data []byte) []byte {
	t.Helper()
	status, out := l.call(t, 'c', 0, data)
	if status != 0 {
		t.Fatalf("lzo1x_1_compress of %d bytes: status %d", len(data), status)
	}
	return out
}

// decompress runs liblzo2's lzo1x_decompress_safe with an output buffer of limit bytes.
func (l *liblzo) decompress(t *testing.T, data []byte, limit int) (int32, []byte) {
	t.Helper()
	return l.call(t, 'd', limit, data)
}
