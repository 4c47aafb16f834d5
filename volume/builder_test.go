package volume

import (
	"encoding/binary"
	"strings"
)

// Writers of the on-disk formats, for tests and fuzz seeds: they lay out what the
// readers expect, from the constants the readers use, so a test can damage one field
// at a time. What they write is checked against the real tools elsewhere (lvm2 for
// the PV layout, mdadm --examine for the superblock).

// buildPV returns a physical volume's first peStart sectors: the label in sector 1,
// one metadata area from 4 KiB to pe_start with text (NUL added) right after its
// header, as pvcreate lays them out.
func buildPV(uuid string, text string, peStart uint64) []byte {
	img := make([]byte, peStart*sectorSize)
	le := binary.LittleEndian
	lab := img[sectorSize : 2*sectorSize]
	copy(lab[labelIDOff:], labelID)
	le.PutUint64(lab[labelSectorOff:], 1)
	le.PutUint32(lab[labelOffsetOff:], 32)
	copy(lab[labelTypeOff:], labelType)
	h := lab[32:]
	copy(h, strings.ReplaceAll(uuid, "-", ""))
	le.PutUint64(h[pvDeviceSizeOff:], 64<<20)
	mdaStart, mdaSize := uint64(4096), peStart*sectorSize-4096
	le.PutUint64(h[pvAreasOff:], peStart*sectorSize) // data area, size 0; then the end mark
	le.PutUint64(h[pvAreasOff+2*diskLocnSize:], mdaStart)
	le.PutUint64(h[pvAreasOff+2*diskLocnSize+8:], mdaSize)
	le.PutUint32(lab[labelCRCOff:], lvmCRC(lvmCRCInitial, lab[labelOffsetOff:]))

	m := img[mdaStart : mdaStart+mdaHeaderSize]
	copy(m[mdaMagicOff:], mdaMagic)
	le.PutUint32(m[mdaVersionOff:], mdaVersion)
	le.PutUint64(m[mdaStartOff:], mdaStart)
	le.PutUint64(m[mdaSizeOff:], mdaSize)
	if text != "" {
		t := append([]byte(text), 0)
		copy(img[mdaStart+mdaHeaderSize:], t)
		le.PutUint64(m[mdaLocnsOff:], mdaHeaderSize)
		le.PutUint64(m[mdaLocnsOff+8:], uint64(len(t)))
		le.PutUint32(m[mdaLocnsOff+16:], lvmCRC(lvmCRCInitial, t))
	}
	le.PutUint32(m[mdaChecksumOff:], lvmCRC(lvmCRCInitial, m[mdaMagicOff:]))
	return img
}

// memberSpec describes an md RAID member for buildMember.
type memberSpec struct {
	uuid       [16]byte
	name       string
	level      int32
	raidDisks  uint32
	devNumber  uint32
	roles      []uint16 // dev_roles; max_dev = len(roles)
	events     uint64
	dataOffset uint64 // sectors
	data       []byte // the member's data area
	dataSize   uint64 // sectors; at least len(data)/512
}

// buildMember returns a member device with a version-1.2 superblock at 4 KiB and data
// at data_offset, as mdadm --create lays it out (no bitmap, no bad-block log).
func buildMember(s memberSpec) []byte {
	img := make([]byte, (s.dataOffset+s.dataSize)*sectorSize)
	copy(img[s.dataOffset*sectorSize:], s.data)
	sb := img[mdSuperOffset:]
	le := binary.LittleEndian
	le.PutUint32(sb[mdMagicOff:], mdMagic)
	le.PutUint32(sb[mdMajorOff:], 1)
	copy(sb[mdSetUUIDOff:], s.uuid[:])
	copy(sb[mdSetNameOff:mdSetNameOff+32], s.name)
	le.PutUint64(sb[mdCTimeOff:], 1796601000)
	le.PutUint32(sb[mdLevelOff:], uint32(s.level))
	le.PutUint64(sb[mdSizeOff:], s.dataSize)
	le.PutUint32(sb[mdRaidDisksOff:], s.raidDisks)
	le.PutUint64(sb[mdDataOffsetOff:], s.dataOffset)
	le.PutUint64(sb[mdDataSizeOff:], s.dataSize)
	le.PutUint64(sb[mdSuperOffsetOff:], mdSuperSectors)
	le.PutUint32(sb[mdDevNumberOff:], s.devNumber)
	for i := range 16 {
		sb[mdDeviceUUIDOff+i] = byte(0xd0 + int(s.devNumber) + i)
	}
	le.PutUint64(sb[mdUTimeOff:], 1796601100)
	le.PutUint64(sb[mdEventsOff:], s.events)
	le.PutUint64(sb[mdResyncOffsetOff:], ^uint64(0)) // in sync
	le.PutUint32(sb[mdMaxDevOff:], uint32(len(s.roles)))
	for i, r := range s.roles {
		le.PutUint16(sb[mdDevRolesOff+2*i:], r)
	}
	le.PutUint32(sb[mdCsumOff:], mdChecksum(sb[:mdFixedSize+2*len(s.roles)]))
	return img
}

// raid1Members returns n members of one RAID1 array holding data.
func raid1Members(n int, data []byte, events uint64) [][]byte {
	var roles []uint16
	for i := range n {
		roles = append(roles, uint16(i))
	}
	var out [][]byte
	for i := range n {
		out = append(out, buildMember(memberSpec{
			uuid:       [16]byte{0x3a, 0x1f, 0x2b, 0x4c, 0x5d, 0x6e, 0x7f, 0x80, 0x91, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7, 0x08},
			name:       "capture:0",
			level:      1,
			raidDisks:  uint32(n),
			devNumber:  uint32(i),
			roles:      roles,
			events:     events,
			dataOffset: 2048,
			data:       data,
			dataSize:   max(uint64(len(data))/sectorSize, 2048),
		}))
	}
	return out
}
