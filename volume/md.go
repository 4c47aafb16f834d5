package volume

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// The md RAID version-1 superblock, struct mdp_superblock_1 of linux/raid/md_p.h,
// little-endian. Metadata 1.2 (mdadm's default) keeps it 4 KiB from the member's start;
// its first 256 bytes are fixed, then come max_dev 16-bit device roles.
const (
	mdSuperOffset  = 4096
	mdMagic        = 0xa92b4efc
	mdFixedSize    = 256
	mdMaxDev       = (4096 - mdFixedSize) / 2 // the kernel keeps the superblock in one page
	mdSuperSectors = mdSuperOffset / sectorSize

	mdMagicOff        = 0   // __le32 magic
	mdMajorOff        = 4   // __le32 major_version = 1
	mdFeatureOff      = 8   // __le32 feature_map
	mdSetUUIDOff      = 16  // __u8 set_uuid[16]
	mdSetNameOff      = 32  // char set_name[32]
	mdCTimeOff        = 64  // __le64 ctime
	mdLevelOff        = 72  // __le32 level (-1 linear, 0, 1, 4, 5, 6, 10)
	mdLayoutOff       = 76  // __le32 layout
	mdSizeOff         = 80  // __le64 size: used sectors of each member
	mdChunkOff        = 88  // __le32 chunksize, sectors
	mdRaidDisksOff    = 92  // __le32 raid_disks
	mdDataOffsetOff   = 128 // __le64 data_offset, sectors
	mdDataSizeOff     = 136 // __le64 data_size, sectors
	mdSuperOffsetOff  = 144 // __le64 super_offset, sectors
	mdDevNumberOff    = 160 // __le32 dev_number: index into dev_roles
	mdDeviceUUIDOff   = 168 // __u8 device_uuid[16]
	mdUTimeOff        = 192 // __le64 utime
	mdEventsOff       = 200 // __le64 events
	mdResyncOffsetOff = 208 // __le64 resync_offset
	mdCsumOff         = 216 // __le32 sb_csum
	mdMaxDevOff       = 220 // __le32 max_dev
	mdDevRolesOff     = 256 // __le16 dev_roles[max_dev]

	// Feature bits the capture does not bring up: a reshape in progress
	// (MD_FEATURE_RESHAPE_ACTIVE) or a journal device (MD_FEATURE_JOURNAL).
	mdFeatureReshapeActive = 4
	mdFeatureJournal       = 512

	// Roles in dev_roles beyond the slot numbers.
	MDRoleSpare   = 0xffff
	MDRoleFaulty  = 0xfffe
	MDRoleJournal = 0xfffd
)

// Superblock is a checked md version-1.2 superblock.
type Superblock struct {
	FeatureMap   uint32
	SetUUID      [16]byte
	SetName      string // "host:name", as mdadm sets it
	CTime        uint64 // low 40 bits seconds
	Level        int32  // -1 linear, 0, 1, 4, 5, 6, 10
	Layout       uint32
	Size         uint64 // sectors of each member the array uses
	ChunkSectors uint32
	RaidDisks    uint32
	DataOffset   uint64 // sectors
	DataSize     uint64 // sectors
	SuperOffset  uint64 // sectors; 8 for metadata 1.2
	DevNumber    uint32
	DeviceUUID   [16]byte
	UTime        uint64
	Events       uint64 // bumped at every superblock update: the freshest member wins
	ResyncOffset uint64
	Checksum     uint32
	DevRoles     []uint16 // indexed by dev_number: a slot, MDRoleSpare or MDRoleFaulty
}

// UUID returns the array's UUID as mdadm prints it (8:8:8:8 hexadecimal digits).
func (sb *Superblock) UUID() string { return formatMDUUID(sb.SetUUID) }

func formatMDUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + ":" + h[8:16] + ":" + h[16:24] + ":" + h[24:32]
}

// Role returns this member's role: its slot in the array, MDRoleSpare or MDRoleFaulty.
func (sb *Superblock) Role() uint16 {
	if int(sb.DevNumber) < len(sb.DevRoles) {
		return sb.DevRoles[sb.DevNumber]
	}
	return MDRoleFaulty
}

