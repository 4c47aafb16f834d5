// Package initramfs builds initramfs images: a newc cpio archive, optionally
// compressed with gzip or zstd (both of which the kernel unpacks), holding the files,
// directories, symbolic links and device nodes of a small root filesystem. gokdump
// uses it for the capture initramfs (and the real-crash lab for its guests).
//
// Images are reproducible: entries are written in path order with fixed inode
// numbers, owner root and one modification time (the zero time by default), so the
// same inputs give the same bytes, and a rebuilt image can be compared to the
// installed one.
//
//	a := initramfs.New()
//	a.AddFileFrom("init", 0o755, "/usr/bin/gokdump")
//	a.AddDevice("dev/console", os.ModeCharDevice|0o600, 5, 1)
//	err := a.WriteImage(w, initramfs.Zstd)
package initramfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gokdump/gokdump/internal/cpio"
)

// Archive is an initramfs being assembled. The zero value is not usable; call New.
type Archive struct {
	// ModTime is the modification time of every entry. The zero Time (the default)
	// is written as 0, the Unix epoch, which keeps images reproducible.
	ModTime time.Time

	entries map[string]*entry
}

type entryKind int

const (
	kindDir entryKind = iota
	kindFile
	kindSymlink
	kindDevice
)

type entry struct {
	kind     entryKind
	implicit bool   // a parent directory created for a child, not added by the caller
	mode     uint32 // cpio mode: type bits and permissions
	data     []byte // file contents or symlink target
	src      string // file to copy at write time, when not ""
	major    uint32 // device number of a device node
	minor    uint32
}

// New returns an empty archive.
func New() *Archive { return &Archive{entries: map[string]*entry{}} }

// AddFile adds a regular file with the given permissions and contents.
func (a *Archive) AddFile(name string, mode os.FileMode, data []byte) error {
	if int64(len(data)) > maxFileSize {
		return fmt.Errorf("initramfs: %s: %d bytes is more than a newc archive holds", name, len(data))
	}
	return a.add(name, &entry{kind: kindFile, mode: cpio.TypeReg | permBits(mode), data: data})
}

// maxFileSize is the largest file a newc header can describe.
const maxFileSize = 1<<32 - 1

// AddFileFrom adds a regular file whose contents are read from srcPath when the
// image is written, so large files (kernel modules, the gokdump binary) are
// streamed instead of held in memory. srcPath must be a regular file (symbolic links
// are followed) now and when the image is written.
func (a *Archive) AddFileFrom(name string, mode os.FileMode, srcPath string) error {
	st, err := os.Stat(srcPath)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s: source %s is not a regular file (%v)", name, srcPath, st.Mode().Type())
	}
	if st.Size() > maxFileSize {
		return fmt.Errorf("initramfs: %s: source %s has %d bytes, more than a newc archive holds", name, srcPath, st.Size())
	}
	return a.add(name, &entry{kind: kindFile, mode: cpio.TypeReg | permBits(mode), src: srcPath})
}

// AddDir adds a directory. Adding a directory that exists sets its permissions.
func (a *Archive) AddDir(name string, mode os.FileMode) error {
	return a.add(name, &entry{kind: kindDir, mode: cpio.TypeDir | permBits(mode)})
}

// AddSymlink adds a symbolic link to target (not checked: it is resolved in the
// booted system).
func (a *Archive) AddSymlink(name, target string) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("initramfs: %s: invalid symbolic link target %q", name, target)
	}
	return a.add(name, &entry{kind: kindSymlink, mode: cpio.TypeSymlink | 0o777, data: []byte(target)})
}

// AddDevice adds a device node: a character device when mode has
// os.ModeCharDevice (for example os.ModeCharDevice|0o600 for dev/console, 5:1), a
// block device when it has os.ModeDevice alone.
func (a *Archive) AddDevice(name string, mode os.FileMode, major, minor uint32) error {
	var typ uint32
	switch {
	case mode&os.ModeCharDevice != 0:
		typ = cpio.TypeChar
	case mode&os.ModeDevice != 0:
		typ = cpio.TypeBlock
	default:
		return fmt.Errorf("initramfs: %s: device mode %v has neither os.ModeCharDevice nor os.ModeDevice", name, mode)
	}
	return a.add(name, &entry{kind: kindDevice, mode: typ | permBits(mode), major: major, minor: minor})
}

