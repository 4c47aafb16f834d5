package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// What gokdump start calls: DescribeDevice walks the running kernel's view of the
// device holding the dump target (sysfs: dm/uuid, md/, slaves/), reads the on-disk
// metadata under it, and returns the Stack to record, or refuses, at arming, what the
// capture kernel could not bring up.

// sysView is the part of the first kernel DescribeDevice reads: sysfs under sys and
// device nodes under dev.
type sysView struct {
	sys, dev string
	open     func(path string) (ReadAtCloser, error)
}

func (v sysView) blockDir(name string) string { return filepath.Join(v.sys, "class", "block", name) }

func (v sysView) read(name, file string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(v.blockDir(name), file))
	return strings.TrimSpace(string(b)), err == nil
}

func (v sysView) exists(name, file string) bool {
	_, err := os.Stat(filepath.Join(v.blockDir(name), file))
	return err == nil
}

func (v sysView) slaves(name string) []string {
	ents, _ := os.ReadDir(filepath.Join(v.blockDir(name), "slaves"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (v sysView) openDev(name string) (ReadAtCloser, error) {
	return v.open(filepath.Join(v.dev, strings.ReplaceAll(name, "!", "/")))
}

var mdPartition = regexp.MustCompile(`^md[0-9]+p[0-9]+$|^md_.*p[0-9]+$`)

// describe returns the stack under the block device the kernel calls name.
func (v sysView) describe(name string) (*Stack, error) {
	if uuid, ok := v.read(name, "dm/uuid"); ok {
		return v.describeDM(name, uuid)
	}
	if v.exists(name, "md") {
		a, err := v.describeArray(name)
		if err != nil {
			return nil, err
		}
		return &Stack{Arrays: []Array{*a}}, nil
	}
	if mdPartition.MatchString(name) {
		return nil, &UnsupportedError{Volume: name, Reason: "a partition of an md array: put the file system on the array itself, or LVM on it"}
	}
	return &Stack{}, nil // a disk or partition: nothing to bring up
}

func (v sysView) describeDM(name, uuid string) (*Stack, error) {
	refuse := func(why string, args ...any) error {
		return &UnsupportedError{Volume: name, Reason: fmt.Sprintf(why, args...)}
	}
	switch {
	case strings.HasPrefix(uuid, "CRYPT-"):
		return nil, refuse("a dm-crypt (LUKS) volume: its key is not available to the capture kernel; use a remote target (nfs, ssh, s3) or an unencrypted volume")
	case strings.HasPrefix(uuid, "mpath-"):
		return nil, refuse("a multipath device: gokdump does not set up multipath in the capture kernel")
	case !strings.HasPrefix(uuid, "LVM-"):
		return nil, refuse("a device-mapper device that is not an LVM logical volume (dm uuid %q)", uuid)
	case len(uuid) != len("LVM-")+64:
		return nil, refuse("an LVM internal volume (dm uuid %q), not a logical volume a file system lives on", uuid)
	}
	vgID, lvID := uuid[4:36], uuid[36:68]
	st := &Stack{}
	var leaves []string
	if err := v.leaves(name, "LVM-"+vgID, 0, &leaves, st); err != nil {
		return nil, err
	}
	var vg *VG
	onDisk := map[string]bool{}
	for _, leaf := range leaves {
		f, err := v.openDev(leaf)
		if err != nil {
			return nil, fmt.Errorf("volume: opening PV %s of %s: %w", leaf, name, err)
		}
		pv, err := ReadPV(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("volume: reading PV %s of %s: %w", leaf, name, err)
		}
		onDisk[pv.Label.UUID] = true
		if pv.VG != nil && strings.ReplaceAll(pv.VG.ID, "-", "") == vgID && (vg == nil || pv.VG.Seqno > vg.Seqno) {
			vg = pv.VG
		}
	}
	if vg == nil {
		return nil, fmt.Errorf("volume: no metadata of the VG of %s on its PVs %v: %w", name, leaves, ErrMissingDevice)
	}
	var lvName string
	for _, lv := range vg.LVs {
		if strings.ReplaceAll(lv.ID, "-", "") == lvID {
			lvName = lv.Name
		}
	}
	if lvName == "" {
		return nil, fmt.Errorf("volume: VG %s has no LV with the id in %s's dm uuid: %w", vg.Name, name, ErrMissingDevice)
	}
	lv, err := DescribeLV(vg, lvName)
	if err != nil {
		return nil, err
	}
	for _, pv := range lv.PVs {
		if !onDisk[pv] {
			return nil, fmt.Errorf("volume: %s/%s uses PV %s, which is not under %s: %w", vg.Name, lvName, pv, name, ErrMissingDevice)
		}
	}
	st.LV = lv
	return st, nil
}

// leaves collects the PVs under dm device name: its slaves, through LVs of the same
// VG (thin pools, caches: refused later by DescribeLV with the reason), recording md
// arrays met on the way.
func (v sysView) leaves(name, vgPrefix string, depth int, out *[]string, st *Stack) error {
	if depth > 8 {
		return fmt.Errorf("volume: device-mapper stack under %s deeper than 8", name)
	}
	for _, s := range v.slaves(name) {
		if uuid, ok := v.read(s, "dm/uuid"); ok {
			if !strings.HasPrefix(uuid, vgPrefix) {
				return &UnsupportedError{Volume: name, Reason: fmt.Sprintf("it lies on device-mapper device %s (dm uuid %q): LUKS or multipath under LVM is not brought up in the capture kernel; use a remote target", s, uuid)}
			}
			if err := v.leaves(s, vgPrefix, depth+1, out, st); err != nil {
				return err
			}
			continue
		}
		if v.exists(s, "md") {
			a, err := v.describeArray(s)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(st.Arrays, func(b Array) bool { return b.UUID == a.UUID }) {
				st.Arrays = append(st.Arrays, *a)
			}
		}
		if !slices.Contains(*out, s) {
			*out = append(*out, s)
		}
	}
	if len(*out) == 0 {
		return fmt.Errorf("volume: %s lists no devices under it: %w", name, ErrMissingDevice)
	}
	return nil
}

func (v sysView) describeArray(name string) (*Array, error) {
	devno, _ := v.read(name, "dev")
	var minor uint32
	if _, err := fmt.Sscanf(devno, "9:%d", &minor); err != nil {
		return nil, &UnsupportedError{Volume: name, Reason: fmt.Sprintf("an md array with device number %q, not one of /dev/mdN (major 9)", devno)}
	}
	if mv, ok := v.read(name, "md/metadata_version"); ok && mv != "1.2" {
		return nil, &UnsupportedError{Volume: name, Reason: fmt.Sprintf("md metadata %s: the capture assembles metadata 1.2 (mdadm's default) only", mv)}
	}
	var first *Superblock
	var errs []error
	for _, m := range v.slaves(name) {
		f, err := v.openDev(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sb, err := ReadSuperblock(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		if first != nil && sb.SetUUID != first.SetUUID {
			return nil, fmt.Errorf("volume: members of %s disagree on the array UUID (%s, %s)", name, first.UUID(), sb.UUID())
		}
		if first == nil || sb.Events > first.Events {
			first = sb
		}
	}
	if first == nil {
		return nil, fmt.Errorf("volume: no member of %s has a readable 1.2 superblock: %w", name, errors.Join(errs...))
	}
	return DescribeArray(first, minor)
}
