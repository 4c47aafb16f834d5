package volume

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Stack is the block stack under a dump target as the first kernel recorded it at
// arming (gokdump start), for the capture kernel to bring up and check: md arrays
// first, then, if the target is a logical volume, that LV. It is JSON-serialisable.
// When LV is nil the target is the last array.
type Stack struct {
	Arrays []Array   `json:"arrays,omitempty"`
	LV     *MappedLV `json:"lv,omitempty"`
}

// Array is an md RAID array as recorded at arming.
type Array struct {
	UUID    string `json:"uuid"`    // mdadm's 8:8:8:8 form
	Name    string `json:"name"`    // set_name, "host:name"
	Level   int32  `json:"level"`   // 1 for RAID1
	Members uint32 `json:"members"` // raid_disks
	Minor   uint32 `json:"minor"`   // the N of /dev/mdN in the first kernel, reused at capture
}

// MappedLV is a logical volume as the dm table the capture kernel will load for it.
// Devices are named by PV UUID: their major:minor numbers may differ between kernels.
type MappedLV struct {
	VGName string   `json:"vg_name"`
	VGID   string   `json:"vg_id"`
	Seqno  uint64   `json:"seqno"`
	Name   string   `json:"name"`
	ID     string   `json:"id"`
	PVs    []string `json:"pvs"` // UUIDs of the PVs the table uses
	Table  []Target `json:"table"`
}

// DMName is the device-mapper name lvm2 gives the LV (dashes in either name doubled,
// then vg-lv), so /dev/mapper/<DMName> is the path the machine's fstab knows.
func (lv *MappedLV) DMName() string {
	return strings.ReplaceAll(lv.VGName, "-", "--") + "-" + strings.ReplaceAll(lv.Name, "-", "--")
}

// DMUUID is the device-mapper UUID lvm2 gives the LV: "LVM-" then the VG and LV ids
// without dashes.
func (lv *MappedLV) DMUUID() string {
	return "LVM-" + strings.ReplaceAll(lv.VGID, "-", "") + strings.ReplaceAll(lv.ID, "-", "")
}

// Sectors returns the LV's size.
func (lv *MappedLV) Sectors() uint64 {
	if len(lv.Table) == 0 {
		return 0
	}
	t := lv.Table[len(lv.Table)-1]
	return t.Start + t.Length
}

// Target is one line of a dm table: Length sectors of the device from Start, mapped
// linearly to one stripe or striped over several with ChunkSectors chunks.
type Target struct {
	Start        uint64   `json:"start"`
	Length       uint64   `json:"length"`
	Type         string   `json:"type"` // "linear" or "striped"
	ChunkSectors uint64   `json:"chunk_sectors,omitempty"`
	Stripes      []Stripe `json:"stripes"`
}

// Stripe is a place on a PV: Offset sectors from the PV's start (pe_start included).
type Stripe struct {
	PV     string `json:"pv"`
	Offset uint64 `json:"offset"`
}

// Params returns the target's dm parameter string, with devices named as dev gives
// them ("major:minor").
func (t Target) Params(dev func(pvUUID string) string) string {
	var b strings.Builder
	if t.Type == "striped" {
		fmt.Fprintf(&b, "%d %d", len(t.Stripes), t.ChunkSectors)
	}
	for _, s := range t.Stripes {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(dev(s.PV))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(s.Offset, 10))
	}
	return b.String()
}

// segmentRefusals explains the segment types gokdump does not map, by what they need.
var segmentRefusals = map[string]string{
	"thin":       "a thin LV needs its pool's dm-thin metadata activated (thin_check, dm-thin-pool); use a linear or striped LV, or a remote target",
	"thin-pool":  "a thin pool is not a file system device",
	"cache":      "a cached LV needs dm-cache with its cache pool; use a linear or striped LV, or a remote target",
	"cache-pool": "a cache pool is not a file system device",
	"writecache": "a writecache LV needs dm-writecache; use a linear or striped LV, or a remote target",
	"vdo":        "a VDO LV needs the kvdo target and its pool",
	"vdo-pool":   "a VDO pool is not a file system device",
	"mirror":     "an LVM mirror needs dm-mirror and its log; use md RAID1 under LVM, or a remote target",
	"snapshot":   "an LVM snapshot needs dm-snapshot with its origin",
	"integrity":  "an integrity LV needs dm-integrity",
	"error":      "an error segment maps nothing",
	"zero":       "a zero segment maps nothing",
	"raid0":      "an LVM raid LV needs dm-raid; use a striped LV or md RAID under LVM",
	"raid0_meta": "an LVM raid LV needs dm-raid",
	"raid1":      "an LVM raid1 LV needs dm-raid; use md RAID1 under LVM, or a remote target",
	"raid4":      "an LVM raid LV needs dm-raid",
	"raid5":      "an LVM raid LV needs dm-raid",
	"raid6":      "an LVM raid LV needs dm-raid",
	"raid10":     "an LVM raid LV needs dm-raid",
}

