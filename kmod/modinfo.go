// Package kmod finds, orders and loads Linux kernel modules without modprobe: it
// reads a module's .modinfo section (name, depends, alias, vermagic), resolves the
// modules a device needs in dependency order from modules.dep or, in a kernel tree
// that has none (an unpacked Debian package), from the modules' own .modinfo, and
// loads them with finit_module. The capture initramfs uses it to reach the dump
// target; the real-crash lab uses it to bring up virtio disks.
//
// Modules may be plain (.ko) or compressed (.ko.xz, .ko.zst, .ko.gz).
//
//	mods, err := kmod.Resolve("/lib/modules/"+release, "virtio_pci", "virtio_blk")
//	err = kmod.LoadAll(mods, nil)
package kmod

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ModuleInfo is what a module's .modinfo section says about it.
type ModuleInfo struct {
	Path     string   // the file it was read from
	Name     string   // name= (normalized: '-' becomes '_'); the file name when absent
	Depends  []string // depends=: modules that must be loaded first (normalized)
	SoftDeps []string // softdep= values, e.g. "pre: crypto-crc32c" (not followed by Resolve)
	Aliases  []string // alias= values, e.g. "fs-ext4", "virtio:d00000002v*"
	Vermagic string   // vermagic=: the kernel release and build options it was built for
	License  string   // license=
	// Fields holds every key=value pair in section order, including the above.
	Fields []Field
}

// Field is one key=value entry of .modinfo.
type Field struct{ Key, Value string }

// Normalize returns the canonical form of a module name: the kernel treats '-' and
// '_' in module names as the same character, and the names it records use '_'.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Bounds on what a module file may make us allocate.
const (
	// MaxModuleSize bounds a module's uncompressed size. The largest modules of
	// distribution kernels (GPU drivers) are tens of MiB.
	MaxModuleSize = 256 << 20
	// maxModinfoSize bounds the .modinfo section; real ones are a few KiB.
	maxModinfoSize = 1 << 20
)

// maxModuleSize is MaxModuleSize; tests lower it.
var maxModuleSize int64 = MaxModuleSize

// Compression of a module file, found from its first bytes.
type compression int

const (
	compNone compression = iota
	compXZ
	compZstd
	compGzip
)

func (c compression) String() string {
	return [...]string{"uncompressed", "xz", "zstd", "gzip"}[c]
}

// detect returns the compression of a file starting with head.
func detect(head []byte) (compression, bool) {
	switch {
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return compNone, true
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return compXZ, true
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compZstd, true
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return compGzip, true
	}
	return compNone, false
}

// Error is a problem with one module file.
type Error struct {
	Path string
	Off  int64 // offset in the (uncompressed) module, or -1 when not about a place
	Msg  string
}

func (e *Error) Error() string {
	if e.Off >= 0 {
		return fmt.Sprintf("kmod: %s: %s at offset %#x", e.Path, e.Msg, e.Off)
	}
	return fmt.Sprintf("kmod: %s: %s", e.Path, e.Msg)
}

// Info reads the .modinfo section of the module file path.
func Info(path string) (*ModuleInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	defer f.Close()
	var head [6]byte
	n, _ := io.ReadFull(f, head[:])
	comp, ok := detect(head[:n])
	if !ok {
		return nil, &Error{path, 0, fmt.Sprintf("not an ELF module nor xz, zstd or gzip compressed (starts with % x)", head[:n])}
	}
	if comp == compNone {
		// Read the ELF in place: only the headers and .modinfo are touched.
		return readInfo(path, f)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	img, err := decompress(path, f, comp)
	if err != nil {
		return nil, err
	}
	return readInfo(path, bytes.NewReader(img))
}

// ReadInfo reads the .modinfo section of an uncompressed module image; path only
// names it in errors and in the result.
func ReadInfo(path string, r io.ReaderAt) (*ModuleInfo, error) { return readInfo(path, r) }

// decompress returns the whole uncompressed module read from r, refusing modules
// larger than MaxModuleSize.
func decompress(path string, r io.Reader, comp compression) ([]byte, error) {
	var zr io.Reader
	switch comp {
	case compNone:
		zr = r
	case compXZ:
		// The decoder allocates the dictionary size the stream asks for, so check
		// it first; kernel modules are compressed with dictionaries of 1 MiB or less.
		br := bufio.NewReader(r)
		head, _ := br.Peek(xzHeadSize)
		if err := checkXZDict(head); err != nil {
			return nil, &Error{path, -1, err.Error()}
		}
		c := xz.ReaderConfig{DictCap: xzMinDict}
		x, err := c.NewReader(br)
		if err != nil {
			return nil, &Error{path, -1, "xz: " + err.Error()}
		}
		zr = x
	case compZstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxModuleSize), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, &Error{path, -1, "zstd: " + err.Error()}
		}
		defer d.Close()
		zr = d
	case compGzip:
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, &Error{path, -1, "gzip: " + err.Error()}
		}
		zr = g
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(zr, maxModuleSize+1))
	if err != nil {
		return nil, &Error{path, -1, fmt.Sprintf("%v data corrupt after %d bytes: %v", comp, n, err)}
	}
	if n > maxModuleSize {
		return nil, &Error{path, -1, fmt.Sprintf("uncompresses to more than %d bytes, more than any module", maxModuleSize)}
	}
	return buf.Bytes(), nil
}

