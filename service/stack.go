package service

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/volume"
)

// The block stack under the dump device (LVM logical volumes, md RAID1 arrays, LVM
// over md): gokdump start records it in the image (DumpDevice.Stack) for the capture
// kernel's volume.Activate, and refuses what the capture could not bring up, with
// the kdump.conf line and volume's reason.

// stacked says whether the kernel's block device name is a device-mapper or md device
// (or a partition of one), whose stack the capture kernel must bring up.
func stacked(name string) bool {
	return strings.HasPrefix(name, "dm-") || strings.HasPrefix(name, "md")
}

// describeStack returns the stack under the block device the kernel calls name.
func (s *System) describeStack(name string) (*volume.Stack, error) {
	if s.DescribeStack != nil {
		return s.DescribeStack(name)
	}
	return volume.DescribeDevice(filepath.Join(s.DevRoot, name))
}

// recordStack describes the stack under d when it is a device-mapper or md device
// and records it in d.Stack, or returns why the capture could not bring it up, on
// the line of cfg that chose the device. A device that is not there now has no stack
// to record: a /dev/mapper or /dev/md device is refused then (nothing would set it
// up in the capture kernel), any other is waited for there.
func (s *System) recordStack(cfg *config.Config, d *DumpDevice) error {
	if d.Name == "" {
		if p := d.Spec; strings.HasPrefix(p, "/dev/mapper/") || strings.HasPrefix(p, "/dev/md") || strings.HasPrefix(p, "/dev/dm-") {
			return directiveError(cfg, fmt.Sprintf("%s is not present now: gokdump start records the LVM or md layout under it for the capture kernel, so it must run while the volume is active", p))
		}
		return nil
	}
	if !stacked(d.Name) {
		return nil
	}
	st, err := s.describeStack(d.Name)
	if err != nil {
		why := err.Error()
		if errors.Is(err, volume.ErrUnsupported) {
			why += "; the capture kernel cannot bring it up, so gokdump does not arm with it (a remote target, ssh or nfs, needs no local volume)"
		}
		return directiveError(cfg, fmt.Sprintf("the dump device %s (%s): %s", d.Spec, d.Name, why))
	}
	if len(st.Arrays) == 0 && st.LV == nil {
		return nil
	}
	d.Stack = st
	// dm-N numbers are handed out in the order devices are made: the capture
	// kernel's differ. Its /dev/mapper name does not.
	if strings.HasPrefix(d.Spec, "/dev/dm-") && st.LV != nil {
		d.Spec = "/dev/mapper/" + st.LV.DMName()
	}
	return nil
}

// stackModules are the modules the capture kernel needs to bring st up: dm_mod (its
// linear and striped targets are part of it) for an LV, md_mod and the RAID1
// personality for md arrays. Their dependencies come with kmod.Resolve.
func stackModules(st *volume.Stack) []string {
	if st == nil {
		return nil
	}
	var mods []string
	if len(st.Arrays) > 0 {
		mods = append(mods, "md_mod", "raid1")
	}
	if st.LV != nil {
		mods = append(mods, "dm_mod")
	}
	return mods
}

// directiveError is a refusal on the line of cfg that chose the dump device: the
// target directive, else path (the root file system holds it).
func directiveError(cfg *config.Config, msg string) error {
	if cfg.Target.Line > 0 {
		return &config.Error{File: cfg.File, Line: cfg.Target.Line, Msg: fmt.Sprintf("%s %s: %s", cfg.Target.Kind, cfg.Target.Spec, msg)}
	}
	return &config.Error{File: cfg.File, Line: cfg.Lines["path"], Msg: fmt.Sprintf("path %s (on the root file system): %s", cfg.Path, msg)}
}
