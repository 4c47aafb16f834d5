package volume

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// The LVM2 on-disk layout (lvm2's lib/label/label.h and lib/format_text/layout.h),
// all little-endian. A physical volume starts with a label in one of its first four
// 512-byte sectors (normally sector 1); the label sector also holds the pv_header,
// which lists the data area (where extents start, pe_start) and the metadata areas.
// Each metadata area begins with a 512-byte mda_header whose raw_locn entries say
// where in the area (a ring buffer) the current metadata text lies.
const (
	sectorSize       = 512
	labelScanSectors = 4

	// struct label_header (32 bytes)
	labelIDOff     = 0  // char id[8] = "LABELONE"
	labelSectorOff = 8  // __le64 sector_xl: the sector this label is in
	labelCRCOff    = 16 // __le32 crc_xl: CRC of bytes offset_xl.. to the sector's end
	labelOffsetOff = 20 // __le32 offset_xl: offset of the pv_header from the label
	labelTypeOff   = 24 // char type[8] = "LVM2 001"
	labelID        = "LABELONE"
	labelType      = "LVM2 001"

	// struct pv_header
	pvUUIDLen       = 32 // char pv_uuid[32], the UUID without its dashes
	pvDeviceSizeOff = 32 // __le64 device_size_xl, bytes
	pvAreasOff      = 40 // struct disk_locn {__le64 offset, size} lists, each ended by offset 0
	diskLocnSize    = 16

	// struct mda_header (one 512-byte sector)
	mdaHeaderSize  = 512
	mdaChecksumOff = 0  // __le32 checksum_xl: CRC of bytes 4..512
	mdaMagicOff    = 4  // char magic[16]
	mdaVersionOff  = 20 // __le32 version = 1
	mdaStartOff    = 24 // __le64 start: absolute byte offset of this header
	mdaSizeOff     = 32 // __le64 size of the area, header included
	mdaLocnsOff    = 40 // struct raw_locn list, ended by offset 0
	rawLocnSize    = 24 // __le64 offset (from the area's start), __le64 size, __le32 checksum, __le32 flags
	mdaMagic       = " LVM2 x[5A%r0N*>"
	mdaVersion     = 1

	rawLocnIgnored = 1 // RAW_LOCN_IGNORED: this copy is not kept up to date

	// maxMetadataText bounds the text read from a metadata area (lvm2's default area
	// is about 1 MiB; --metadatasize can make it larger, never near this).
	maxMetadataText = 64 << 20
)

// lvmCRCInitial is lvm2's INITIAL_CRC (lib/misc/crc.h).
const lvmCRCInitial = 0xf597a6cf

// lvmCRC is lvm2's calc_crc: the reflected CRC-32 of polynomial 0xedb88320 (the IEEE
// table) started from initial, without the usual inversion before and after.
func lvmCRC(initial uint32, p []byte) uint32 {
	return ^crc32.Update(^initial, crc32.IEEETable, p)
}

// Area is a byte range on a physical volume.
type Area struct {
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size"` // 0: to the end of the device (a data area)
}

// Label is what a physical volume's label sector says.
type Label struct {
	Sector        uint64 // the sector (0-3) holding the label
	UUID          string // the PV UUID in lvm2's printed form (6-4-4-4-4-4-6, dashes)
	DeviceSize    uint64 // bytes, as recorded at pvcreate
	DataAreas     []Area // normally one: offset pe_start, size 0
	MetadataAreas []Area // zero, one or two (a copy at the end of the device)
}

// ReadLabel finds and checks the LVM2 label in the first four sectors of r. A device
// without one gives ErrNotPV; a label that is there but damaged, a *FormatError.
func ReadLabel(r io.ReaderAt) (*Label, error) {
	buf := make([]byte, labelScanSectors*sectorSize)
	n, err := r.ReadAt(buf, 0)
	if n < len(buf) && err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	buf = buf[:n-n%sectorSize]
	for s := 0; s*sectorSize < len(buf); s++ {
		sec := buf[s*sectorSize : (s+1)*sectorSize]
		if string(sec[labelIDOff:labelIDOff+8]) != labelID {
			continue
		}
		base := int64(s * sectorSize)
		if got := binary.LittleEndian.Uint64(sec[labelSectorOff:]); got != uint64(s) {
			return nil, formatErrorf("lvm label", base+labelSectorOff, "label in sector %d says it is in sector %d", s, got)
		}
		if want, got := binary.LittleEndian.Uint32(sec[labelCRCOff:]), lvmCRC(lvmCRCInitial, sec[labelOffsetOff:]); got != want {
			return nil, formatErrorf("lvm label", base+labelCRCOff, "checksum %#08x, computed %#08x", want, got)
		}
		if t := sec[labelTypeOff : labelTypeOff+8]; string(t) != labelType {
			return nil, formatErrorf("lvm label", base+labelTypeOff, "type %q, expected %q", t, labelType)
		}
		return parsePVHeader(sec, base, uint64(s))
	}
	return nil, ErrNotPV
}

