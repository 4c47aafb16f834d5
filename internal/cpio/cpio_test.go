package cpio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/testenv"
)

type entry struct {
	hdr  Header
	data string
}

// sample is an archive with every entry kind an initramfs uses, and names of each
// length modulo 4 so every padding case occurs.
func sample() []entry {
	mt := time.Unix(1700000000, 0)
	return []entry{
		{Header{Name: "dev", Mode: TypeDir | 0o755, Nlink: 2, ModTime: mt, Ino: 1}, ""},
		{Header{Name: "dev/console", Mode: TypeChar | 0o600, Nlink: 1, ModTime: mt, Ino: 2, RdevMajor: 5, RdevMinor: 1}, ""},
		{Header{Name: "etc", Mode: TypeDir | 0o755, Nlink: 2, ModTime: mt, Ino: 3}, ""},
		{Header{Name: "etc/a", Mode: TypeReg | 0o644, Nlink: 1, ModTime: mt, Ino: 4, Size: 1}, "A"},
		{Header{Name: "etc/ab", Mode: TypeReg | 0o644, Nlink: 1, ModTime: mt, Ino: 5, Size: 2}, "AB"},
		{Header{Name: "etc/abc", Mode: TypeReg | 0o600, Nlink: 1, ModTime: mt, Ino: 6, Size: 3, UID: 1000, GID: 1000}, "ABC"},
		{Header{Name: "etc/abcd", Mode: TypeReg | 0o644, Nlink: 1, ModTime: mt, Ino: 7, Size: 4}, "ABCD"},
		{Header{Name: "etc/empty", Mode: TypeReg | 0o644, Nlink: 1, ModTime: mt, Ino: 8}, ""},
		{Header{Name: "init", Mode: TypeReg | 0o755, Nlink: 1, ModTime: mt, Ino: 9, Size: 13}, "#!/bin/true\n\n"},
		{Header{Name: "sbin", Mode: TypeSymlink | 0o777, Nlink: 1, ModTime: mt, Ino: 10, Size: 3}, "bin"},
	}
}

func build(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(data []byte) ([]entry, error) {
	r := NewReader(bytes.NewReader(data))
	var out []entry
	for {
		h, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return out, err
		}
		out = append(out, entry{*h, string(b)})
	}
}

func TestRoundTrip(t *testing.T) {
	in := sample()
	data := build(t, in)
	if len(data)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(data))
	}
	out, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d entries, wrote %d", len(out), len(in))
	}
	for i := range in {
		if !reflect.DeepEqual(in[i], out[i]) {
			t.Errorf("entry %d:\n wrote %+v\n read  %+v", i, in[i], out[i])
		}
	}
}

// TestLayout checks the bytes of one entry against the format: field order, upper-case
// hex, name padding to 4 with header, data padding to 4, trailer.
func TestLayout(t *testing.T) {
	data := build(t, []entry{{Header{Name: "ab", Mode: TypeReg | 0o644, Nlink: 1, Ino: 0x1f, Size: 5, ModTime: time.Unix(0x65, 0)}, "hello"}})
	want := "070701" +
		"0000001F" + "000081A4" + "00000000" + "00000000" + "00000001" + "00000065" + "00000005" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000003" + "00000000" +
		"ab\x00" + "\x00\x00\x00" + // 110+3 = 113, padded to 116
		"hello" + "\x00\x00\x00" + // 5 padded to 8
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000" +
		"TRAILER!!!\x00" + "\x00\x00\x00" // 110+11 = 121, padded to 124
	if string(data) != want {
		t.Errorf("got\n%q\nwant\n%q", data, want)
	}
}

