package initramfs

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/cpio"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/klauspost/compress/zstd"
)

type item struct {
	name  string
	mode  uint32
	ino   uint32
	rdev  [2]uint32
	mtime int64
	data  string
}

// readBack decompresses an image and lists it through internal/cpio.
func readBack(t *testing.T, img []byte, want Compression) []item {
	t.Helper()
	r, c, err := NewReader(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if c != want {
		t.Errorf("detected compression %v, want %v", c, want)
	}
	cr := cpio.NewReader(r)
	var items []item
	for {
		h, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(cr)
		if err != nil {
			t.Fatal(err)
		}
		var mt int64
		if !h.ModTime.IsZero() {
			mt = h.ModTime.Unix()
		}
		if h.UID != 0 || h.GID != 0 {
			t.Errorf("%s: owner %d:%d, want root", h.Name, h.UID, h.GID)
		}
		items = append(items, item{h.Name, h.Mode, h.Ino, [2]uint32{h.RdevMajor, h.RdevMinor}, mt, string(b)})
	}
	return items
}

// sampleArchive adds entries in an order unrelated to the output order, with parents
// left implicit, and a streamed file.
func sampleArchive(t *testing.T, big string) *Archive {
	t.Helper()
	a := New()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddFile("/etc/kdump.conf", 0o600, []byte("path /var/crash\n")))
	must(a.AddFileFrom("init", 0o755, big))
	must(a.AddDevice("dev/console", os.ModeCharDevice|0o600, 5, 1))
	must(a.AddSymlink("/sbin", "bin"))
	must(a.AddFile("lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko", 0o644, []byte("\x7fELF")))
	must(a.AddDir("tmp", os.ModeSticky|0o777))
	must(a.AddDir("/etc", 0o700)) // after its implicit creation: sets the mode
	must(a.AddDevice("dev/vda", os.ModeDevice|0o660, 254, 0))
	return a
}

func bigFile(t *testing.T) (string, string) {
	t.Helper()
	var sb strings.Builder
	for i := 0; sb.Len() < 300000; i++ {
		sb.WriteString(time.Duration(i).String())
	}
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, sb.String()
}

func TestContents(t *testing.T) {
	big, bigData := bigFile(t)
	var buf bytes.Buffer
	if err := sampleArchive(t, big).WriteImage(&buf, None); err != nil {
		t.Fatal(err)
	}
	want := []item{
		{"dev", cpio.TypeDir | 0o755, 1, [2]uint32{}, 0, ""},
		{"dev/console", cpio.TypeChar | 0o600, 2, [2]uint32{5, 1}, 0, ""},
		{"dev/vda", cpio.TypeBlock | 0o660, 3, [2]uint32{254, 0}, 0, ""},
		{"etc", cpio.TypeDir | 0o700, 4, [2]uint32{}, 0, ""},
		{"etc/kdump.conf", cpio.TypeReg | 0o600, 5, [2]uint32{}, 0, "path /var/crash\n"},
		{"init", cpio.TypeReg | 0o755, 6, [2]uint32{}, 0, bigData},
		{"lib", cpio.TypeDir | 0o755, 7, [2]uint32{}, 0, ""},
		{"lib/modules", cpio.TypeDir | 0o755, 8, [2]uint32{}, 0, ""},
		{"lib/modules/6.1.0", cpio.TypeDir | 0o755, 9, [2]uint32{}, 0, ""},
		{"lib/modules/6.1.0/kernel", cpio.TypeDir | 0o755, 10, [2]uint32{}, 0, ""},
		{"lib/modules/6.1.0/kernel/drivers", cpio.TypeDir | 0o755, 11, [2]uint32{}, 0, ""},
		{"lib/modules/6.1.0/kernel/drivers/block", cpio.TypeDir | 0o755, 12, [2]uint32{}, 0, ""},
		{"lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko", cpio.TypeReg | 0o644, 13, [2]uint32{}, 0, "\x7fELF"},
		{"sbin", cpio.TypeSymlink | 0o777, 14, [2]uint32{}, 0, "bin"},
		{"tmp", cpio.TypeDir | 0o1777, 15, [2]uint32{}, 0, ""},
	}
	got := readBack(t, buf.Bytes(), None)
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w item
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if !reflect.DeepEqual(g, w) {
				g.data, w.data = trim(g.data), trim(w.data)
				t.Errorf("entry %d:\n got  %+v\n want %+v", i, g, w)
			}
		}
	}
}

func trim(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

func TestModTime(t *testing.T) {
	a := New()
	a.ModTime = time.Unix(1700000000, 0)
	if err := a.AddFile("x", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.WriteImage(&buf, None); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, buf.Bytes(), None); got[0].mtime != 1700000000 {
		t.Errorf("mtime %d", got[0].mtime)
	}
}

func TestReproducible(t *testing.T) {
	big, _ := bigFile(t)
	for _, c := range []Compression{None, Gzip, Zstd} {
		var one, two bytes.Buffer
		if err := sampleArchive(t, big).WriteImage(&one, c); err != nil {
			t.Fatal(err)
		}
		if err := sampleArchive(t, big).WriteImage(&two, c); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Bytes(), two.Bytes()) {
			t.Errorf("%v: two builds of the same inputs differ", c)
		}
	}
}