// xz stream facts (the .xz file format, version 1.0.4).
const (
	xzStreamHeaderSize = 12
	xzHeadSize         = xzStreamHeaderSize + 1024 // a block header is at most 1024 bytes
	xzFilterLZMA2      = 0x21
	xzMinDict          = 4096
	maxXZDict          = 64 << 20
)

// checkXZDict refuses an xz stream whose first block's LZMA2 dictionary is larger
// than maxXZDict: the decoder would allocate it before reading any data. (Module
// files are single-block streams, as xz and kmod write them.)
func checkXZDict(head []byte) error {
	if len(head) < xzStreamHeaderSize+2 {
		return fmt.Errorf("xz stream of %d bytes is too short", len(head))
	}
	b := head[xzStreamHeaderSize:]
	if b[0] == 0 {
		return nil // an index, no block: an empty stream
	}
	size := (int(b[0]) + 1) * 4
	if len(b) < size {
		return fmt.Errorf("xz block header of %d bytes runs past the file", size)
	}
	b = b[:size-4] // without the CRC32
	flags := b[1]
	nFilters := int(flags&3) + 1
	pos := 2
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && pos < len(b); i++ {
			c := b[pos]
			pos++
			v |= uint64(c&0x7f) << (7 * i)
			if c&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} { // compressed, uncompressed size
		if present {
			if _, ok := varint(); !ok {
				return fmt.Errorf("xz block header at offset %#x is malformed", xzStreamHeaderSize)
			}
		}
	}
	for range nFilters {
		id, ok1 := varint()
		n, ok2 := varint()
		if !ok1 || !ok2 || uint64(len(b)-pos) < n {
			return fmt.Errorf("xz block header at offset %#x is malformed", xzStreamHeaderSize)
		}
		if id == xzFilterLZMA2 && n == 1 {
			p := b[pos]
			if p > 40 {
				return fmt.Errorf("xz LZMA2 dictionary code %d at offset %#x is invalid", p, xzStreamHeaderSize+pos)
			}
			var dict uint64 = 1<<32 - 1
			if p < 40 {
				dict = uint64(2|p&1) << (p/2 + 11)
			}
			if dict > maxXZDict {
				return fmt.Errorf("xz LZMA2 dictionary of %d MiB is larger than any module needs (limit %d MiB)", dict>>20, maxXZDict>>20)
			}
		}
		pos += int(n)
	}
	return nil
}

// readInfo parses an uncompressed module. debug/elf is not hardened against every
// malformed file, so a panic inside it becomes an error about this file.
func readInfo(path string, r io.ReaderAt) (info *ModuleInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			info, err = nil, &Error{path, -1, fmt.Sprintf("malformed ELF file (%v)", p)}
		}
	}()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, &Error{path, -1, "not a kernel module: " + err.Error()}
	}
	if ef.Type != elf.ET_REL {
		return nil, &Error{path, 0x10, fmt.Sprintf("ELF type %v, want ET_REL (a kernel module is a relocatable object)", ef.Type)}
	}
	sec := ef.Section(".modinfo")
	if sec == nil {
		return nil, &Error{path, -1, "no .modinfo section: not a kernel module"}
	}
	if sec.Type == elf.SHT_NOBITS || sec.Size > maxModinfoSize {
		return nil, &Error{path, int64(sec.Offset), fmt.Sprintf(".modinfo section of %d bytes (type %v) is not plausible", sec.Size, sec.Type)}
	}
	data, err := sec.Data()
	if err != nil {
		return nil, &Error{path, int64(sec.Offset), "reading .modinfo: " + err.Error()}
	}
	return parseModinfo(path, int64(sec.Offset), data)
}

// parseModinfo splits the NUL-separated key=value strings of a .modinfo section
// (padding NULs between entries are skipped).
func parseModinfo(path string, off int64, data []byte) (*ModuleInfo, error) {
	info := &ModuleInfo{Path: path}
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], 0)
		if end < 0 {
			end = len(data) - pos
		}
		s := string(data[pos : pos+end])
		at := pos
		pos += end + 1
		if s == "" {
			continue
		}
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			return nil, &Error{path, off + int64(at), fmt.Sprintf(".modinfo entry %q is not key=value", truncate(s))}
		}
		info.Fields = append(info.Fields, Field{key, val})
		switch key {
		case "name":
			info.Name = Normalize(val)
		case "depends":
			for _, d := range strings.Split(val, ",") {
				if d = strings.TrimSpace(d); d != "" {
					info.Depends = append(info.Depends, Normalize(d))
				}
			}
		case "softdep":
			info.SoftDeps = append(info.SoftDeps, val)
		case "alias":
			info.Aliases = append(info.Aliases, val)
		case "vermagic":
			info.Vermagic = val
		case "license":
			info.License = val
		}
	}
	if info.Name == "" {
		// Modules built before name= existed (kernel 4.x) are named by their file.
		info.Name = nameFromPath(path)
	}
	return info, nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// nameFromPath returns the module name a file holds by convention:
// ".../virtio-blk.ko.xz" holds virtio_blk.
func nameFromPath(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if i := strings.Index(base, ".ko"); i > 0 {
		base = base[:i]
	}
	return Normalize(base)
}

// isModuleFile reports whether a file name is a kernel module by its extension.
func isModuleFile(name string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}
