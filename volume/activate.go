package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// BlockDevice is a block device the kernel has.
type BlockDevice struct {
	Name         string // the kernel's name: "sda2", "md0", "dm-1"
	Path         string // a node that opens it: "/dev/sda2"
	Major, Minor uint32
}

// DevNo returns the device as dm tables name it, "major:minor".
func (d BlockDevice) DevNo() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// Kernel is what Activate needs from the running kernel: the block devices it has,
// reading them, and creating md arrays and dm mappings. LinuxKernel is the real one;
// tests hand in files.
type Kernel interface {
	// BlockDevices lists the block devices present now.
	BlockDevices() ([]BlockDevice, error)
	// Open opens a block device for reading its metadata.
	Open(d BlockDevice) (ReadAtCloser, error)
	// AssembleArray starts the md array a from members (those present: fewer than a
	// has for a degraded RAID1) and returns the array's device.
	AssembleArray(a *Array, members []BlockDevice) (BlockDevice, error)
	// MapLV creates the dm device name (with dm uuid) with table, and returns the path
	// of its node after reading the table back and finding it as loaded.
	MapLV(name, uuid string, table []DMTarget) (string, error)
}

// ReadAtCloser is an open block device.
type ReadAtCloser interface {
	io.ReaderAt
	io.Closer
}

// pollInterval is how often Activate looks again for devices still missing.
const pollInterval = 100 * time.Millisecond

// Activate brings up s in the capture kernel and returns the path of the device that
// holds the dump target's file system. It waits up to wait for every md member and PV
// recorded in s to appear (a RAID1 array then starts degraded if at least one member
// did), assembles the md arrays first (a PV may be one), re-reads the LVM metadata
// from the PVs and refuses, with a *LayoutChangedError, when the VG's seqno or the
// LV's table differ from what s recorded, rather than write through a stale mapping.
func Activate(ctx context.Context, s *Stack, k Kernel, wait time.Duration) (string, error) {
	if len(s.Arrays) == 0 && s.LV == nil {
		return "", errors.New("volume: empty stack: nothing to bring up")
	}
	deadline := time.Now().Add(wait)
	// Wait for the md members and, when the PVs are not on md, for the PVs.
	var scan *scanResult
	for {
		var err error
		scan, err = scanDevices(k)
		if err != nil {
			return "", err
		}
		if scan.complete(s) || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	var top BlockDevice
	for i := range s.Arrays {
		a := &s.Arrays[i]
		members := scan.members[a.UUID]
		if len(members) == 0 {
			return "", fmt.Errorf("volume: no member of md array %s (%s) appeared within %v: %w", a.UUID, a.Name, wait, ErrMissingDevice)
		}
		var devs []BlockDevice
		for _, m := range members {
			if m.sb.Level != a.Level || m.sb.RaidDisks != a.Members {
				return "", &LayoutChangedError{Volume: "md array " + a.UUID, Changes: []string{fmt.Sprintf(
					"%s says RAID level %d with %d members, recorded level %d with %d", m.dev.Name, m.sb.Level, m.sb.RaidDisks, a.Level, a.Members)}}
			}
			devs = append(devs, m.dev)
		}
		d, err := k.AssembleArray(a, devs)
		if err != nil {
			return "", fmt.Errorf("volume: assembling md array %s from %d of %d members: %w", a.UUID, len(devs), a.Members, err)
		}
		top = d
	}
	if s.LV == nil {
		return top.Path, nil
	}
	if len(s.Arrays) > 0 {
		// The PVs may be the arrays just assembled: scan again. A member is never
		// taken for a PV (its superblock is read first), and a PV seen on two
		// devices is refused by mapLV.
		var err error
		if scan, err = scanDevices(k); err != nil {
			return "", err
		}
	}
	return mapLV(s.LV, scan, k)
}

func mapLV(rec *MappedLV, scan *scanResult, k Kernel) (string, error) {
	name := rec.VGName + "/" + rec.Name
	devOf := map[string]BlockDevice{}
	var vg *VG
	for _, uuid := range rec.PVs {
		found := scan.pvs[uuid]
		switch len(found) {
		case 0:
			return "", fmt.Errorf("volume: PV %s of %s did not appear: %w", uuid, name, ErrMissingDevice)
		case 1:
		default:
			var names []string
			for _, f := range found {
				names = append(names, f.dev.Name)
			}
			return "", &UnsupportedError{Volume: name, Reason: fmt.Sprintf("PV %s is on %d devices (%s): a clone, multipath or a RAID member seen directly", uuid, len(found), strings.Join(names, ", "))}
		}
		devOf[uuid] = found[0].dev
	}
	// The freshest metadata of the VG on any PV found (a PV may carry none).
	for _, list := range scan.pvs {
		for _, p := range list {
			if p.pv.VG != nil && p.pv.VG.ID == rec.VGID && (vg == nil || p.pv.VG.Seqno > vg.Seqno) {
				vg = p.pv.VG
			}
		}
	}
	if vg == nil {
		return "", fmt.Errorf("volume: no metadata of VG %s (%s) on the PVs found: %w", rec.VGName, rec.VGID, ErrMissingDevice)
	}
	now, err := DescribeLV(vg, rec.Name)
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) || errors.Is(err, ErrMissingDevice) {
			return "", &LayoutChangedError{Volume: name, Changes: []string{err.Error()}}
		}
		return "", err
	}
	if err := rec.Compare(now); err != nil {
		return "", err
	}
	table := now.DMTable(func(uuid string) string { return devOf[uuid].DevNo() })
	return k.MapLV(rec.DMName(), rec.DMUUID(), table)
}

type foundMember struct {
	dev BlockDevice
	sb  *Superblock
}

type foundPV struct {
	dev BlockDevice
	pv  *PV
}

type scanResult struct {
	members map[string][]foundMember // by array UUID
	pvs     map[string][]foundPV     // by PV UUID
}

// scanDevices reads every block device's md superblock and LVM label. Devices that
// hold neither, or cannot be read, are left out: they are not part of any stack.
func scanDevices(k Kernel) (*scanResult, error) {
	devs, err := k.BlockDevices()
	if err != nil {
		return nil, err
	}
	r := &scanResult{members: map[string][]foundMember{}, pvs: map[string][]foundPV{}}
	for _, d := range devs {
		f, err := k.Open(d)
		if err != nil {
			continue
		}
		if sb, err := ReadSuperblock(f); err == nil {
			r.members[sb.UUID()] = append(r.members[sb.UUID()], foundMember{d, sb})
		} else if pv, err := ReadPV(f); err == nil {
			r.pvs[pv.Label.UUID] = append(r.pvs[pv.Label.UUID], foundPV{d, pv})
		}
		f.Close()
	}
	return r, nil
}

// complete tells whether every md member and PV s names is there. PVs on md arrays
// are not there before assembly, so only the members count then.
func (r *scanResult) complete(s *Stack) bool {
	for _, a := range s.Arrays {
		if uint32(len(r.members[a.UUID])) < a.Members {
			return false
		}
	}
	if s.LV != nil && len(s.Arrays) == 0 {
		for _, uuid := range s.LV.PVs {
			if len(r.pvs[uuid]) == 0 {
				return false
			}
		}
	}
	return true
}
