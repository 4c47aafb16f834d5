package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/gokdump/gokdump/capture"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/target"
)

// The capture service: what gokdump does as PID 1 of the capture initramfs that
// "gokdump initramfs" / "gokdump start" build (package service), when the crashed
// kernel's memory is in /proc/vmcore. The flow itself is package capture; this file
// turns the image's configuration into a capture.Flow.

// captureTargetWait bounds the wait for the dump device to appear (drivers probing,
// slow disks), as Fedora's default of 30 s for the root device.
const captureTargetWait = 30 * time.Second

// captureMountPoint is where the capture mounts a file system target.
const captureMountPoint = "/kdumproot"

// captureTarget is the dump target of cfg as the capture kernel reaches it. The device
// the builder found (info.Device: for the root file system, its UUID) wins over the
// configuration's words, which it was made from.
func captureTarget(cfg *config.Config, info *service.CaptureInfo) (capture.Target, error) {
	fstype, spec := string(cfg.Target.Kind), cfg.Target.Spec
	if info != nil && info.Device.FSType != "" && info.Device.Spec != "" {
		fstype, spec = info.Device.FSType, info.Device.Spec
	}
	switch cfg.Target.Kind {
	case config.TargetRaw, config.TargetSSH, config.TargetNFS:
		return nil, fmt.Errorf("%s: saving to a %s target is not implemented yet", cfg.File, cfg.Target.Kind)
	case config.TargetRootfs:
		if spec == "" {
			return nil, errors.New("no target is configured and the image does not say which device holds the root file system (rebuild it with gokdump initramfs)")
		}
	}
	dev, err := target.ParseDevice(spec)
	if err != nil {
		return nil, err
	}
	return &target.Local{FSType: fstype, Device: dev, Wait: captureTargetWait, MountPoint: captureMountPoint}, nil
}
