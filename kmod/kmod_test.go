package kmod

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/gokdump/gokdump/internal/testenv"
)

// makeKO returns a minimal relocatable ELF64 object with a .modinfo section holding
// the given key=value strings, laid out as debug/elf (and the kernel) expect:
// ELF header, section contents, section header table.
func makeKO(modinfo ...string) []byte {
	var info []byte
	for _, kv := range modinfo {
		info = append(info, kv...)
		info = append(info, 0)
	}
	shstrtab := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize = 64
	infoOff := uint64(ehsize)
	strOff := infoOff + uint64(len(info))
	shoff := (strOff + uint64(len(shstrtab)) + 7) &^ 7

	var buf bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shoff, Ehsize: ehsize, Shentsize: 64, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&buf, binary.LittleEndian, hdr)
	buf.Write(info)
	buf.Write(shstrtab)
	buf.Write(make([]byte, shoff-uint64(buf.Len())))
	for _, s := range []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: infoOff, Size: uint64(len(info)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstrtab)), Addralign: 1},
	} {
		binary.Write(&buf, binary.LittleEndian, s)
	}
	return buf.Bytes()
}

func compress(t testing.TB, ext string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch ext {
	case ".ko":
		return data
	case ".ko.xz":
		// As kmod's Makefile does it: xz --check=crc32 --lzma2=dict=1MiB.
		w, err := xz.WriterConfig{DictCap: 1 << 20, CheckSum: xz.CRC32}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case ".ko.zst":
		w, _ := zstd.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case ".ko.gz":
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	default:
		t.Fatalf("extension %s", ext)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInfo(t *testing.T) {
	ko := makeKO("alias=fs-ext4", "softdep=pre: crypto-crc32c", "depends=jbd2,mbcache,crc16",
		"license=GPL", "name=ext4", "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ")
	want := &ModuleInfo{
		Name: "ext4", Depends: []string{"jbd2", "mbcache", "crc16"}, SoftDeps: []string{"pre: crypto-crc32c"},
		Aliases: []string{"fs-ext4"}, Vermagic: "6.1.0-56-amd64 SMP preempt mod_unload modversions ", License: "GPL",
		Fields: []Field{{"alias", "fs-ext4"}, {"softdep", "pre: crypto-crc32c"}, {"depends", "jbd2,mbcache,crc16"},
			{"license", "GPL"}, {"name", "ext4"}, {"vermagic", "6.1.0-56-amd64 SMP preempt mod_unload modversions "}},
	}
	dir := t.TempDir()
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		t.Run(ext, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, "ext4"+ext), compress(t, ext, ko))
			got, err := Info(p)
			if err != nil {
				t.Fatal(err)
			}
			want.Path = p
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestInfoNames(t *testing.T) {
	dir := t.TempDir()
	// No name= (modules of old kernels): the file name, normalized.
	p := writeFile(t, filepath.Join(dir, "virtio-pci.ko"), makeKO("depends=virtio-ring,,virtio"))
	got, err := Info(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "virtio_pci" || !slices.Equal(got.Depends, []string{"virtio_ring", "virtio"}) {
		t.Errorf("name %q depends %q", got.Name, got.Depends)
	}
}

func TestInfoErrors(t *testing.T) {
	dir := t.TempDir()
	defer func(old int64) { maxModuleSize = old }(maxModuleSize)
	maxModuleSize = 1 << 20
	good := makeKO("name=a")
	notRel := slices.Clone(good)
	notRel[16] = byte(elf.ET_EXEC)
	noNUL := makeKO("name=a", "junk")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an ELF module"},
		{"text", []byte("hello world"), "not an ELF module"},
		{"truncated ELF", good[:40], "not a kernel module"},
		{"not ET_REL", notRel, "want ET_REL"},
		{"no modinfo", bytes.Replace(good, []byte(".modinfo"), []byte(".notinfo"), 1), "no .modinfo section"},
		{"entry without =", noNUL, `"junk" is not key=value at offset 0x47`},
		{"truncated xz", compress(t, ".ko.xz", good)[:30], "xz"},
		{"corrupt gzip", append(compress(t, ".ko.gz", good)[:20], make([]byte, 40)...), "gzip"},
		{"huge xz dictionary", xzWithDict(t, 36), "dictionary of 1024 MiB"},
		{"zstd bomb", compress(t, ".ko.zst", make([]byte, 1<<20+1)), "more than 1048576 bytes"},
		{"xz bomb", compress(t, ".ko.xz", make([]byte, 1<<20+1)), "more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, "m.ko"), tt.data)
			_, err := Info(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %v, want one naming %s and containing %q", err, p, tt.want)
			}
		})
	}
}

// xzWithDict returns an xz stream whose block header asks for a dictionary of
// 2<<(code/2+11) bytes (code even): a 1 MiB stream with its LZMA2 property patched.
// The block header's CRC is then wrong, but the size check comes first.
func xzWithDict(t *testing.T, code byte) []byte {
	data := compress(t, ".ko.xz", makeKO("name=a"))
	i := bytes.Index(data[12:], []byte{0x21, 0x01, 16}) // LZMA2, 1 property byte, 1 MiB
	if i < 0 {
		t.Fatal("no LZMA2 filter with a 1 MiB dictionary in the xz block header")
	}
	data[12+i+2] = code
	return data
}

// tree writes a module directory: files maps a path relative to it to .modinfo
// strings; extra files (modules.dep, modules.builtin) are written as given.
func makeTree(t *testing.T, files map[string][]string, extra map[string]string) string {
	dir := t.TempDir()
	for rel, info := range files {
		ext := rel[strings.Index(rel, ".ko"):]
		writeFile(t, filepath.Join(dir, rel), compress(t, ext, makeKO(info...)))
	}
	for rel, content := range extra {
		writeFile(t, filepath.Join(dir, rel), []byte(content))
	}
	return dir
}

// checkOrder fails unless every module comes after its dependencies.
func checkOrder(t *testing.T, mods []Module) {
	t.Helper()
	pos := map[string]int{}
	for i, m := range mods {
		pos[m.Name] = i
	}
	for i, m := range mods {
		for _, d := range m.Depends {
			if j, ok := pos[d]; ok && j >= i {
				t.Errorf("%s is loaded before its dependency %s", m.Name, d)
			}
		}
	}
}

var chain = map[string][]string{
	"kernel/drivers/virtio/virtio_ring.ko.xz":           {"name=virtio_ring", "depends="},
	"kernel/drivers/virtio/virtio.ko.zst":               {"name=virtio", "depends=virtio_ring"},
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko.gz": {"name=virtio_pci_modern_dev", "depends="},
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko":    {"name=virtio_pci_legacy_dev"},
	"kernel/drivers/virtio/virtio_pci.ko":               {"name=virtio_pci", "depends=virtio_ring,virtio_pci_modern_dev,virtio_pci_legacy_dev,virtio"},
	"kernel/drivers/block/virtio-blk.ko.xz":             {"name=virtio_blk", "depends=virtio,virtio-ring"},
	"kernel/crypto/crc32c_generic.ko":                   {"name=crc32c_generic", "depends=crc16"},
}

func TestResolveModinfo(t *testing.T) {
	dir := makeTree(t, chain, map[string]string{"modules.builtin": "kernel/lib/crc16.ko\n"})
	mods, err := Resolve(dir, "virtio-pci", "virtio_blk", "virtio", "crc16", "crc32c_generic")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio", "virtio_pci", "virtio_blk", "crc32c_generic"}
	if got := Names(mods); !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	checkOrder(t, mods)
	for _, m := range mods {
		if info, err := Info(m.Path); err != nil || info.Name != m.Name {
			t.Errorf("%s: path %s holds %v (%v)", m.Name, m.Path, info, err)
		}
	}
}

func TestResolveModulesDep(t *testing.T) {
	// modules.dep wins over .modinfo: here it names other dependencies than the
	// files do, to prove which one was read.
	dir := makeTree(t, chain, map[string]string{
		"modules.dep": "kernel/drivers/block/virtio-blk.ko.xz: kernel/drivers/virtio/virtio.ko.zst kernel/drivers/virtio/virtio_ring.ko.xz\n" +
			"kernel/drivers/virtio/virtio.ko.zst: kernel/drivers/virtio/virtio_ring.ko.xz\n" +
			"kernel/drivers/virtio/virtio_ring.ko.xz:\n" +
			"/abs/extra/foo.ko:\n",
		"modules.builtin": "kernel/drivers/virtio/virtio_ring.ko\n",
	})
	mods, err := Resolve(dir, "virtio_blk", "foo")
	if err != nil {
		t.Fatal(err)
	}
	want := []Module{
		{"virtio", filepath.Join(dir, "kernel/drivers/virtio/virtio.ko.zst"), []string{"virtio_ring"}},
		{"virtio_blk", filepath.Join(dir, "kernel/drivers/block/virtio-blk.ko.xz"), []string{"virtio", "virtio_ring"}},
		{"foo", "/abs/extra/foo.ko", nil},
	}
	if !reflect.DeepEqual(mods, want) {
		t.Errorf("got  %+v\nwant %+v", mods, want)
	}
	if _, err := Resolve(dir, "virtio_pci"); err == nil {
		t.Error("virtio_pci has a file but no modules.dep line: want not found")
	}

	bad := makeTree(t, nil, map[string]string{"modules.dep": "kernel/a.ko: b.ko\nno colon here\n"})
	if _, err := Resolve(bad); err == nil || !strings.Contains(err.Error(), "modules.dep:2:") {
		t.Errorf("malformed modules.dep: %v", err)
	}
}

func TestResolveErrors(t *testing.T) {
	dir := makeTree(t, map[string][]string{
		"a.ko":   {"name=a", "depends=b"},
		"b.ko":   {"name=b", "depends=c"},
		"c.ko":   {"name=c", "depends=a"},
		"d.ko":   {"name=d", "depends=nope,e"},
		"e.ko":   {"name=e", "depends=gone"},
		"f.ko":   {"name=f", "depends=f"},
		"odd.ko": {"name=other"},
	}, nil)
	_, err := Resolve(dir, "a")
	var ce *CycleError
	if !errors.As(err, &ce) || !slices.Equal(ce.Cycle, []string{"a", "b", "c", "a"}) {
		t.Errorf("cycle: %v", err)
	}
	if _, err := Resolve(dir, "f"); !errors.As(err, &ce) || !slices.Equal(ce.Cycle, []string{"f", "f"}) {
		t.Errorf("self-dependency: %v", err)
	}
	_, err = Resolve(dir, "d", "zzz")
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("missing: %v", err)
	}
	if want := []Missing{{"nope", "d"}, {"gone", "e"}, {"zzz", ""}}; !reflect.DeepEqual(me.Missing, want) {
		t.Errorf("missing %+v, want %+v", me.Missing, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "nope (needed by d)") || !strings.Contains(msg, dir) {
		t.Errorf("message %q", msg)
	}
	if _, err := Resolve(dir, "odd"); err == nil || !strings.Contains(err.Error(), "name=other") {
		t.Errorf("file/name mismatch: %v", err)
	}
	if _, err := Resolve(filepath.Join(dir, "none"), "a"); err == nil {
		t.Error("missing directory accepted")
	}
}

// TestResolveDebian61 resolves the virtio and ext4 chains of Debian's 6.1 kernel
// package, which is unpacked without modules.dep, from the modules' .modinfo.
func TestResolveDebian61(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real kernel package (-short)")
	}
	k := testenv.KernelPackage(t, "linux-image-6.1.0-56-amd64")
	if _, err := os.Stat(filepath.Join(k.ModuleDir, "modules.dep")); err == nil {
		t.Logf("%s has modules.dep; the .modinfo path is not exercised", k.ModuleDir)
	}
	mods, err := Resolve(k.ModuleDir, "virtio_pci", "virtio_blk", "ext4")
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, mods)
	want := []string{"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio", "virtio_pci", "virtio_blk"}
	if got := Names(mods); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Errorf("order %v, want it to start with %v", got, want)
	}
	names := Names(mods)
	for _, n := range []string{"jbd2", "mbcache", "crc16", "ext4"} {
		if !slices.Contains(names, n) {
			t.Errorf("ext4's chain lacks %s: %v", n, names)
		}
	}
	for _, m := range mods {
		info, err := Info(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(info.Vermagic, "6.1.0-56-amd64 ") {
			t.Errorf("%s: vermagic %q", m.Path, info.Vermagic)
		}
	}
	// A module built into this kernel is skipped, not an error.
	builtin, err := os.ReadFile(filepath.Join(k.ModuleDir, "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	first := nameFromPath(strings.SplitN(string(builtin), "\n", 2)[0])
	if mods, err := Resolve(k.ModuleDir, first); err != nil || len(mods) != 0 {
		t.Errorf("built-in %s: %v, %v", first, Names(mods), err)
	}
}

// TestResolveDebian612 checks a kernel whose modules are .ko.xz and whose virtio
// core is built in.
func TestResolveDebian612(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real kernel package (-short)")
	}
	k := testenv.KernelPackage(t, "linux-image-6.12.117+deb12-amd64")
	mods, err := Resolve(k.ModuleDir, "virtio_pci", "virtio_blk")
	if err != nil {
		t.Fatal(err)
	}
	if got := Names(mods); !slices.Equal(got, []string{"virtio_blk"}) {
		t.Errorf("6.12 (virtio built in): %v, want [virtio_blk]", got)
	}
	if len(mods) > 0 && !strings.HasSuffix(mods[0].Path, ".ko.xz") {
		t.Errorf("path %s", mods[0].Path)
	}
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/FuzzReadInfo seeds")

func infoSeeds() map[string][]byte {
	return map[string][]byte{
		"ext4":    makeKO("alias=fs-ext4", "depends=jbd2,mbcache,crc16", "name=ext4", "vermagic=6.1.0 SMP"),
		"empty":   makeKO(),
		"padding": makeKO("", "", "name=a", "", "depends="),
	}
}

func TestWriteSeeds(t *testing.T) {
	for name, data := range infoSeeds() {
		p := filepath.Join("testdata", "fuzz", "FuzzReadInfo", name)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if *writeSeeds {
			writeFile(t, p, []byte(content))
			continue
		}
		if old, err := os.ReadFile(p); err != nil || string(old) != content {
			t.Errorf("seed %s is missing or stale (%v): run go test -run TestWriteSeeds -write-seeds", p, err)
		}
	}
}

// FuzzReadInfo parses arbitrary bytes as an uncompressed module: an error or a
// result, never a panic.
func FuzzReadInfo(f *testing.F) {
	for _, s := range infoSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ReadInfo("fuzz.ko", bytes.NewReader(data))
		if err == nil && info.Name == "" {
			t.Error("accepted module without a name")
		}
	})
}
