package volume

import (
	"slices"
	"strings"
)

// VG is a volume group as its metadata text describes it. Sizes are in 512-byte
// sectors, as lvm2 writes them.
type VG struct {
	Name       string
	ID         string
	Seqno      uint64 // bumped by lvm2 at every metadata change
	ExtentSize uint64 // sectors per extent
	Status     []string
	Flags      []string
	LockType   string // "" for a local VG; "sanlock" or "dlm" for a shared one
	PVs        []PhysicalVolume
	LVs        []LogicalVolume
}

// PhysicalVolume is one entry of the VG's physical_volumes section.
type PhysicalVolume struct {
	Name    string // the section's name, "pv0", by which segments refer to it
	ID      string // the PV UUID, as on its label
	Device  string // the device path when the metadata was written (a hint only)
	Status  []string
	Flags   []string
	DevSize uint64 // sectors
	PEStart uint64 // sector of extent 0
	PECount uint64
}

// LogicalVolume is one entry of the VG's logical_volumes section.
type LogicalVolume struct {
	Name     string
	ID       string
	Status   []string // "READ", "WRITE", "VISIBLE", "LOCKED" (pvmove), ...
	Flags    []string
	Segments []Segment // in start_extent order
	Line     int       // where its section starts in the text
}

// Segment is one segmentN section of a logical volume.
type Segment struct {
	StartExtent uint64
	ExtentCount uint64
	Type        string // "striped" (linear is striped with one stripe), "thin", "raid1", ...
	StripeCount uint64 // striped only
	StripeSize  uint64 // sectors; striped with more than one stripe only
	Stripes     []StripeArea
	Origin      string // snapshot segments: the LV they are a snapshot of
	Line        int
}

// StripeArea is one stripe of a striped segment: PE extents of the PV (or LV, while a
// pvmove runs) named Volume.
type StripeArea struct {
	Volume string // "pv0", or an LV's name
	PE     uint64
}

// ParseMetadata reads lvm2 metadata text (as found in a metadata area, or written by
// vgcfgbackup) into a VG. It checks the text's structure, not whether the VG makes
// sense as a whole; DescribeLV does that for the LV it is asked about.
func ParseMetadata(text []byte) (*VG, error) {
	top, err := parseText(text)
	if err != nil {
		return nil, err
	}
	secs := top.sections()
	if len(secs) != 1 {
		return nil, lineErrorf(1, "%d top-level sections, expected one (the volume group)", len(secs))
	}
	s := secs[0]
	vg := &VG{Name: s.name}
	if vg.ID, err = s.str("id", true); err != nil {
		return nil, err
	}
	if vg.Seqno, err = s.uint("seqno", true); err != nil {
		return nil, err
	}
	if vg.ExtentSize, err = s.uint("extent_size", true); err != nil {
		return nil, err
	}
	if vg.ExtentSize == 0 || vg.ExtentSize > 1<<32 {
		return nil, lineErrorf(s.find("extent_size").line, "extent_size %d, expected 1..2^32 sectors", vg.ExtentSize)
	}
	if vg.Status, err = s.strings("status"); err != nil {
		return nil, err
	}
	if vg.Flags, err = s.strings("flags"); err != nil {
		return nil, err
	}
	if vg.LockType, err = s.str("lock_type", false); err != nil {
		return nil, err
	}
	pvs, err := s.sub("physical_volumes", true)
	if err != nil {
		return nil, err
	}
	for _, ps := range pvs.sections() {
		pv, err := parsePV(ps)
		if err != nil {
			return nil, err
		}
		vg.PVs = append(vg.PVs, pv)
	}
	lvs, err := s.sub("logical_volumes", false)
	if err != nil {
		return nil, err
	}
	if lvs != nil {
		for _, ls := range lvs.sections() {
			lv, err := parseLV(ls)
			if err != nil {
				return nil, err
			}
			vg.LVs = append(vg.LVs, lv)
		}
	}
	return vg, nil
}

func parsePV(s *section) (PhysicalVolume, error) {
	pv := PhysicalVolume{Name: s.name}
	var err error
	if pv.ID, err = s.str("id", true); err != nil {
		return pv, err
	}
	if pv.Device, err = s.str("device", false); err != nil {
		return pv, err
	}
	if pv.Status, err = s.strings("status"); err != nil {
		return pv, err
	}
	if pv.Flags, err = s.strings("flags"); err != nil {
		return pv, err
	}
	if pv.DevSize, err = s.uint("dev_size", false); err != nil {
		return pv, err
	}
	if pv.PEStart, err = s.uint("pe_start", true); err != nil {
		return pv, err
	}
	if pv.PECount, err = s.uint("pe_count", true); err != nil {
		return pv, err
	}
	return pv, nil
}

