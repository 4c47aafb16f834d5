package service

import (
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/volume"
)

// failure_action dump_to_rootfs: when the configured target fails, the capture saves
// to path on the machine's root file system instead (package capture). gokdump start
// finds that file system now, records it in the image (CaptureInfo.Rootfs: a UUID=
// spec, which survives device renaming, its type, and the LVM/md stack under it) with
// the modules that reach it, and refuses the directive when the capture could not save
// there: a root file system that is not on a block device (tmpfs, nfs, overlay), of a
// type the capture does not save to, or on a block stack it cannot bring up.

// rootDevice is the machine's root file system ("/" in the mount table, the one on
// top when several are), for failure_action dump_to_rootfs: dumps go to cfg.Path on
// it, below its mount's root (Dir, for a btrfs subvolume or bind mount as "/"). The
// error is a refusal on cfg's failure_action line. The notes say what the
// administrator should know.
func (s *System) rootDevice(cfg *config.Config) (DumpDevice, []string, error) {
	refuse := func(msg string) error { return rootfsError(cfg, msg) }
	ms, p, err := s.mounts()
	if err != nil {
		return DumpDevice{}, nil, refuse(fmt.Sprintf("finding the root file system: %v", err))
	}
	root := mountOf(ms, "/")
	if root == nil || root.Point != "/" {
		return DumpDevice{}, nil, refuse(fmt.Sprintf("%s lists no mount on /", p))
	}
	if !captureFSType(root.FSType) {
		return DumpDevice{}, nil, refuse(fmt.Sprintf("the root file system is %s (%s), which the capture kernel cannot mount and save to (it saves to ext4, xfs or btrfs on a local disk): choose another failure_action", root.FSType, root.Source))
	}
	d, err := s.mountDevice(root, cfg.Path)
	if err != nil {
		return DumpDevice{}, nil, refuse(fmt.Sprintf("the root file system: %v", err))
	}
	if stacked(d.Name) {
		st, err := s.describeStack(d.Name)
		if err != nil {
			why := err.Error()
			if errors.Is(err, volume.ErrUnsupported) {
				why += "; the capture kernel cannot bring it up"
			}
			return DumpDevice{}, nil, refuse(fmt.Sprintf("the root file system's device %s (%s): %s", d.Spec, d.Name, why))
		}
		if len(st.Arrays) > 0 || st.LV != nil {
			d.Stack = st
		}
	}
	var notes []string
	if m := mountOf(ms, cfg.Path); m != nil && m.Point != "/" {
		notes = append(notes, fmt.Sprintf("failure_action dump_to_rootfs saves to %s on the root file system (%s), under the mount point %s: dumps saved there are hidden while %s is mounted", cfg.Path, d.Spec, m.Point, m.Point))
	}
	return d, notes, nil
}

// rootfsError is a refusal of failure_action dump_to_rootfs, on its line of cfg.
func rootfsError(cfg *config.Config, msg string) error {
	return &config.Error{File: cfg.File, Line: cfg.Lines["failure_action"], Msg: "failure_action dump_to_rootfs: " + msg}
}
