package gpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Write writes a primary GPT (a protective MBR, the header at LBA 1, 128 entries of
// 128 bytes from LBA 2) for a disk of diskSize bytes, with t's partitions at the
// entry of their Number. It is the writer the tests make tables and fuzz seeds
// with; real disks are partitioned with sfdisk or parted. The backup table is not
// written.
func Write(w io.WriterAt, diskSize int64, t *Table) error {
	ss := int64(t.SectorSize)
	if ss != 512 && ss != 4096 {
		return fmt.Errorf("gpt: sector size %d, want 512 or 4096", ss)
	}
	const n, esz = 128, 128
	entries := make([]byte, n*esz)
	for _, p := range t.Partitions {
		if p.Number < 1 || p.Number > n {
			return fmt.Errorf("gpt: partition number %d, want 1 to %d", p.Number, n)
		}
		e := entries[(p.Number-1)*esz:][:esz]
		for i, g := range []string{p.Type, p.UUID} {
			b, err := parseGUID(g)
			if err != nil {
				return err
			}
			copy(e[16*i:], b)
		}
		binary.LittleEndian.PutUint64(e[32:], p.First)
		binary.LittleEndian.PutUint64(e[40:], p.Last)
		for i, c := range utf16.Encode([]rune(p.Name)) {
			if i >= 36 {
				return fmt.Errorf("gpt: partition name %q longer than 36 UTF-16 units", p.Name)
			}
			binary.LittleEndian.PutUint16(e[56+2*i:], c)
		}
	}
	disk, err := parseGUID(t.DiskGUID)
	if err != nil {
		return err
	}
	lastLBA := uint64(diskSize/ss) - 1
	h := header{Revision: 0x10000, HeaderSize: headerMin, MyLBA: 1, AlternateLBA: lastLBA,
		FirstUsable: uint64(2 + n*esz/ss), LastUsable: lastLBA - uint64(n*esz/ss) - 1,
		EntriesLBA: 2, NumEntries: n, EntrySize: esz, EntriesCRC: crc32.ChecksumIEEE(entries)}
	copy(h.Signature[:], signature)
	copy(h.DiskGUID[:], disk)
	blk := make([]byte, ss)
	if _, err := binary.Encode(blk, binary.LittleEndian, &h); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(blk[16:], crc32.ChecksumIEEE(blk[:headerMin]))
	mbr := make([]byte, 512)
	mbr[446+4] = 0xee // a protective partition over the disk
	binary.LittleEndian.PutUint32(mbr[446+8:], 1)
	binary.LittleEndian.PutUint32(mbr[446+12:], uint32(min(lastLBA, 0xffffffff)))
	mbr[510], mbr[511] = 0x55, 0xaa
	for _, wr := range []struct {
		b   []byte
		off int64
	}{{mbr, 0}, {blk, ss}, {entries, 2 * ss}} {
		if _, err := w.WriteAt(wr.b, wr.off); err != nil {
			return err
		}
	}
	return nil
}

// parseGUID turns a GUID's text into its mixed-endian bytes.
func parseGUID(s string) ([]byte, error) {
	hex := strings.ReplaceAll(s, "-", "")
	if len(hex) != 32 || strings.Count(s, "-") != 4 {
		return nil, errors.New("gpt: " + strconv.Quote(s) + " is not a GUID")
	}
	b := make([]byte, 16)
	for i := range b {
		v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, errors.New("gpt: " + strconv.Quote(s) + " is not a GUID")
		}
		b[i] = byte(v)
	}
	// The first three fields are little-endian on disk.
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b, nil
}