// TestGNUCpioAccepts has Debian's cpio list and extract what the Writer wrote.
func TestGNUCpioAccepts(t *testing.T) {
	cpioBin := testenv.NeedTool(t, "cpio", "cpio")
	data := build(t, sample())
	dir := t.TempDir()

	list := exec.Command(cpioBin, "-itv", "--numeric-uid-gid", "--quiet")
	list.Stdin = bytes.NewReader(data)
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{"crw-------", "5,   1", "dev/console", "lrwxrwxrwx", "sbin -> bin", "-rwxr-xr-x", "init", "1000     1000"} {
		if !strings.Contains(listing, want) {
			t.Errorf("cpio -itv listing lacks %q:\n%s", want, listing)
		}
	}

	// Extract without the device node: creating one needs privileges a container may lack.
	var noDev []entry
	for _, e := range sample() {
		if e.hdr.Type() != TypeChar {
			noDev = append(noDev, e)
		}
	}
	ext := exec.Command(cpioBin, "-idmv", "--no-absolute-filenames", "--quiet")
	ext.Dir = dir
	ext.Stdin = bytes.NewReader(build(t, noDev))
	if out, err := ext.CombinedOutput(); err != nil {
		t.Fatalf("cpio -idv: %v\n%s", err, out)
	}
	for _, e := range noDev {
		p := filepath.Join(dir, e.hdr.Name)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("cpio did not extract %s: %v", e.hdr.Name, err)
			continue
		}
		if got, want := uint32(st.Mode().Perm()), e.hdr.Mode&0o777; got != want && e.hdr.Type() != TypeSymlink {
			t.Errorf("%s: mode %#o, want %#o", e.hdr.Name, got, want)
		}
		switch e.hdr.Type() {
		case TypeReg:
			b, err := os.ReadFile(p)
			if err != nil || string(b) != e.data {
				t.Errorf("%s: contents %q (%v), want %q", e.hdr.Name, b, err, e.data)
			}
			if !st.ModTime().Equal(e.hdr.ModTime) {
				t.Errorf("%s: mtime %v, want %v", e.hdr.Name, st.ModTime(), e.hdr.ModTime)
			}
		case TypeSymlink:
			if target, err := os.Readlink(p); err != nil || target != e.data {
				t.Errorf("%s: link target %q (%v), want %q", e.hdr.Name, target, err, e.data)
			}
		case TypeDir:
			if !st.IsDir() {
				t.Errorf("%s: not a directory", e.hdr.Name)
			}
		}
	}
}

// TestReadGNUCpio reads an archive written by Debian's cpio.
func TestReadGNUCpio(t *testing.T) {
	cpioBin := testenv.NeedTool(t, "cpio", "cpio")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("12345"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cpioBin, "-o", "-H", "newc", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("f\nl\n")
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -o: %v", err)
	}
	got, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].hdr.Name != "f" || got[0].data != "12345" || got[0].hdr.Mode != TypeReg|0o640 ||
		got[1].hdr.Name != "l" || got[1].data != "f" || got[1].hdr.Type() != TypeSymlink {
		t.Errorf("read %+v", got)
	}
}