func segmentRefusal(typ string) string {
	if r, ok := segmentRefusals[typ]; ok {
		return r
	}
	if strings.HasPrefix(typ, "raid") {
		return "an LVM raid LV needs dm-raid"
	}
	return fmt.Sprintf("segment type %q is not one gokdump maps (only linear and striped)", typ)
}

// DescribeLV checks that the LV named lv of vg can be brought up by the capture
// kernel with linear and striped dm targets, and returns it as the table to record.
// Thin, cache, raid, mirror, snapshot and other segment types, snapshot origins, LVs
// under a pvmove, PVs marked missing and shared (lvmlockd) VGs are refused with an
// *UnsupportedError that says why; bad metadata gives a *FormatError.
func DescribeLV(vg *VG, lv string) (*MappedLV, error) {
	name := vg.Name + "/" + lv
	refuse := func(format string, args ...any) error {
		return &UnsupportedError{Volume: name, Reason: fmt.Sprintf(format, args...)}
	}
	l := vg.LV(lv)
	if l == nil {
		return nil, fmt.Errorf("volume: volume group %s has no logical volume %q: %w", vg.Name, lv, ErrMissingDevice)
	}
	if vg.LockType != "" {
		return nil, refuse("the volume group is shared (lock_type %s): activating it without lvmlockd could corrupt it", vg.LockType)
	}
	if slices.Contains(vg.Status, "EXPORTED") {
		return nil, refuse("the volume group is exported")
	}
	if slices.Contains(l.Status, "LOCKED") {
		return nil, refuse("a pvmove is moving its extents; arm again when it has finished")
	}
	if !slices.Contains(l.Status, "VISIBLE") {
		return nil, refuse("it is a hidden LV, a part of another LV")
	}
	if !slices.Contains(l.Status, "WRITE") {
		return nil, refuse("the LV is read-only")
	}
	for _, o := range vg.LVs {
		for _, s := range o.Segments {
			if s.Type == "snapshot" && s.Origin == lv {
				return nil, refuse("it is the origin of snapshot %s: writing it without dm-snapshot-origin would corrupt the snapshot", o.Name)
			}
		}
	}
	m := &MappedLV{VGName: vg.Name, VGID: vg.ID, Seqno: vg.Seqno, Name: lv, ID: l.ID}
	next := uint64(0)
	for _, s := range l.Segments {
		if s.Type != "striped" {
			return nil, refuse("%s (segment type %s, line %d)", segmentRefusal(s.Type), s.Type, s.Line)
		}
		if s.StartExtent != next {
			return nil, lineErrorf(s.Line, "LV %s: segment starts at extent %d, expected %d", lv, s.StartExtent, next)
		}
		next = s.StartExtent + s.ExtentCount
		if next > (1<<64-1)/vg.ExtentSize {
			return nil, lineErrorf(s.Line, "LV %s: extent %d overflows a sector count", lv, next)
		}
		t := Target{Start: s.StartExtent * vg.ExtentSize, Length: s.ExtentCount * vg.ExtentSize, Type: "linear"}
		if s.StripeCount > 1 {
			t.Type, t.ChunkSectors = "striped", s.StripeSize
		}
		per := s.ExtentCount / s.StripeCount
		for _, a := range s.Stripes {
			pv := vg.PV(a.Volume)
			if pv == nil {
				if vg.LV(a.Volume) != nil {
					return nil, refuse("its segment at line %d maps onto LV %s (a pvmove or conversion in progress)", s.Line, a.Volume)
				}
				return nil, lineErrorf(s.Line, "LV %s: stripe on %q, which is no PV of the VG", lv, a.Volume)
			}
			if slices.Contains(pv.Status, "MISSING") || slices.Contains(pv.Flags, "MISSING") {
				return nil, refuse("its PV %s (%s) is marked missing", pv.Name, pv.ID)
			}
			if a.PE > pv.PECount || per > pv.PECount-a.PE {
				return nil, lineErrorf(s.Line, "LV %s: extents %d..%d of %s, which has %d", lv, a.PE, a.PE+per, pv.Name, pv.PECount)
			}
			if a.PE+per > (1<<64-1-pv.PEStart)/vg.ExtentSize {
				return nil, lineErrorf(s.Line, "LV %s: extent %d of %s overflows a sector count", lv, a.PE+per, pv.Name)
			}
			t.Stripes = append(t.Stripes, Stripe{PV: pv.ID, Offset: pv.PEStart + a.PE*vg.ExtentSize})
			if !slices.Contains(m.PVs, pv.ID) {
				m.PVs = append(m.PVs, pv.ID)
			}
		}
		m.Table = append(m.Table, t)
	}
	if len(m.Table) == 0 {
		return nil, refuse("it has no segments")
	}
	return m, nil
}

