// Package gpt reads the GUID partition table (UEFI specification, chapter 5) of a
// disk: enough to find a partition by its unique GUID (what udev calls PARTUUID) or
// its name (PARTLABEL) where there is no udev, as in the capture kernel, and to know
// its extent.
//
//	t, err := gpt.Read(disk, 512) // an io.ReaderAt over the whole disk
//	for _, p := range t.Partitions { p.Number, p.UUID, p.Name, p.First, p.Last }
//
// Only the primary table is read and its header and entry checksums are checked; a
// disk without one is ErrNoTable, a damaged one a *FormatError naming the byte
// offset. It writes nothing.
package gpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

const (
	signature  = "EFI PART"
	headerMin  = 92
	maxEntries = 1024 // the specification's minimum array is 128; real ones are 128
	maxEntrySz = 4096
)

// ErrNoTable is wrapped by Read's error when the disk has no GPT signature at LBA 1.
var ErrNoTable = errors.New("gpt: no GUID partition table")

// FormatError reports a damaged table: Off is the byte offset on the disk.
type FormatError struct {
	Off int64
	Msg string
}

func (e *FormatError) Error() string { return fmt.Sprintf("gpt: offset %d: %s", e.Off, e.Msg) }

// Partition is one used entry of the table.
type Partition struct {
	Number      int    // 1-based index in the entry array, as the kernel numbers partitions
	UUID        string // the partition's unique GUID, lower case with dashes (udev's PARTUUID)
	Type        string // the partition type GUID
	Name        string // the partition name (udev's PARTLABEL)
	First, Last uint64 // LBAs, inclusive
}

// Table is a disk's partition table.
type Table struct {
	DiskGUID   string
	SectorSize int
	Partitions []Partition
}

// header is the GPT header's fixed part, little-endian, at LBA 1.
type header struct {
	Signature    [8]byte
	Revision     uint32
	HeaderSize   uint32
	HeaderCRC    uint32
	_            uint32
	MyLBA        uint64
	AlternateLBA uint64
	FirstUsable  uint64
	LastUsable   uint64
	DiskGUID     [16]byte
	EntriesLBA   uint64
	NumEntries   uint32
	EntrySize    uint32
	EntriesCRC   uint32
}

// Read reads the primary GPT of the disk r with the given logical sector size (512 or
// 4096).
func Read(r io.ReaderAt, sectorSize int) (*Table, error) {
	if sectorSize != 512 && sectorSize != 4096 {
		return nil, fmt.Errorf("gpt: sector size %d, want 512 or 4096", sectorSize)
	}
	ss := int64(sectorSize)
	blk := make([]byte, sectorSize)
	if _, err := r.ReadAt(blk, ss); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the disk is smaller than two sectors", ErrNoTable)
		}
		return nil, fmt.Errorf("gpt: reading LBA 1: %w", err)
	}
	if string(blk[:8]) != signature {
		return nil, fmt.Errorf("%w (LBA 1 of %d-byte sectors)", ErrNoTable, sectorSize)
	}
	var h header
	if _, err := binary.Decode(blk[:headerMin], binary.LittleEndian, &h); err != nil {
		return nil, &FormatError{Off: ss, Msg: err.Error()}
	}
	if h.HeaderSize < headerMin || int64(h.HeaderSize) > ss {
		return nil, &FormatError{Off: ss + 12, Msg: fmt.Sprintf("header size %d, want %d to %d", h.HeaderSize, headerMin, ss)}
	}
	c := append([]byte(nil), blk[:h.HeaderSize]...)
	clear(c[16:20])
	if got := crc32.ChecksumIEEE(c); got != h.HeaderCRC {
		return nil, &FormatError{Off: ss + 16, Msg: fmt.Sprintf("header CRC 0x%08x, computed 0x%08x", h.HeaderCRC, got)}
	}
	if h.MyLBA != 1 {
		return nil, &FormatError{Off: ss + 24, Msg: fmt.Sprintf("header at LBA %d says it is at LBA %d", 1, h.MyLBA)}
	}
	if h.NumEntries > maxEntries || h.EntrySize < 128 || h.EntrySize > maxEntrySz || h.EntrySize%8 != 0 {
		return nil, &FormatError{Off: ss + 80, Msg: fmt.Sprintf("%d entries of %d bytes: want at most %d entries of 128 to %d bytes (a multiple of 8)", h.NumEntries, h.EntrySize, maxEntries, maxEntrySz)}
	}
	if h.EntriesLBA < 2 || h.EntriesLBA > 1<<40 {
		return nil, &FormatError{Off: ss + 72, Msg: fmt.Sprintf("entries at LBA %d", h.EntriesLBA)}
	}
	arr := make([]byte, int(h.NumEntries)*int(h.EntrySize))
	base := int64(h.EntriesLBA) * ss
	if _, err := r.ReadAt(arr, base); err != nil {
		return nil, &FormatError{Off: base, Msg: fmt.Sprintf("reading %d bytes of entries: %v", len(arr), err)}
	}
	if got := crc32.ChecksumIEEE(arr); got != h.EntriesCRC {
		return nil, &FormatError{Off: ss + 88, Msg: fmt.Sprintf("entries CRC 0x%08x, computed 0x%08x", h.EntriesCRC, got)}
	}
	t := &Table{DiskGUID: guid(h.DiskGUID[:]), SectorSize: sectorSize}
	for i := 0; i < int(h.NumEntries); i++ {
		e := arr[i*int(h.EntrySize):][:h.EntrySize]
		if allZero(e[:16]) {
			continue // unused
		}
		p := Partition{
			Number: i + 1,
			Type:   guid(e[0:16]),
			UUID:   guid(e[16:32]),
			First:  binary.LittleEndian.Uint64(e[32:]),
			Last:   binary.LittleEndian.Uint64(e[40:]),
			Name:   utf16Name(e[56:128]),
		}
		if p.Last < p.First {
			return nil, &FormatError{Off: base + int64(i)*int64(h.EntrySize) + 32, Msg: fmt.Sprintf("partition %d ends (LBA %d) before it starts (LBA %d)", p.Number, p.Last, p.First)}
		}
		t.Partitions = append(t.Partitions, p)
	}
	return t, nil
}

// Partition returns the partition with the given unique GUID (any case), or nil.
func (t *Table) Partition(uuid string) *Partition {
	for i := range t.Partitions {
		if strings.EqualFold(t.Partitions[i].UUID, uuid) {
			return &t.Partitions[i]
		}
	}
	return nil
}

// guid formats a mixed-endian GUID as text: the first three fields are
// little-endian on disk.
func guid(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]), binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