func parsePVHeader(sec []byte, base int64, sector uint64) (*Label, error) {
	off := binary.LittleEndian.Uint32(sec[labelOffsetOff:])
	if off < 32 || off > sectorSize-pvAreasOff-2*diskLocnSize {
		return nil, formatErrorf("lvm label", base+labelOffsetOff, "pv_header offset %d, expected 32..%d", off, sectorSize-pvAreasOff-2*diskLocnSize)
	}
	h := sec[off:]
	l := &Label{Sector: sector, DeviceSize: binary.LittleEndian.Uint64(h[pvDeviceSizeOff:])}
	uuid, err := formatUUID(h[:pvUUIDLen])
	if err != nil {
		return nil, formatErrorf("lvm label", base+int64(off), "PV UUID: %v", err)
	}
	l.UUID = uuid
	// Two lists of disk_locn, each ended by an entry with offset 0, inside the sector.
	p := pvAreasOff
	for list := 0; list < 2; list++ {
		for {
			if p+diskLocnSize > len(h) {
				return nil, formatErrorf("lvm label", base+int64(off)+int64(p), "area list runs past the label sector")
			}
			a := Area{Offset: binary.LittleEndian.Uint64(h[p:]), Size: binary.LittleEndian.Uint64(h[p+8:])}
			p += diskLocnSize
			if a.Offset == 0 {
				break
			}
			if list == 0 {
				l.DataAreas = append(l.DataAreas, a)
			} else {
				l.MetadataAreas = append(l.MetadataAreas, a)
			}
		}
	}
	if len(l.DataAreas) != 1 {
		return nil, formatErrorf("lvm label", base+int64(off)+pvAreasOff, "%d data areas, expected 1", len(l.DataAreas))
	}
	return l, nil
}

// formatUUID turns lvm2's 32 stored UUID characters into its printed 6-4-4-4-4-4-6
// form. lvm2 draws the characters from [0-9a-zA-Z!#].
func formatUUID(b []byte) (string, error) {
	if len(b) != pvUUIDLen {
		return "", fmt.Errorf("%d characters, expected %d", len(b), pvUUIDLen)
	}
	var s []byte
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '!' || c == '#') {
			return "", fmt.Errorf("character %q at %d", c, i)
		}
		switch i {
		case 6, 10, 14, 18, 22, 26:
			s = append(s, '-')
		}
		s = append(s, c)
	}
	return string(s), nil
}

// MetadataArea is a checked mda_header.
type MetadataArea struct {
	Start     uint64 // absolute byte offset of the header on the device
	Size      uint64 // bytes, header included
	Locations []RawLocation
}

// RawLocation says where in its metadata area one copy of the metadata text lies; the
// first is the committed one.
type RawLocation struct {
	Offset   uint64 // from the area's start
	Size     uint64 // bytes, the text's terminating NUL included
	Checksum uint32 // lvm2 CRC of the text
	Ignored  bool   // RAW_LOCN_IGNORED: lvm2 does not keep this copy current
}

