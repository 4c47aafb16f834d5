package volume

import (
	"errors"
	"fmt"
	"strings"
)

// FormatError reports on-disk data that is not what its format allows: an LVM label,
// metadata area header or metadata text, or an md superblock. Where names the place
// (a byte offset, or a line of metadata text), What what was expected there.
type FormatError struct {
	Format string // "lvm label", "lvm metadata area", "lvm metadata text", "md superblock"
	Off    int64  // byte offset of the bad field on the device; -1 when Line is used
	Line   int    // 1-based line of metadata text; 0 when Off is used
	What   string
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("volume: %s line %d: %s", e.Format, e.Line, e.What)
	}
	return fmt.Sprintf("volume: %s at byte %d: %s", e.Format, e.Off, e.What)
}

func formatErrorf(format string, off int64, what string, args ...any) error {
	return &FormatError{Format: format, Off: off, What: fmt.Sprintf(what, args...)}
}

func lineErrorf(line int, what string, args ...any) error {
	return &FormatError{Format: "lvm metadata text", Off: -1, Line: line, What: fmt.Sprintf(what, args...)}
}

// Sentinel errors; the errors returned wrap one of them, so callers test with errors.Is.
var (
	// ErrNotPV: no LVM2 label in the first four sectors of the device.
	ErrNotPV = errors.New("volume: not an LVM2 physical volume")
	// ErrNotMember: no md superblock (version 1.2) at 4 KiB.
	ErrNotMember = errors.New("volume: not an md RAID member with a version-1.2 superblock")
	// ErrUnsupported: a volume gokdump does not bring up (thin, cache, raid or mirror
	// LVs, snapshot origins, a pvmove in progress, unknown segment types, ...).
	ErrUnsupported = errors.New("volume: layout not supported in the capture kernel")
	// ErrLayoutChanged: the volume on the disks is not the one recorded at arming.
	ErrLayoutChanged = errors.New("volume: layout changed since arming")
	// ErrMissingDevice: a PV or md member the stack needs did not appear in time.
	ErrMissingDevice = errors.New("volume: device not found")
)

// UnsupportedError says which LV or array cannot be brought up and why.
type UnsupportedError struct {
	Volume string // "vg/lv" or the md array's UUID
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("volume: %s cannot be brought up in the capture kernel: %s", e.Volume, e.Reason)
}

func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// LayoutChangedError lists every difference between the volume recorded at arming and
// the one found on the disks; the capture refuses to write through it.
type LayoutChangedError struct {
	Volume  string
	Changes []string
}

func (e *LayoutChangedError) Error() string {
	return fmt.Sprintf("volume: %s changed since gokdump start recorded it (%s); refusing to write through a stale mapping, re-run gokdump start",
		e.Volume, strings.Join(e.Changes, "; "))
}

func (e *LayoutChangedError) Unwrap() error { return ErrLayoutChanged }