// permBits turns the permission, setuid, setgid and sticky bits of an os.FileMode
// into their cpio (stat) encoding.
func permBits(m os.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// cleanName turns a path as callers write it ("/etc/kdump.conf", "etc/kdump.conf")
// into the archive's form, without a leading "/", refusing paths that leave the root.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("initramfs: path %q contains a NUL byte", name)
	}
	c := strings.TrimPrefix(path.Clean("/"+name), "/")
	if c == "" {
		return "", fmt.Errorf("initramfs: path %q names the root directory, which the kernel creates", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("initramfs: path %q contains \"..\"", name)
		}
	}
	if len(c)+1 > cpio.MaxNameSize {
		return "", fmt.Errorf("initramfs: path of %d bytes is longer than the kernel accepts: %.40q...", len(c), c)
	}
	return c, nil
}

func (a *Archive) add(name string, e *entry) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	// Every parent must be a directory; create the missing ones (0755).
	for dir := path.Dir(n); dir != "."; dir = path.Dir(dir) {
		if p, ok := a.entries[dir]; ok {
			if p.kind != kindDir {
				return fmt.Errorf("initramfs: %s: parent %s is already a %s, not a directory", n, dir, p.kind)
			}
			continue
		}
		a.entries[dir] = &entry{kind: kindDir, implicit: true, mode: cpio.TypeDir | 0o755}
	}
	if old, ok := a.entries[n]; ok {
		// An explicit AddDir may set the permissions of an existing directory;
		// anything else added twice is a mistake in the caller's file list.
		if !(old.kind == kindDir && e.kind == kindDir) {
			return fmt.Errorf("initramfs: %s: already added as a %s", n, old.kind)
		}
		if !old.implicit && old.mode != e.mode {
			return fmt.Errorf("initramfs: %s: directory added twice with modes %#o and %#o", n, old.mode&0o7777, e.mode&0o7777)
		}
	}
	a.entries[n] = e
	return nil
}

func (k entryKind) String() string {
	switch k {
	case kindDir:
		return "directory"
	case kindFile:
		return "regular file"
	case kindSymlink:
		return "symbolic link"
	case kindDevice:
		return "device node"
	}
	return "unknown entry"
}

// Paths returns the archive's paths in the order they are written.
func (a *Archive) Paths() []string {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	// Plain string order puts every directory before its contents, since a parent
	// is a prefix of its children's paths; the kernel needs exactly that.
	sort.Strings(names)
	return names
}

// WriteCPIO writes the uncompressed newc archive to w.
func (a *Archive) WriteCPIO(w io.Writer) error {
	cw := cpio.NewWriter(w)
	for i, n := range a.Paths() {
		e := a.entries[n]
		hdr := &cpio.Header{
			Name:    n,
			Mode:    e.mode,
			Nlink:   1,
			ModTime: a.ModTime,
			Ino:     uint32(i + 1), // fixed numbers, unique so no entry looks like a hard link
		}
		switch e.kind {
		case kindDir:
			hdr.Nlink = 2
		case kindDevice:
			hdr.RdevMajor, hdr.RdevMinor = e.major, e.minor
		}
		if e.src != "" {
			if err := writeFrom(cw, hdr, e.src); err != nil {
				return err
			}
			continue
		}
		hdr.Size = int64(len(e.data))
		if err := cw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		if _, err := cw.Write(e.data); err != nil {
			return fmt.Errorf("initramfs: %s: %w", n, err)
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// writeFrom writes an entry whose data is the file src, checking that the file
// still has the size its header announced.
func writeFrom(cw *cpio.Writer, hdr *cpio.Header, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", hdr.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", hdr.Name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s: source %s is no longer a regular file", hdr.Name, src)
	}
	hdr.Size = st.Size()
	if err := cw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("initramfs: %s: %w", src, err)
	}
	n, err := io.Copy(cw, f)
	if err == cpio.ErrWriteTooLong || (err == nil && n < hdr.Size) {
		return fmt.Errorf("initramfs: %s: source %s changed size while being written (%d bytes announced)", hdr.Name, src, hdr.Size)
	}
	if err != nil {
		return fmt.Errorf("initramfs: %s: copying %s: %w", hdr.Name, src, err)
	}
	return nil
}

// WriteImage writes the archive compressed with c to w.
func (a *Archive) WriteImage(w io.Writer, c Compression) error {
	cw, err := c.newWriter(w)
	if err != nil {
		return err
	}
	if err := a.WriteCPIO(cw); err != nil {
		cw.Close()
		return err
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: finishing %v stream: %w", c, err)
	}
	return nil
}

// WriteFile writes the image to file (mode 0600: it may hold ssh keys) through a
// temporary file in the same directory and renames it into place, so a crash or an
// error never leaves a half-written initramfs where the kernel would load it.
func (a *Archive) WriteFile(file string, c Compression) (err error) {
	dir, base := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := a.WriteImage(tmp, c); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}