// mdChecksum is the kernel's calc_sb_1_csum: the sum of the superblock's 256+2*max_dev
// bytes as little-endian 32-bit words (a final 16-bit half word added as such), with
// sb_csum counted as zero, folded once from 64 to 32 bits.
func mdChecksum(b []byte) uint32 {
	var sum uint64
	i := 0
	for ; i+4 <= len(b); i += 4 {
		if i == mdCsumOff {
			continue
		}
		sum += uint64(binary.LittleEndian.Uint32(b[i:]))
	}
	if len(b)-i == 2 {
		sum += uint64(binary.LittleEndian.Uint16(b[i:]))
	}
	return uint32(sum&0xffffffff + sum>>32)
}

// ReadSuperblock reads and checks the md superblock 4 KiB into a member device. A
// device without the magic there gives ErrNotMember; anything else wrong, a
// *FormatError.
func ReadSuperblock(r io.ReaderAt) (*Superblock, error) {
	const f = "md superblock"
	b := make([]byte, mdFixedSize)
	if _, err := r.ReadAt(b, mdSuperOffset); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, ErrNotMember
		}
		return nil, err
	}
	le := binary.LittleEndian
	if le.Uint32(b[mdMagicOff:]) != mdMagic {
		return nil, ErrNotMember
	}
	if v := le.Uint32(b[mdMajorOff:]); v != 1 {
		return nil, formatErrorf(f, mdSuperOffset+mdMajorOff, "major_version %d, expected 1", v)
	}
	if so := le.Uint64(b[mdSuperOffsetOff:]); so != mdSuperSectors {
		return nil, formatErrorf(f, mdSuperOffset+mdSuperOffsetOff, "super_offset %d sectors, expected %d (metadata 1.2)", so, mdSuperSectors)
	}
	maxDev := le.Uint32(b[mdMaxDevOff:])
	if maxDev > mdMaxDev {
		return nil, formatErrorf(f, mdSuperOffset+mdMaxDevOff, "max_dev %d, expected at most %d", maxDev, mdMaxDev)
	}
	full := make([]byte, mdFixedSize+2*int(maxDev))
	copy(full, b)
	if maxDev > 0 {
		if _, err := r.ReadAt(full[mdFixedSize:], mdSuperOffset+mdFixedSize); err != nil {
			return nil, fmt.Errorf("volume: reading %d md device roles: %w", maxDev, err)
		}
	}
	sb := &Superblock{
		FeatureMap:   le.Uint32(b[mdFeatureOff:]),
		SetName:      strings.TrimRight(string(b[mdSetNameOff:mdSetNameOff+32]), "\x00"),
		CTime:        le.Uint64(b[mdCTimeOff:]),
		Level:        int32(le.Uint32(b[mdLevelOff:])),
		Layout:       le.Uint32(b[mdLayoutOff:]),
		Size:         le.Uint64(b[mdSizeOff:]),
		ChunkSectors: le.Uint32(b[mdChunkOff:]),
		RaidDisks:    le.Uint32(b[mdRaidDisksOff:]),
		DataOffset:   le.Uint64(b[mdDataOffsetOff:]),
		DataSize:     le.Uint64(b[mdDataSizeOff:]),
		SuperOffset:  le.Uint64(b[mdSuperOffsetOff:]),
		DevNumber:    le.Uint32(b[mdDevNumberOff:]),
		UTime:        le.Uint64(b[mdUTimeOff:]),
		Events:       le.Uint64(b[mdEventsOff:]),
		ResyncOffset: le.Uint64(b[mdResyncOffsetOff:]),
		Checksum:     le.Uint32(b[mdCsumOff:]),
	}
	copy(sb.SetUUID[:], b[mdSetUUIDOff:])
	copy(sb.DeviceUUID[:], b[mdDeviceUUIDOff:])
	if got := mdChecksum(full); got != sb.Checksum {
		return nil, formatErrorf(f, mdSuperOffset+mdCsumOff, "checksum %#08x, computed %#08x", sb.Checksum, got)
	}
	if sb.RaidDisks == 0 || sb.RaidDisks > maxDev {
		return nil, formatErrorf(f, mdSuperOffset+mdRaidDisksOff, "raid_disks %d, expected 1..max_dev %d", sb.RaidDisks, maxDev)
	}
	if sb.DataOffset < mdSuperSectors+1 {
		return nil, formatErrorf(f, mdSuperOffset+mdDataOffsetOff, "data_offset %d sectors, expected past the superblock", sb.DataOffset)
	}
	for i := range int(maxDev) {
		sb.DevRoles = append(sb.DevRoles, le.Uint16(full[mdDevRolesOff+2*i:]))
	}
	return sb, nil
}
