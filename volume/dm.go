package volume

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// The device-mapper ioctl interface (linux/dm-ioctl.h, interface version 4). Every
// command passes one buffer: a struct dm_ioctl header, then, from data_start, the
// command's data: for DM_TABLE_LOAD (in) and DM_TABLE_STATUS (out) a sequence of
// struct dm_target_spec, each followed by its NUL-terminated parameter string and
// padded to 8 bytes.
const (
	dmIoctlSize      = 312 // sizeof(struct dm_ioctl)
	dmVersionOff     = 0   // __u32 version[3]
	dmDataSizeOff    = 12  // __u32 data_size: the whole buffer
	dmDataStartOff   = 16  // __u32 data_start: offset of the data from the buffer's start
	dmTargetCountOff = 20  // __u32 target_count
	dmOpenCountOff   = 24  // __s32 open_count
	dmFlagsOff       = 28  // __u32 flags
	dmEventNrOff     = 32  // __u32 event_nr
	dmDevOff         = 40  // __u64 dev (huge_encode_dev)
	dmNameOff        = 48  // char name[128]
	dmUUIDOff        = 176 // char uuid[129]
	dmNameLen        = 128
	dmUUIDLen        = 129

	dmTargetSpecSize = 40 // sizeof(struct dm_target_spec)
	dmSpecStartOff   = 0  // __u64 sector_start
	dmSpecLengthOff  = 8  // __u64 length
	dmSpecStatusOff  = 16 // __s32 status
	dmSpecNextOff    = 20 // __u32 next
	dmSpecTypeOff    = 24 // char target_type[16]
	dmMaxTypeName    = 16

	dmVersionMajor = 4 // the kernel accepts any minor up to its own

	dmReadonlyFlag    = 1 << 0
	dmSuspendFlag     = 1 << 1
	dmStatusTableFlag = 1 << 4
	dmActivePresent   = 1 << 5
	dmBufferFullFlag  = 1 << 8

	// DM_IOCTL is 0xfd; the commands are _IOWR(0xfd, nr, struct dm_ioctl).
	dmIoctlType      = 0xfd
	dmCmdVersion     = 0
	dmCmdDevCreate   = 3
	dmCmdDevRemove   = 4
	dmCmdDevSuspend  = 6
	dmCmdDevStatus   = 7
	dmCmdTableLoad   = 9
	dmCmdTableStatus = 12
)

// ioctlIOWR is the kernel's _IOWR(type, nr, size) on x86, arm and most others.
func ioctlIOWR(typ, nr, size uintptr) uintptr { return 3<<30 | size<<16 | typ<<8 | nr }

// ioctlIOW is _IOW(type, nr, size).
func ioctlIOW(typ, nr, size uintptr) uintptr { return 1<<30 | size<<16 | typ<<8 | nr }

// ioctlIO is _IO(type, nr).
func ioctlIO(typ, nr uintptr) uintptr { return typ<<8 | nr }

func dmIoctlNumber(cmd uintptr) uintptr { return ioctlIOWR(dmIoctlType, cmd, dmIoctlSize) }

// DMTarget is one line of a device-mapper table as the kernel takes and gives it.
type DMTarget struct {
	Start  uint64 // sectors
	Length uint64
	Type   string // "linear", "striped", ...
	Params string
}

// dmRequest builds a command buffer of size bytes (at least the header) for the device
// name (or uuid), with data appended after the header.
func dmRequest(name, uuid string, flags uint32, data []byte, size int) ([]byte, error) {
	if len(name) >= dmNameLen || len(uuid) >= dmUUIDLen {
		return nil, fmt.Errorf("volume: dm name %q or uuid %q too long", name, uuid)
	}
	size = max(size, dmIoctlSize+len(data))
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(b[dmVersionOff:], dmVersionMajor)
	le.PutUint32(b[dmDataSizeOff:], uint32(size))
	le.PutUint32(b[dmDataStartOff:], dmIoctlSize)
	le.PutUint32(b[dmFlagsOff:], flags)
	copy(b[dmNameOff:], name)
	copy(b[dmUUIDOff:], uuid)
	copy(b[dmIoctlSize:], data)
	return b, nil
}

