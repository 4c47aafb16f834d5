package volume

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// TestKernelLayout compiles testdata/layout.c against the kernel's UAPI headers
// (linux/dm-ioctl.h, linux/raid/md_p.h, md_u.h) and holds every offset, size, flag and
// ioctl number package volume writes by hand to what the C compiler computes.
func TestKernelLayout(t *testing.T) {
	testenv.NeedPackages(t, map[string]string{"gcc": "gcc", "/usr/include/linux/dm-ioctl.h": "linux-libc-dev"})
	bin := filepath.Join(t.TempDir(), "layout")
	if out, err := exec.Command("gcc", "-Wall", "-o", bin, "testdata/layout.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, v, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(sc.Text())
		}
		c[name] = n
	}
	ours := map[string]uint64{
		"sizeof.dm_ioctl": dmIoctlSize, "dm_ioctl.version": dmVersionOff, "dm_ioctl.data_size": dmDataSizeOff,
		"dm_ioctl.data_start": dmDataStartOff, "dm_ioctl.target_count": dmTargetCountOff,
		"dm_ioctl.open_count": dmOpenCountOff, "dm_ioctl.flags": dmFlagsOff, "dm_ioctl.event_nr": dmEventNrOff,
		"dm_ioctl.dev": dmDevOff, "dm_ioctl.name": dmNameOff, "dm_ioctl.uuid": dmUUIDOff,
		"sizeof.dm_target_spec": dmTargetSpecSize, "dm_target_spec.sector_start": dmSpecStartOff,
		"dm_target_spec.length": dmSpecLengthOff, "dm_target_spec.status": dmSpecStatusOff,
		"dm_target_spec.next": dmSpecNextOff, "dm_target_spec.target_type": dmSpecTypeOff,
		"DM_NAME_LEN": dmNameLen, "DM_UUID_LEN": dmUUIDLen, "DM_MAX_TYPE_NAME": dmMaxTypeName,
		"DM_VERSION": uint64(dmIoctlNumber(dmCmdVersion)), "DM_DEV_CREATE": uint64(dmIoctlNumber(dmCmdDevCreate)),
		"DM_DEV_REMOVE": uint64(dmIoctlNumber(dmCmdDevRemove)), "DM_DEV_SUSPEND": uint64(dmIoctlNumber(dmCmdDevSuspend)),
		"DM_DEV_STATUS": uint64(dmIoctlNumber(dmCmdDevStatus)), "DM_TABLE_LOAD": uint64(dmIoctlNumber(dmCmdTableLoad)),
		"DM_TABLE_STATUS": uint64(dmIoctlNumber(dmCmdTableStatus)), "DM_VERSION_MAJOR": dmVersionMajor,
		"DM_READONLY_FLAG": dmReadonlyFlag, "DM_SUSPEND_FLAG": dmSuspendFlag, "DM_STATUS_TABLE_FLAG": dmStatusTableFlag,
		"DM_ACTIVE_PRESENT_FLAG": dmActivePresent, "DM_BUFFER_FULL_FLAG": dmBufferFullFlag,

		"sizeof.mdp_superblock_1": mdFixedSize, "mdp_superblock_1.magic": mdMagicOff,
		"mdp_superblock_1.major_version": mdMajorOff, "mdp_superblock_1.feature_map": mdFeatureOff,
		"mdp_superblock_1.set_uuid": mdSetUUIDOff, "mdp_superblock_1.set_name": mdSetNameOff,
		"mdp_superblock_1.ctime": mdCTimeOff, "mdp_superblock_1.level": mdLevelOff,
		"mdp_superblock_1.layout": mdLayoutOff, "mdp_superblock_1.size": mdSizeOff,
		"mdp_superblock_1.chunksize": mdChunkOff, "mdp_superblock_1.raid_disks": mdRaidDisksOff,
		"mdp_superblock_1.data_offset": mdDataOffsetOff, "mdp_superblock_1.data_size": mdDataSizeOff,
		"mdp_superblock_1.super_offset": mdSuperOffsetOff, "mdp_superblock_1.dev_number": mdDevNumberOff,
		"mdp_superblock_1.device_uuid": mdDeviceUUIDOff, "mdp_superblock_1.utime": mdUTimeOff,
		"mdp_superblock_1.events": mdEventsOff, "mdp_superblock_1.resync_offset": mdResyncOffsetOff,
		"mdp_superblock_1.sb_csum": mdCsumOff, "mdp_superblock_1.max_dev": mdMaxDevOff,
		"mdp_superblock_1.dev_roles": mdDevRolesOff, "MD_SB_MAGIC": mdMagic,
		"MD_FEATURE_RESHAPE_ACTIVE": mdFeatureReshapeActive, "MD_FEATURE_JOURNAL": mdFeatureJournal,
		"sizeof.mdu_array_info_t": mdArrayInfoSize, "mdu_array_info_t.major_version": mdInfoMajorOff,
		"mdu_array_info_t.minor_version": mdInfoMinorOff, "sizeof.mdu_disk_info_t": mdDiskInfoSize,
		"mdu_disk_info_t.major": 4, "mdu_disk_info_t.minor": 8, "sizeof.mdu_param_t": mdParamSize,
		"MD_MAJOR": mdMajor, "SET_ARRAY_INFO": uint64(mdSetArrayInfo), "ADD_NEW_DISK": uint64(mdAddNewDisk),
		"RUN_ARRAY": uint64(mdRunArray), "STOP_ARRAY": uint64(mdStopArray), "GET_ARRAY_INFO": uint64(mdGetArrayInfo),
	}
	for name, want := range c {
		got, ok := ours[name]
		if !ok {
			t.Errorf("layout.c prints %s, which the test does not compare", name)
		} else if got != want {
			t.Errorf("%s: ours %d (%#x), the kernel header's %d (%#x)", name, got, got, want, want)
		}
	}
	if len(c) != len(ours) {
		t.Errorf("layout.c printed %d values, the test has %d", len(c), len(ours))
	}
	// mdDiskInfo puts major and minor where the header says.
	d := mdDiskInfo(0, 8, 17, 0, 0)
	if binary.LittleEndian.Uint32(d[4:]) != 8 || binary.LittleEndian.Uint32(d[8:]) != 17 {
		t.Errorf("mdDiskInfo = % x", d)
	}
}

