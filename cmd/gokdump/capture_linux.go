package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/capture"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/netconf"
	"github.com/gokdump/gokdump/rawdump"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/target"
)

// The capture service: what gokdump does as PID 1 of the capture initramfs that
// "gokdump initramfs" / "gokdump start" build (package service), when the crashed
// kernel's memory is in /proc/vmcore. The flow itself is package capture; this file
// only wires the image's configuration into a capture.Flow.

// captureConfigPath is the configuration inside the capture initramfs.
const captureConfigPath = "/" + service.ConfigPath

// isCaptureService says whether this PID 1 is the capture service: the crashed
// kernel's memory is there and so is the configuration the image was built with.
func isCaptureService() bool {
	st, err := os.Stat("/proc/vmcore")
	if err != nil || st.Size() == 0 {
		return false
	}
	_, err = os.Stat(captureConfigPath)
	return err == nil
}

// runCaptureService saves the dump and takes the final or failure action. It returns
// only when that action could not be taken (or the configuration is unreadable);
// initProcess then powers the machine off.
func runCaptureService(ctx context.Context, con io.Writer) error {
	cfg, err := loadConfig(captureConfigPath, true)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	info, err := service.ReadCaptureInfo("/" + service.CaptureInfoPath)
	if err != nil {
		fmt.Fprintf(con, "gokdump: warning: %v\n", err)
	}
	col, err := capture.ParseCollector(cfg.Collector)
	if err != nil {
		return fmt.Errorf("capture: %s: %w", cfg.File, err)
	}
	flow := &capture.Flow{
		Config:     cfg,
		Collector:  col,
		Vmcore:     "/proc/vmcore",
		Machine:    capture.Kernel{},
		Console:    con,
		LoadModule: func(p string) error { return kmod.LoadFile(p, "") },
		HookDirs:   [2]string{capture.PreHookDir, capture.PostHookDir},
	}
	var fsType, spec string
	if info != nil {
		flow.Modules = info.Modules
		flow.Dir = info.Device.Dir
		flow.Stack = info.Device.Stack
		fsType, spec = info.Device.FSType, info.Device.Spec
	}
	if cfg.Target.Kind == config.TargetRaw {
		var part *rawdump.Partition
		if info != nil {
			part = info.Device.Raw
		}
		flow.Raw, flow.TargetErr = capture.RawTargetFor(cfg, part)
	} else {
		flow.Target, flow.TargetErr = capture.TargetFor(cfg, fsType, spec)
	}
	if info != nil && info.Remote != nil {
		wireRemote(flow, info.Remote, con)
	}
	if cfg.FailureAction == config.ActionDumpToRootfs {
		var root service.DumpDevice
		if info != nil && info.Rootfs != nil {
			root = *info.Rootfs
		}
		flow.Rootfs, flow.RootfsErr = capture.RootfsTarget(root.FSType, root.Spec)
		flow.RootfsDir, flow.RootfsStack = root.Dir, root.Stack
	}
	_, err = flow.Run(ctx)
	if err == nil {
		err = errors.New("the machine did not stop after the final action")
	}
	return err
}

// wireRemote sets the flow up for an ssh or nfs target as start recorded it: the
// network comes up first (netconf.Up), then the server is reached by the address
// resolved at start.
func wireRemote(flow *capture.Flow, r *service.RemoteTarget, con io.Writer) {
	cfg := flow.Config
	if r.Network == nil {
		flow.Target, flow.TargetErr = nil, fmt.Errorf("%s: the image records no network for the %s target (rebuild it with gokdump start)", cfg.File, cfg.Target.Kind)
		return
	}
	flow.Network = func(ctx context.Context) error {
		_, err := netconf.Up(ctx, r.Network, netconf.UpOptions{
			Logf: func(format string, args ...any) { fmt.Fprintf(con, "gokdump: "+format+"\n", args...) },
		})
		return err
	}
	switch {
	case cfg.Target.Kind == config.TargetSSH && r.SSH != nil:
		var keys []string
		for _, k := range r.SSH.HostKeys {
			keys = append(keys, k.Key)
		}
		flow.Target, flow.TargetErr = nil, nil
		flow.Remote = capture.SSHTarget{SSH: &target.SSH{Addr: r.Network.Addr, Port: r.SSH.Port, User: r.SSH.User,
			KeyFile: r.SSH.Key, HostKeys: keys, Wait: capture.TargetWait}}
	case cfg.Target.Kind == config.TargetNFS && r.NFS != nil:
		flow.Target, flow.TargetErr = &target.NFS{Server: r.Network.Addr, Export: r.NFS.Export, FSType: r.NFS.FSType,
			Options: r.NFS.Options, MountPoint: capture.TargetMountPoint, Wait: capture.TargetWait}, nil
	default:
		flow.Target, flow.TargetErr = nil, fmt.Errorf("%s: the image was built for another target than %s (rebuild it with gokdump start)", cfg.File, cfg.Target.Spec)
	}
}
