package target

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Superblock is what Probe learned from a device: the file system type and the names
// kdump.conf (and fstab) can use for it.
type Superblock struct {
	Type  string // "ext2", "ext3", "ext4", "xfs" or "btrfs"
	Label string // the volume label ("" when none is set)
	UUID  string // the file system UUID, lower-case 8-4-4-4-12 form as blkid prints it
}

// ErrUnknown is returned by Probe for a device that holds none of the file systems it
// knows (a partition table, swap, an empty disk ...).
var ErrUnknown = errors.New("target: no ext2/3/4, XFS or Btrfs superblock")

// Superblock layouts (offsets from the start of the device). Only the fields that
// identify a file system are read.
const (
	// ext2/3/4: struct ext4_super_block at byte 1024.
	extSuperOffset = 1024
	extMagicOff    = 0x38 // __le16 s_magic
	extMagic       = 0xEF53
	extCompatOff   = 0x5C // __le32 s_feature_compat
	extIncompatOff = 0x60 // __le32 s_feature_incompat
	extROCompatOff = 0x64 // __le32 s_feature_ro_compat
	extUUIDOff     = 0x68 // __u8 s_uuid[16]
	extLabelOff    = 0x78 // char s_volume_name[16]
	extLabelLen    = 16
	extSuperSize   = 0x88

	extCompatHasJournal = 0x4
	// Features only ext4 has (incompat: extents, 64bit, mmp, flex_bg, ea_inode,
	// dirdata, csum_seed, largedir, inline_data, encrypt, casefold; ro_compat:
	// huge_file, gdt_csum, dir_nlink, extra_isize, quota, bigalloc, metadata_csum).
	extIncompatExt4 = 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
	extROCompatExt4 = 0x8 | 0x10 | 0x20 | 0x40 | 0x100 | 0x200 | 0x400

	// XFS: struct xfs_sb at byte 0, big-endian.
	xfsMagic     = "XFSB"
	xfsUUIDOff   = 32  // uuid_t sb_uuid
	xfsLabelOff  = 108 // char sb_fname[12]
	xfsLabelLen  = 12
	xfsSuperSize = 120

	// Btrfs: struct btrfs_super_block at 64 KiB.
	btrfsSuperOffset = 64 << 10
	btrfsFSIDOff     = 32 // u8 fsid[16]: the UUID blkid reports
	btrfsMagicOff    = 64 // __le64 magic
	btrfsMagic       = "_BHRfS_M"
	btrfsLabelOff    = 0x12b // char label[256]
	btrfsLabelLen    = 256
	btrfsSuperSize   = btrfsLabelOff + btrfsLabelLen
)

// Probe reads the superblock at the start of a device (or image file) and says which
// file system it holds. name is used in errors. At most three small blocks are read.
func Probe(r io.ReaderAt, name string) (*Superblock, error) {
	var ext [extSuperSize]byte
	if err := readFull(r, ext[:], extSuperOffset); err == nil &&
		binary.LittleEndian.Uint16(ext[extMagicOff:]) == extMagic {
		sb := &Superblock{
			Type:  "ext2",
			Label: cString(ext[extLabelOff : extLabelOff+extLabelLen]),
			UUID:  formatUUID(ext[extUUIDOff : extUUIDOff+16]),
		}
		switch {
		case binary.LittleEndian.Uint32(ext[extIncompatOff:])&extIncompatExt4 != 0,
			binary.LittleEndian.Uint32(ext[extROCompatOff:])&extROCompatExt4 != 0:
			sb.Type = "ext4"
		case binary.LittleEndian.Uint32(ext[extCompatOff:])&extCompatHasJournal != 0:
			sb.Type = "ext3"
		}
		return sb, nil
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("target: %s: reading at offset %d: %w", name, extSuperOffset, err)
	}

	var xfs [xfsSuperSize]byte
	if err := readFull(r, xfs[:], 0); err == nil && string(xfs[:4]) == xfsMagic {
		return &Superblock{
			Type:  "xfs",
			Label: cString(xfs[xfsLabelOff : xfsLabelOff+xfsLabelLen]),
			UUID:  formatUUID(xfs[xfsUUIDOff : xfsUUIDOff+16]),
		}, nil
	}

	var btrfs [btrfsSuperSize]byte
	if err := readFull(r, btrfs[:], btrfsSuperOffset); err == nil &&
		string(btrfs[btrfsMagicOff:btrfsMagicOff+8]) == btrfsMagic {
		return &Superblock{
			Type:  "btrfs",
			Label: cString(btrfs[btrfsLabelOff : btrfsLabelOff+btrfsLabelLen]),
			UUID:  formatUUID(btrfs[btrfsFSIDOff : btrfsFSIDOff+16]),
		}, nil
	}
	return nil, fmt.Errorf("%w on %s", ErrUnknown, name)
}

// readFull reads len(p) bytes at off; a short device gives io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cString is a NUL-padded fixed-size string field.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// sameUUID compares UUIDs as blkid users write them: case does not matter.
func sameUUID(a, b string) bool { return strings.EqualFold(a, b) }