func TestWriterMisuse(t *testing.T) {
	w := NewWriter(io.Discard)
	if err := w.WriteHeader(&Header{Name: "a", Mode: TypeReg, Size: 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write([]byte("abc")); n != 2 || err != ErrWriteTooLong {
		t.Errorf("overlong write: %d, %v", n, err)
	}
	if err := w.WriteHeader(&Header{Name: "b", Mode: TypeReg, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "missing 1 bytes") {
		t.Errorf("close with a short entry: %v", err)
	}

	for _, h := range []Header{
		{Name: ""},
		{Name: "a\x00b"},
		{Name: strings.Repeat("x", MaxNameSize)},
		{Name: "big", Mode: TypeReg, Size: 1 << 32},
		{Name: "neg", Mode: TypeReg, Size: -1},
		{Name: "dir", Mode: TypeDir, Size: 1},
		{Name: "old", Mode: TypeReg, ModTime: time.Unix(-1, 0)},
	} {
		if err := NewWriter(io.Discard).WriteHeader(&h); err == nil {
			t.Errorf("WriteHeader(%.20q) accepted a header it cannot write", h.Name)
		}
	}

	w = NewWriter(io.Discard)
	w.Close()
	if err := w.WriteHeader(&Header{Name: "late"}); err != ErrWriteAfterEnd {
		t.Errorf("header after close: %v", err)
	}
}

func TestReaderErrors(t *testing.T) {
	good := build(t, sample())
	hex := func(v uint32) string { return fmt.Sprintf("%08X", v) }
	// header returns a header with the given name size and file size and no name.
	header := func(nameSize, size uint32) string {
		return MagicNewc + strings.Repeat("00000000", 6) + hex(size) + strings.Repeat("00000000", 4) + hex(nameSize) + "00000000"
	}
	tests := []struct {
		name    string
		data    []byte
		want    string // in the error message
		wantOff int64  // -1: no FormatError expected
		trunc   bool
	}{
		{"empty", nil, "entry header", -1, true},
		{"bad magic", []byte("070707" + string(good[6:])), "bad magic", 0, false},
		{"bad hex", []byte(string(good[:6]) + "zz" + string(good[8:])), "field ino", 6, false},
		{"name size zero", []byte(header(0, 0)), "name size out of range", 94, false},
		{"name size huge", []byte(header(0xffffffff, 0)), "name size out of range", 94, false},
		{"name beyond input", []byte(header(100, 0) + "abc"), "100-byte name of the entry at offset 0x0", -1, true},
		{"no NUL", []byte(header(2, 0) + "ab"), "not NUL-terminated", 111, false},
		{"inner NUL", []byte(header(4, 0) + "a\x00b\x00" + "\x00\x00"), "NUL byte before its end", 111, false},
		{"data beyond input", []byte(header(2, 0xfffffff0) + "a\x00" + "data"), `data of "a" (entry at offset 0x0)`, -1, true},
		{"no trailer", good[:len(good)-124], "no TRAILER", -1, true},
		{"cut in trailer", good[:len(good)-5], "name of the entry", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(tt.data)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			var fe *FormatError
			if tt.wantOff >= 0 {
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a *FormatError", err)
				}
				if fe.Off != tt.wantOff {
					t.Errorf("offset %d, want %d (%v)", fe.Off, tt.wantOff, err)
				}
			}
			if tt.trunc != errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v", err, !tt.trunc)
			}
		})
	}
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzReader seeds from the Writer")

// fuzzSeeds are archives from the Writer that reach every branch of the Reader.
func fuzzSeeds(t testing.TB) map[string][]byte {
	s := sample()
	return map[string][]byte{
		"sample":    build(t, s),
		"one-file":  build(t, s[3:4]),
		"empty":     build(t, nil),
		"truncated": build(t, s)[:200],
	}
}

// TestWriteSeeds regenerates the checked-in seed corpus with -write-seeds and
// otherwise checks it is current.
func TestWriteSeeds(t *testing.T) {
	seeds := map[string][]any{}
	for name, data := range fuzzSeeds(t) {
		seeds[name] = []any{data}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzReader": seeds}, *writeSeeds,
		"go test ./internal/cpio -run TestWriteSeeds -write-seeds")
}

// FuzzReader reads arbitrary bytes; whatever parses must write back to an archive
// that reads back the same.
func FuzzReader(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := readAll(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		var ok []entry
		for _, e := range entries {
			if checkHeader(&e.hdr) == nil {
				e.hdr.Check = 0 // the Writer writes newc, whose check field is 0
				ok = append(ok, e)
			}
		}
		again, err := readAll(build(t, ok))
		if err != nil {
			t.Fatalf("re-reading a written archive: %v", err)
		}
		if len(again) != len(ok) {
			t.Fatalf("re-read %d entries, wrote %d", len(again), len(ok))
		}
		for i := range ok {
			if !reflect.DeepEqual(ok[i], again[i]) {
				t.Fatalf("entry %d: wrote %+v, read %+v", i, ok[i], again[i])
			}
		}
	})
}