// ReadMetadataArea reads and checks the mda_header of a.
func ReadMetadataArea(r io.ReaderAt, a Area) (*MetadataArea, error) {
	const f = "lvm metadata area"
	if a.Offset > 1<<62 {
		return nil, formatErrorf(f, -1, "metadata area offset %d out of range", a.Offset)
	}
	base := int64(a.Offset)
	h := make([]byte, mdaHeaderSize)
	if _, err := r.ReadAt(h, base); err != nil {
		return nil, fmt.Errorf("volume: reading the metadata area header at byte %d: %w", base, err)
	}
	if want, got := binary.LittleEndian.Uint32(h[mdaChecksumOff:]), lvmCRC(lvmCRCInitial, h[mdaMagicOff:]); want != got {
		return nil, formatErrorf(f, base+mdaChecksumOff, "checksum %#08x, computed %#08x", want, got)
	}
	if m := h[mdaMagicOff : mdaMagicOff+16]; string(m) != mdaMagic {
		return nil, formatErrorf(f, base+mdaMagicOff, "magic %q, expected %q", m, mdaMagic)
	}
	if v := binary.LittleEndian.Uint32(h[mdaVersionOff:]); v != mdaVersion {
		return nil, formatErrorf(f, base+mdaVersionOff, "version %d, expected %d", v, mdaVersion)
	}
	m := &MetadataArea{Start: binary.LittleEndian.Uint64(h[mdaStartOff:]), Size: binary.LittleEndian.Uint64(h[mdaSizeOff:])}
	if m.Start != a.Offset {
		return nil, formatErrorf(f, base+mdaStartOff, "header says it starts at byte %d, the label says %d", m.Start, a.Offset)
	}
	if m.Size < mdaHeaderSize || a.Size != 0 && m.Size != a.Size {
		return nil, formatErrorf(f, base+mdaSizeOff, "area size %d, expected the label's %d (at least %d)", m.Size, a.Size, mdaHeaderSize)
	}
	for p := mdaLocnsOff; p+rawLocnSize <= mdaHeaderSize; p += rawLocnSize {
		l := RawLocation{
			Offset:   binary.LittleEndian.Uint64(h[p:]),
			Size:     binary.LittleEndian.Uint64(h[p+8:]),
			Checksum: binary.LittleEndian.Uint32(h[p+16:]),
			Ignored:  binary.LittleEndian.Uint32(h[p+20:])&rawLocnIgnored != 0,
		}
		if l.Offset == 0 {
			break
		}
		// The text lies in the ring after the header and may wrap once to its start.
		if l.Offset < mdaHeaderSize || l.Offset >= m.Size || l.Size > m.Size-mdaHeaderSize || l.Size > maxMetadataText {
			return nil, formatErrorf(f, base+int64(p), "metadata text at %d, %d bytes, does not fit the %d-byte area", l.Offset, l.Size, m.Size)
		}
		m.Locations = append(m.Locations, l)
	}
	return m, nil
}

// ReadText returns the committed metadata text of the area (without its NUL), after
// checking its CRC. An area with no text (a PV not yet in a VG) or whose copy is
// ignored gives nil, nil.
func (m *MetadataArea) ReadText(r io.ReaderAt) ([]byte, error) {
	if len(m.Locations) == 0 || m.Locations[0].Ignored || m.Locations[0].Size == 0 {
		return nil, nil
	}
	l := m.Locations[0]
	first, wrap := l.Size, uint64(0)
	if l.Offset+l.Size > m.Size {
		wrap = l.Offset + l.Size - m.Size
		first -= wrap
	}
	text, err := readChunks(r, int64(m.Start+l.Offset), first, nil)
	if err == nil && wrap > 0 {
		text, err = readChunks(r, int64(m.Start+mdaHeaderSize), wrap, text)
	}
	if err != nil {
		return nil, fmt.Errorf("volume: reading metadata text at byte %d: %w", m.Start+l.Offset, err)
	}
	if got := lvmCRC(lvmCRCInitial, text); got != l.Checksum {
		return nil, formatErrorf("lvm metadata text", int64(m.Start+l.Offset), "checksum %#08x, computed %#08x", l.Checksum, got)
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	return text, nil
}

// readChunks appends n bytes read at off to buf, a megabyte at a time, so that a
// corrupt size fails at the device's end instead of allocating it all up front.
func readChunks(r io.ReaderAt, off int64, n uint64, buf []byte) ([]byte, error) {
	const chunk = 1 << 20
	for n > 0 {
		c := min(n, chunk)
		start := len(buf)
		buf = append(buf, make([]byte, c)...)
		if _, err := r.ReadAt(buf[start:], off); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		off += int64(c)
		n -= c
	}
	return buf, nil
}

// PV is a physical volume as read from its device: the label, and the volume group
// from the freshest metadata copy on it (nil for a PV outside any VG, or one whose
// metadata areas are all ignored or absent: its VG's metadata is on other PVs).
type PV struct {
	Label *Label
	VG    *VG
	Text  []byte // the metadata text VG was parsed from
}

// ReadPV reads a physical volume's label and metadata.
func ReadPV(r io.ReaderAt) (*PV, error) {
	l, err := ReadLabel(r)
	if err != nil {
		return nil, err
	}
	pv := &PV{Label: l}
	var firstErr error
	for _, a := range l.MetadataAreas {
		m, err := ReadMetadataArea(r, a)
		var text []byte
		if err == nil {
			text, err = m.ReadText(r)
		}
		var vg *VG
		if err == nil && text != nil {
			vg, err = ParseMetadata(text)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if vg != nil && (pv.VG == nil || vg.Seqno > pv.VG.Seqno) {
			pv.VG, pv.Text = vg, text
		}
	}
	if pv.VG == nil && firstErr != nil {
		return nil, firstErr
	}
	return pv, nil
}
