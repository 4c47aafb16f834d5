package testenv

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CHelper is a small C program a test built and started, to talk to a C library
// (liblzo2, zlib, ...) over its standard input and output: interop tests check our
// codecs against the libraries makedumpfile and libkdumpfile link, without cgo.
type CHelper struct {
	In  *bufio.Writer
	Out *bufio.Reader
}

// StartCHelper compiles src (a C file, relative to the test's package) with gcc and
// the linker flags libs into a temporary directory, starts it, and stops it when the
// test ends; a helper that exits badly fails the test. The caller makes sure gcc and
// the libraries' headers are installed first.
func StartCHelper(t testing.TB, src string, libs ...string) *CHelper {
	t.Helper()
	name := filepath.Base(src)
	bin := filepath.Join(t.TempDir(), name+".bin")
	args := append([]string{"-O2", "-Wall", "-o", bin, src}, libs...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("building the C helper %s: %v\n%s", src, err, out)
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("C helper %s: %v", name, err)
		}
	})
	return &CHelper{In: bufio.NewWriter(stdin), Out: bufio.NewReader(stdout)}
}

// Call sends one request of the codec helpers' protocol (compress/lzo/testdata/
// lzohelper.c, compress/zstdpage/testdata/zstdhelper.c): op, a little-endian u32
// limit, a u32 length and the data; and reads the answer: an i32 status (the
// library's), a u32 length and that many bytes.
func (h *CHelper) Call(t testing.TB, op byte, limit int, data []byte) (status int32, out []byte) {
	t.Helper()
	var head [9]byte
	head[0] = op
	binary.LittleEndian.PutUint32(head[1:], uint32(limit))
	binary.LittleEndian.PutUint32(head[5:], uint32(len(data)))
	h.In.Write(head[:])
	h.In.Write(data)
	if err := h.In.Flush(); err != nil {
		t.Fatalf("writing to the C helper: %v", err)
	}
	var ans [8]byte
	if _, err := io.ReadFull(h.Out, ans[:]); err != nil {
		t.Fatalf("reading from the C helper: %v", err)
	}
	out = make([]byte, binary.LittleEndian.Uint32(ans[4:]))
	if _, err := io.ReadFull(h.Out, out); err != nil {
		t.Fatalf("reading from the C helper: %v", err)
	}
	return int32(binary.LittleEndian.Uint32(ans[:])), out
}
