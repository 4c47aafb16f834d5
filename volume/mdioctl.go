package volume

import "encoding/binary"

// The md ioctls (linux/raid/md_u.h) that assemble an array whose members carry
// persistent superblocks, as mdadm --assemble does for metadata 1.x: SET_ARRAY_INFO
// with only the superblock version (raid_disks 0 tells the kernel to read the rest
// from the members), ADD_NEW_DISK per member by major:minor (the kernel loads and
// compares each superblock), then RUN_ARRAY (the kernel picks the freshest members by
// event count and starts the array, degraded when members are missing).
const (
	mdMajor = 9 // MD_MAJOR: the block major of /dev/mdN and the ioctl type

	mdArrayInfoSize = 72 // mdu_array_info_t: 18 ints
	mdDiskInfoSize  = 20 // mdu_disk_info_t: number, major, minor, raid_disk, state
	mdParamSize     = 12 // mdu_param_t: personality, chunk_size, max_fault

	// Offsets in mdu_array_info_t.
	mdInfoMajorOff = 0 // int major_version
	mdInfoMinorOff = 4 // int minor_version

	mdNrGetArrayInfo = 0x11
	mdNrAddNewDisk   = 0x21
	mdNrSetArrayInfo = 0x23
	mdNrRunArray     = 0x30
	mdNrStopArray    = 0x32
)

var (
	mdGetArrayInfo = uintptr(2<<30 | mdArrayInfoSize<<16 | mdMajor<<8 | mdNrGetArrayInfo) // _IOR
	mdSetArrayInfo = ioctlIOW(mdMajor, mdNrSetArrayInfo, mdArrayInfoSize)
	mdAddNewDisk   = ioctlIOW(mdMajor, mdNrAddNewDisk, mdDiskInfoSize)
	mdRunArray     = ioctlIOW(mdMajor, mdNrRunArray, mdParamSize)
	mdStopArray    = ioctlIO(mdMajor, mdNrStopArray)
)

// mdArrayInfo encodes the SET_ARRAY_INFO argument naming superblock version
// major.minor and nothing else.
func mdArrayInfo(major, minor int32) []byte {
	b := make([]byte, mdArrayInfoSize)
	binary.LittleEndian.PutUint32(b[mdInfoMajorOff:], uint32(major))
	binary.LittleEndian.PutUint32(b[mdInfoMinorOff:], uint32(minor))
	return b
}

// mdDiskInfo encodes the ADD_NEW_DISK argument for a member.
func mdDiskInfo(number, major, minor, raidDisk, state int32) []byte {
	b := make([]byte, mdDiskInfoSize)
	for i, v := range []int32{number, major, minor, raidDisk, state} {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}