// DescribeArray records the array a member's superblock describes, refusing what the
// capture does not assemble: only RAID1 (metadata 1.2) is brought up, without a
// reshape in progress or a write journal.
func DescribeArray(sb *Superblock, minor uint32) (*Array, error) {
	a := &Array{UUID: sb.UUID(), Name: sb.SetName, Level: sb.Level, Members: sb.RaidDisks, Minor: minor}
	refuse := func(why string) error { return &UnsupportedError{Volume: "md array " + a.UUID, Reason: why} }
	switch {
	case sb.Level != 1:
		return nil, refuse(fmt.Sprintf("RAID level %d: gokdump assembles RAID1 only", sb.Level))
	case sb.FeatureMap&mdFeatureReshapeActive != 0:
		return nil, refuse("a reshape is in progress")
	case sb.FeatureMap&mdFeatureJournal != 0:
		return nil, refuse("it has a write journal device")
	}
	return a, nil
}

// Compare returns what differs between the LV recorded at arming (lv) and the one
// described now from the disks (now): the VG's seqno, and each table line. Nothing
// differs when it returns nil.
func (lv *MappedLV) Compare(now *MappedLV) error {
	var ch []string
	if now.VGID != lv.VGID {
		ch = append(ch, fmt.Sprintf("VG id %s, recorded %s", now.VGID, lv.VGID))
	}
	if now.ID != lv.ID {
		ch = append(ch, fmt.Sprintf("LV id %s, recorded %s", now.ID, lv.ID))
	}
	if now.Seqno != lv.Seqno {
		ch = append(ch, fmt.Sprintf("VG metadata seqno %d, recorded %d (the VG's metadata was changed)", now.Seqno, lv.Seqno))
	}
	if a, b := now.Sectors(), lv.Sectors(); a != b {
		ch = append(ch, fmt.Sprintf("LV size %d sectors, recorded %d", a, b))
	}
	for i := range max(len(now.Table), len(lv.Table)) {
		switch {
		case i >= len(now.Table):
			ch = append(ch, fmt.Sprintf("table line %d (%s) is gone", i, lv.Table[i]))
		case i >= len(lv.Table):
			ch = append(ch, fmt.Sprintf("table line %d (%s) is new", i, now.Table[i]))
		case !now.Table[i].equal(lv.Table[i]):
			ch = append(ch, fmt.Sprintf("table line %d is %s, recorded %s", i, now.Table[i], lv.Table[i]))
		}
	}
	if ch == nil {
		return nil
	}
	return &LayoutChangedError{Volume: lv.VGName + "/" + lv.Name, Changes: ch}
}

func (t Target) equal(u Target) bool {
	return t.Start == u.Start && t.Length == u.Length && t.Type == u.Type && t.ChunkSectors == u.ChunkSectors &&
		slices.Equal(t.Stripes, u.Stripes)
}

// String prints the target as a dm table line with PV UUIDs for devices.
func (t Target) String() string {
	return fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params(func(pv string) string { return "PV:" + pv }))
}
