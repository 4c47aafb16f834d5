package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/target"
)

// TargetWait bounds the wait for the dump device to appear (drivers probing, slow
// disks), as Fedora's default of 30 s for the root device.
const TargetWait = 30 * time.Second

// TargetMountPoint is where the capture mounts a file system target.
const TargetMountPoint = "/kdumproot"

// TargetFor is the dump target of cfg as the capture kernel reaches it. fsType and spec
// are the device the image builder found ("" when it found none: for the root file
// system, its UUID); they win over the configuration's words, which they were made from.
func TargetFor(cfg *config.Config, fsType, spec string) (Target, error) {
	fstype, devSpec := string(cfg.Target.Kind), cfg.Target.Spec
	if fsType != "" && spec != "" {
		fstype, devSpec = fsType, spec
	}
	switch cfg.Target.Kind {
	case config.TargetRaw:
		return nil, fmt.Errorf("%s: a raw target is not mounted: it is written through RawTargetFor", cfg.File)
	case config.TargetSSH, config.TargetNFS:
		// The server's address and the way to it are what start recorded in the
		// image (service.RemoteTarget): the capture's wiring sets the target from it.
		return nil, fmt.Errorf("%s: the %s target needs the network that gokdump start records in the image, and this image has none (rebuild it with gokdump start)", cfg.File, cfg.Target.Kind)
	case config.TargetRootfs:
		if devSpec == "" {
			return nil, errors.New("no target is configured and the image does not say which device holds the root file system (rebuild it with gokdump initramfs)")
		}
	}
	dev, err := target.ParseDevice(devSpec)
	if err != nil {
		return nil, err
	}
	return &target.Local{FSType: fstype, Device: dev, Wait: TargetWait, MountPoint: TargetMountPoint}, nil
}

// RootfsMountPoint is where the capture mounts the root file system for
// failure_action dump_to_rootfs (dracut's name for it).
const RootfsMountPoint = "/sysroot"

// RootfsTarget is the machine's root file system as the capture kernel reaches it,
// for failure_action dump_to_rootfs: fsType and spec are the device the image builder
// recorded (service.CaptureInfo.Rootfs). It is mounted read-write at RootfsMountPoint.
func RootfsTarget(fsType, spec string) (Target, error) {
	if fsType == "" || spec == "" {
		return nil, errors.New("the image records no root file system (rebuild it with gokdump start)")
	}
	dev, err := target.ParseDevice(spec)
	if err != nil {
		return nil, err
	}
	return &target.Local{FSType: fsType, Device: dev, Wait: TargetWait, MountPoint: RootfsMountPoint}, nil
}