// encodeTable packs targets as DM_TABLE_LOAD reads them: each dm_target_spec's next is
// the distance from it to the following one.
func encodeTable(targets []DMTarget) ([]byte, error) {
	var buf bytes.Buffer
	for _, t := range targets {
		if len(t.Type) >= dmMaxTypeName {
			return nil, fmt.Errorf("volume: dm target type %q too long", t.Type)
		}
		n := dmTargetSpecSize + len(t.Params) + 1
		n = (n + 7) &^ 7
		spec := make([]byte, n)
		le := binary.LittleEndian
		le.PutUint64(spec[dmSpecStartOff:], t.Start)
		le.PutUint64(spec[dmSpecLengthOff:], t.Length)
		le.PutUint32(spec[dmSpecNextOff:], uint32(n))
		copy(spec[dmSpecTypeOff:], t.Type)
		copy(spec[dmTargetSpecSize:], t.Params)
		buf.Write(spec)
	}
	return buf.Bytes(), nil
}

// dmTableLoadRequest builds the DM_TABLE_LOAD buffer loading targets into name.
func dmTableLoadRequest(name string, targets []DMTarget) ([]byte, error) {
	spec, err := encodeTable(targets)
	if err != nil {
		return nil, err
	}
	buf, err := dmRequest(name, "", 0, spec, 0)
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(buf[dmTargetCountOff:], uint32(len(targets)))
	return buf, nil
}

// sameTable compares tables as the kernel gives them back: parameters with their
// words separated by single spaces.
func sameTable(a, b []DMTarget) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Start != b[i].Start || a[i].Length != b[i].Length || a[i].Type != b[i].Type ||
			strings.Join(strings.Fields(a[i].Params), " ") != strings.Join(strings.Fields(b[i].Params), " ") {
			return false
		}
	}
	return true
}

// decodeTable reads the count targets DM_TABLE_STATUS left in buf (the whole command
// buffer): there each next is the distance from the first spec (at data_start).
func decodeTable(buf []byte) ([]DMTarget, error) {
	if len(buf) < dmIoctlSize {
		return nil, fmt.Errorf("volume: dm reply of %d bytes, shorter than its header", len(buf))
	}
	le := binary.LittleEndian
	start := int(le.Uint32(buf[dmDataStartOff:]))
	count := int(le.Uint32(buf[dmTargetCountOff:]))
	end := min(int(le.Uint32(buf[dmDataSizeOff:])), len(buf))
	if start < dmIoctlSize || start > end {
		return nil, fmt.Errorf("volume: dm reply data_start %d outside %d..%d", start, dmIoctlSize, end)
	}
	var out []DMTarget
	at := start
	for i := range count {
		if at+dmTargetSpecSize > end {
			return nil, fmt.Errorf("volume: dm reply target %d at %d runs past %d bytes", i, at, end)
		}
		s := buf[at:]
		t := DMTarget{
			Start:  le.Uint64(s[dmSpecStartOff:]),
			Length: le.Uint64(s[dmSpecLengthOff:]),
			Type:   cString(s[dmSpecTypeOff : dmSpecTypeOff+dmMaxTypeName]),
		}
		next := start + int(le.Uint32(s[dmSpecNextOff:]))
		limit := end
		if i+1 < count {
			// The next spec starts past this one's header (its parameters may be
			// empty): a next inside the header would cut the parameters before
			// they start.
			if next < at+dmTargetSpecSize || next > end {
				return nil, fmt.Errorf("volume: dm reply target %d at %d: next spec at %d, want %d..%d", i, at, next, at+dmTargetSpecSize, end)
			}
			limit = next
		}
		t.Params = cString(buf[at+dmTargetSpecSize : limit])
		out = append(out, t)
		at = next
	}
	return out, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// DMTable returns the dm table of the LV, naming each PV with dev (its "major:minor").
func (lv *MappedLV) DMTable(dev func(pvUUID string) string) []DMTarget {
	var out []DMTarget
	for _, t := range lv.Table {
		out = append(out, DMTarget{Start: t.Start, Length: t.Length, Type: t.Type, Params: t.Params(dev)})
	}
	return out
}