// TestDMTableEncoding packs a linear and a striped target as DM_TABLE_LOAD reads
// them, checks every field, then decodes a DM_TABLE_STATUS-style reply of the same.
func TestDMTableEncoding(t *testing.T) {
	table := []DMTarget{
		{Start: 0, Length: 16384, Type: "linear", Params: "7:0 2048"},
		{Start: 16384, Length: 32768, Type: "striped", Params: "2 128 7:0 18432 7:1 2048"},
	}
	buf, err := dmTableLoadRequest("vgtest-lin", table)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if v := le.Uint32(buf[dmVersionOff:]); v != 4 {
		t.Errorf("version[0] = %d", v)
	}
	if le.Uint32(buf[dmDataSizeOff:]) != uint32(len(buf)) || le.Uint32(buf[dmDataStartOff:]) != dmIoctlSize ||
		le.Uint32(buf[dmTargetCountOff:]) != 2 || cString(buf[dmNameOff:dmNameOff+dmNameLen]) != "vgtest-lin" {
		t.Errorf("header % x", buf[:64])
	}
	// First spec: 40 bytes, then "7:0 2048\0" (9) padded to 8: next = 56.
	s0 := buf[dmIoctlSize:]
	if le.Uint64(s0[dmSpecStartOff:]) != 0 || le.Uint64(s0[dmSpecLengthOff:]) != 16384 ||
		le.Uint32(s0[dmSpecNextOff:]) != 56 || cString(s0[dmSpecTypeOff:dmSpecTypeOff+16]) != "linear" ||
		cString(s0[dmTargetSpecSize:]) != "7:0 2048" {
		t.Errorf("first spec % x", s0[:56])
	}
	s1 := s0[56:]
	if le.Uint64(s1[dmSpecStartOff:]) != 16384 || cString(s1[dmSpecTypeOff:dmSpecTypeOff+16]) != "striped" ||
		cString(s1[dmTargetSpecSize:]) != "2 128 7:0 18432 7:1 2048" || len(s1)%8 != 0 {
		t.Errorf("second spec % x", s1)
	}
	// The reply the kernel gives to DM_TABLE_STATUS: next counts from the first spec.
	reply := dmStatusReply(table)
	got, err := decodeTable(reply)
	if err != nil || !sameTable(got, table) {
		t.Errorf("decodeTable = %v, %v", got, err)
	}
	if !slices.Equal(tableStrings(got), []string{"0 16384 linear 7:0 2048", "16384 32768 striped 2 128 7:0 18432 7:1 2048"}) {
		t.Errorf("table %v", tableStrings(got))
	}
	if _, err := dmRequest(strings.Repeat("x", dmNameLen), "", 0, nil, 0); err == nil {
		t.Error("a 128-byte dm name was accepted")
	}
}

// dmStatusReply lays out targets as the kernel's retrieve_status does.
func dmStatusReply(targets []DMTarget) []byte {
	spec, _ := encodeTable(targets)
	le := binary.LittleEndian
	for at, total := 0, 0; at < len(spec); {
		n := int(le.Uint32(spec[at+dmSpecNextOff:]))
		total += n
		le.PutUint32(spec[at+dmSpecNextOff:], uint32(total))
		at += n
	}
	buf, _ := dmRequest("x", "", 0, spec, 0)
	le.PutUint32(buf[dmTargetCountOff:], uint32(len(targets)))
	return buf
}
