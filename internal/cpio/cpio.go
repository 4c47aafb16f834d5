// Package cpio reads and writes cpio archives in the "newc" format (magic "070701"),
// the only archive format the Linux kernel unpacks as an initramfs. gokdump writes
// the capture initramfs with it and reads images back to check them.
//
// A newc entry is a 110-byte ASCII header (the magic and thirteen 8-digit hexadecimal
// fields), the NUL-terminated name padded so header+name is a multiple of 4 bytes,
// then the file data padded to a multiple of 4 bytes. A symbolic link's data is its
// target. The archive ends with an entry named "TRAILER!!!".
//
//	w := cpio.NewWriter(out)
//	w.WriteHeader(&cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755, Size: int64(len(b)), Nlink: 1})
//	w.Write(b)
//	w.Close()
package cpio

import (
	"errors"
	"fmt"
	"time"
)

// File type bits of Header.Mode, as the cpio format (and struct stat) encodes them.
const (
	TypeMask    = 0o170000
	TypeSocket  = 0o140000
	TypeSymlink = 0o120000
	TypeReg     = 0o100000
	TypeBlock   = 0o060000
	TypeDir     = 0o040000
	TypeChar    = 0o020000
	TypeFifo    = 0o010000
)

// Magic strings of the two "new ASCII" formats. The writer produces MagicNewc; the
// reader also accepts MagicCRC, whose header has the same layout plus a data checksum.
const (
	MagicNewc = "070701"
	MagicCRC  = "070702"
)

// Trailer is the name of the entry that ends an archive.
const Trailer = "TRAILER!!!"

// headerSize is the size of the fixed part of a newc header: 6 bytes of magic and
// 13 fields of 8 hexadecimal digits.
const headerSize = 6 + 13*8

// MaxNameSize bounds a name including its terminating NUL. The kernel's initramfs
// unpacker refuses names longer than PATH_MAX (4096), so longer names are never valid.
const MaxNameSize = 4096

// maxSize is the largest file size a newc header can express (an 8-digit hex field).
const maxSize = 1<<32 - 1

// Header is one archive entry's metadata, field for field what a newc header holds.
type Header struct {
	Name    string    // path inside the archive, usually without a leading "/"
	Mode    uint32    // file type bits (TypeReg, TypeDir, ...) and permission bits
	UID     uint32    // owner
	GID     uint32    // group
	Nlink   uint32    // number of links; 2 for directories, 1 for others by convention
	ModTime time.Time // modification time, whole seconds; the zero Time is written as 0
	Size    int64     // length of the data: file contents or symlink target
	Ino     uint32    // inode number; entries with equal Ino and Dev and Nlink > 1 are hard links
	// DevMajor and DevMinor identify the device holding the file (with Ino, for hard links).
	DevMajor, DevMinor uint32
	// RdevMajor and RdevMinor are the device number of a character or block device node.
	RdevMajor, RdevMinor uint32
	// Check is the checksum field: 0 in the newc format, the sum of the data bytes
	// in the "070702" format (read only).
	Check uint32
}

// Type returns the file type bits of h.Mode.
func (h *Header) Type() uint32 { return h.Mode & TypeMask }

// FormatError reports an archive that does not follow the newc format. Off is the
// byte offset in the archive where the problem was found.
type FormatError struct {
	Off int64  // offset in the archive
	Msg string // what is wrong
	Val any    // the offending value, if any
}

func (e *FormatError) Error() string {
	msg := "cpio: " + e.Msg
	if e.Val != nil {
		msg += fmt.Sprintf(" '%v'", e.Val)
	}
	return msg + fmt.Sprintf(" at offset %#x", e.Off)
}

// Errors returned by the Writer for misuse.
var (
	ErrWriteTooLong  = errors.New("cpio: write too long")
	ErrWriteAfterEnd = errors.New("cpio: write after close")
)

// pad4 returns how many bytes pad n up to a multiple of 4.
func pad4(n int64) int64 { return (4 - n%4) % 4 }