func parseLV(s *section) (LogicalVolume, error) {
	lv := LogicalVolume{Name: s.name, Line: s.line}
	var err error
	if lv.ID, err = s.str("id", true); err != nil {
		return lv, err
	}
	if lv.Status, err = s.strings("status"); err != nil {
		return lv, err
	}
	if lv.Flags, err = s.strings("flags"); err != nil {
		return lv, err
	}
	count, err := s.uint("segment_count", true)
	if err != nil {
		return lv, err
	}
	for _, ss := range s.sections() {
		if !strings.HasPrefix(ss.name, "segment") {
			continue
		}
		seg, err := parseSegment(ss)
		if err != nil {
			return lv, err
		}
		lv.Segments = append(lv.Segments, seg)
	}
	if uint64(len(lv.Segments)) != count {
		return lv, lineErrorf(s.line, "LV %s has %d segment sections, segment_count says %d", lv.Name, len(lv.Segments), count)
	}
	slices.SortStableFunc(lv.Segments, func(a, b Segment) int {
		switch {
		case a.StartExtent < b.StartExtent:
			return -1
		case a.StartExtent > b.StartExtent:
			return 1
		}
		return 0
	})
	return lv, nil
}

func parseSegment(s *section) (Segment, error) {
	seg := Segment{Line: s.line}
	var err error
	if seg.StartExtent, err = s.uint("start_extent", true); err != nil {
		return seg, err
	}
	if seg.ExtentCount, err = s.uint("extent_count", true); err != nil {
		return seg, err
	}
	if seg.ExtentCount == 0 || seg.StartExtent+seg.ExtentCount < seg.StartExtent {
		return seg, lineErrorf(s.line, "%s: start_extent %d, extent_count %d, expected a non-empty range", s.name, seg.StartExtent, seg.ExtentCount)
	}
	if seg.Type, err = s.str("type", true); err != nil {
		return seg, err
	}
	switch seg.Type {
	case "striped":
		return parseStriped(s, seg)
	case "snapshot":
		if seg.Origin, err = s.str("origin", true); err != nil {
			return seg, err
		}
	}
	return seg, nil
}

func parseStriped(s *section, seg Segment) (Segment, error) {
	var err error
	if seg.StripeCount, err = s.uint("stripe_count", true); err != nil {
		return seg, err
	}
	if seg.StripeCount == 0 || seg.ExtentCount%seg.StripeCount != 0 {
		return seg, lineErrorf(s.find("stripe_count").line, "stripe_count %d, expected a divisor of extent_count %d", seg.StripeCount, seg.ExtentCount)
	}
	if seg.StripeCount > 1 {
		if seg.StripeSize, err = s.uint("stripe_size", true); err != nil {
			return seg, err
		}
		if seg.StripeSize == 0 {
			return seg, lineErrorf(s.find("stripe_size").line, "stripe_size 0, expected a chunk size in sectors")
		}
	}
	v, err := s.val("stripes", kindList, true)
	if err != nil {
		return seg, err
	}
	if uint64(len(v.list)) != 2*seg.StripeCount {
		return seg, lineErrorf(v.line, "stripes holds %d values, expected %d (a name and an extent per stripe)", len(v.list), 2*seg.StripeCount)
	}
	for i := 0; i < len(v.list); i += 2 {
		name, pe := v.list[i], v.list[i+1]
		if name.kind != kindString || pe.kind != kindInt || pe.n < 0 {
			return seg, lineErrorf(name.line, "stripe %d is %s, %s; expected a name and an extent number", i/2, name.kindName(), pe.kindName())
		}
		seg.Stripes = append(seg.Stripes, StripeArea{Volume: name.s, PE: uint64(pe.n)})
	}
	return seg, nil
}

// PV returns the physical volume the VG calls name ("pv0"), or nil.
func (vg *VG) PV(name string) *PhysicalVolume {
	for i := range vg.PVs {
		if vg.PVs[i].Name == name {
			return &vg.PVs[i]
		}
	}
	return nil
}

// LV returns the logical volume named name, or nil.
func (vg *VG) LV(name string) *LogicalVolume {
	for i := range vg.LVs {
		if vg.LVs[i].Name == name {
			return &vg.LVs[i]
		}
	}
	return nil
}
