package lab

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// The service lab's dump target is an ext4 file system the host makes on a disk image
// and reads back without mounting it (the host may not mount, and mounting would
// replay or change what the guest left): mkfs.ext4 and debugfs from e2fsprogs.

// MakeExt4 creates a sparse disk image of sizeMiB holding an empty ext4 file system
// labelled label.
func MakeExt4(ctx context.Context, path string, sizeMiB int, label string) error {
	if err := makeDisk(path, int64(sizeMiB)<<20); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", label, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: mkfs.ext4 %s: %v: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// Ext4Entry is one line of debugfs's "ls -l".
type Ext4Entry struct {
	Name string
	Mode uint32 // st_mode: type and permission bits
	Size int64
}

// IsDir says whether the entry is a directory.
func (e Ext4Entry) IsDir() bool { return e.Mode&0o170000 == 0o040000 }

// Perm is the entry's permission bits.
func (e Ext4Entry) Perm() os.FileMode { return os.FileMode(e.Mode & 0o777) }

// debugfs runs one debugfs request on img. debugfs exits 0 even when the request
// fails, so a message on stderr other than its banner is the error.
func debugfs(ctx context.Context, img, request string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "debugfs", "-R", request, img)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("lab: debugfs -R %q %s: %v: %s", request, img, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var msgs []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "debugfs ") {
			msgs = append(msgs, l)
		}
	}
	if len(msgs) > 0 {
		return "", fmt.Errorf("lab: debugfs -R %q %s: %s", request, img, strings.Join(msgs, "; "))
	}
	return stdout.String(), nil
}

// Ext4List lists the directory dir of the ext4 image img (without . and ..).
func Ext4List(ctx context.Context, img, dir string) ([]Ext4Entry, error) {
	out, err := debugfs(ctx, img, "ls -l "+dir)
	if err != nil {
		return nil, err
	}
	var ents []Ext4Entry
	for _, l := range strings.Split(out, "\n") {
		// " 12   40700 (2)      0      0    1024 26-Nov-2026 06:41 name"
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("lab: debugfs ls -l %s: unexpected line %q", dir, l)
		}
		mode, err1 := strconv.ParseUint(f[1], 8, 32)
		size, err2 := strconv.ParseInt(f[5], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("lab: debugfs ls -l %s: unexpected line %q", dir, l)
		}
		name := strings.Join(f[8:], " ")
		if name == "." || name == ".." {
			continue
		}
		ents = append(ents, Ext4Entry{Name: name, Mode: uint32(mode), Size: size})
	}
	return ents, nil
}

// Ext4Extract copies the directory dir of the ext4 image img, recursively and with its
// permissions, into outDir (as outDir/<base of dir>).
func Ext4Extract(ctx context.Context, img, dir, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	_, err := debugfs(ctx, img, fmt.Sprintf("rdump %s %s", dir, outDir))
	return err
}

// ExitProgram returns a minimal static x86_64 Linux executable that exits with code:
// a hook for the service lab, whose capture initramfs has no shell and no libc.
// One PT_LOAD maps the whole file; the code after the headers is
// mov edi, code; mov eax, 60 (exit); syscall.
func ExitProgram(code uint8) []byte {
	const base = 0x400000
	const hdrs = 64 + 56
	text := []byte{0xbf, code, 0, 0, 0, 0xb8, 60, 0, 0, 0, 0x0f, 0x05}
	size := uint64(hdrs + len(text))
	var b bytes.Buffer
	eh := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: base + hdrs, Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 1,
	}
	copy(eh.Ident[:], elf.ELFMAG)
	eh.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	eh.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	eh.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	ph := elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
	}
	binary.Write(&b, binary.LittleEndian, &eh)
	binary.Write(&b, binary.LittleEndian, &ph)
	b.Write(text)
	return b.Bytes()
}