func TestCompressed(t *testing.T) {
	big, _ := bigFile(t)
	var plain bytes.Buffer
	if err := sampleArchive(t, big).WriteImage(&plain, None); err != nil {
		t.Fatal(err)
	}
	want := readBack(t, plain.Bytes(), None)
	for _, c := range []Compression{Gzip, Zstd} {
		var buf bytes.Buffer
		if err := sampleArchive(t, big).WriteImage(&buf, c); err != nil {
			t.Fatal(err)
		}
		if buf.Len() >= plain.Len()/2 {
			t.Errorf("%v: %d bytes from %d: not compressed", c, buf.Len(), plain.Len())
		}
		if got := readBack(t, buf.Bytes(), c); !reflect.DeepEqual(got, want) {
			t.Errorf("%v: contents differ from the uncompressed image", c)
		}
		if c == Zstd {
			var h zstd.Header
			if err := h.Decode(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			if h.WindowSize > ZstdWindowSize {
				t.Errorf("zstd window %d, want at most %d (the capture kernel allocates it)", h.WindowSize, ZstdWindowSize)
			}
		}
	}
}

// TestSystemTools decompresses and lists the images with Debian's gzip and cpio, which
// decode the formats independently of the Go libraries.
func TestSystemTools(t *testing.T) {
	testenv.NeedTool(t, "gzip", "gzip")
	cpioBin := testenv.NeedTool(t, "cpio", "cpio")
	big, _ := bigFile(t)
	var buf bytes.Buffer
	if err := sampleArchive(t, big).WriteImage(&buf, Gzip); err != nil {
		t.Fatal(err)
	}
	gz := exec.Command("gzip", "-dc")
	gz.Stdin = &buf
	plain, err := gz.Output()
	if err != nil {
		t.Fatalf("gzip -dc: %v", err)
	}
	ls := exec.Command(cpioBin, "-it", "--quiet")
	ls.Stdin = bytes.NewReader(plain)
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("cpio -it: %v", err)
	}
	if got := strings.Fields(string(out)); !reflect.DeepEqual(got, sampleArchive(t, big).Paths()) {
		t.Errorf("cpio lists %q", got)
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "initrd.img")
	a := New()
	if err := a.AddFile("init", 0o755, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteFile(p, Zstd); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	b, _ := os.ReadFile(p)
	if got := readBack(t, b, Zstd); len(got) != 1 || got[0].data != "x" {
		t.Errorf("read back %+v", got)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		add  func(a *Archive) error
		want string
	}{
		{"root", func(a *Archive) error { return a.AddDir("/", 0o755) }, "root directory"},
		{"dotdot", func(a *Archive) error { return a.AddFile("a/../../b", 0o644, nil) }, `".."`},
		{"duplicate", func(a *Archive) error { a.AddFile("a", 0o644, nil); return a.AddFile("/a", 0o644, nil) }, "already added"},
		{"file as parent", func(a *Archive) error { a.AddFile("a", 0o644, nil); return a.AddFile("a/b", 0o644, nil) }, "parent a is already a regular file"},
		{"dir mode twice", func(a *Archive) error { a.AddDir("d", 0o755); return a.AddDir("d", 0o700) }, "added twice"},
		{"no device type", func(a *Archive) error { return a.AddDevice("dev/x", 0o600, 1, 3) }, "neither"},
		{"missing source", func(a *Archive) error { return a.AddFileFrom("x", 0o644, filepath.Join(dir, "nope")) }, "no such file"},
		{"source is dir", func(a *Archive) error { return a.AddFileFrom("x", 0o644, dir) }, "not a regular file"},
		{"empty link", func(a *Archive) error { return a.AddSymlink("l", "") }, "invalid symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.add(New())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}

	// A source that shrinks between AddFileFrom and writing is reported, not padded.
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("12345678"), 0o644)
	a := New()
	if err := a.AddFileFrom("f", 0o644, src); err != nil {
		t.Fatal(err)
	}
	os.Remove(src)
	if err := a.WriteImage(io.Discard, None); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("vanished source: %v", err)
	}

	if _, _, err := NewReader(strings.NewReader("hello world")); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("NewReader of junk: %v", err)
	}
	if _, err := ParseCompression("xz"); err == nil {
		t.Error("ParseCompression accepted xz")
	}
	for _, c := range []Compression{None, Gzip, Zstd} {
		if got, err := ParseCompression(c.String()); err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v", c.String(), got, err)
		}
	}
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzImage seeds")

func imageSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for _, c := range []Compression{None, Gzip, Zstd} {
		a := New()
		a.AddFile("etc/kdump.conf", 0o600, []byte("path /var/crash\n"))
		a.AddDevice("dev/console", os.ModeCharDevice|0o600, 5, 1)
		a.AddSymlink("sbin", "bin")
		var buf bytes.Buffer
		if err := a.WriteImage(&buf, c); err != nil {
			t.Fatal(err)
		}
		seeds[c.String()] = buf.Bytes()
	}
	return seeds
}

// TestWriteSeeds regenerates the FuzzImage seeds with -write-seeds and otherwise
// checks they are current.
func TestWriteSeeds(t *testing.T) {
	seeds := map[string][]any{}
	for name, data := range imageSeeds(t) {
		seeds[name] = []any{data}
	}
	testenv.CheckFuzzSeeds(t, map[string]map[string][]any{"FuzzImage": seeds}, *writeSeeds,
		"go test ./initramfs -run TestWriteSeeds -write-seeds")
}

// FuzzImage reads arbitrary bytes as an image: detection, decompression and the
// archive reader must fail cleanly, and with bounded output.
func FuzzImage(f *testing.F) {
	for _, data := range imageSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		defer r.Close()
		cr := cpio.NewReader(io.LimitReader(r, 1<<20))
		for i := 0; i < 10000; i++ {
			if _, err := cr.Next(); err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, cr); err != nil {
				return
			}
		}
	})
}
