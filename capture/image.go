package capture

import (
	"context"
	"fmt"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/netconf"
	"github.com/gokdump/gokdump/rawdump"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/target"
)

// Wire sets f up from what "gokdump start" recorded in the capture initramfs (info;
// nil when it could not be read, and then only f.Config says where the dump goes): the
// modules to load, the dump target — a file system with the LVM/md stack under it, a
// raw partition, or an ssh or nfs server and the network to it — and for
// failure_action dump_to_rootfs the root file system. f.Config and f.Console must be
// set; an unusable target is recorded as TargetErr, for the flow to report.
func (f *Flow) Wire(info *service.CaptureInfo) {
	var fsType, spec string
	if info != nil {
		f.MachineID = info.MachineID
		f.Modules = info.Modules
		f.Dir = info.Device.Dir
		f.Stack = info.Device.Stack
		fsType, spec = info.Device.FSType, info.Device.Spec
	}
	if f.Config.Target.Kind == config.TargetRaw {
		var part *rawdump.Partition
		if info != nil {
			part = info.Device.Raw
		}
		f.Raw, f.TargetErr = RawTargetFor(f.Config, part)
	} else {
		f.Target, f.TargetErr = TargetFor(f.Config, fsType, spec)
	}
	if info != nil && info.Remote != nil {
		f.wireRemote(info.Remote)
	}
	if f.Config.FailureAction == config.ActionDumpToRootfs {
		var root service.DumpDevice
		if info != nil && info.Rootfs != nil {
			root = *info.Rootfs
		}
		f.Rootfs, f.RootfsErr = RootfsTarget(root.FSType, root.Spec)
		f.RootfsDir, f.RootfsStack = root.Dir, root.Stack
	}
}

// wireRemote sets the flow up for an ssh or nfs target as start recorded it: the
// network comes up first (netconf.Up), then the server is reached by the address
// resolved at start.
func (f *Flow) wireRemote(r *service.RemoteTarget) {
	cfg := f.Config
	if r.Network == nil {
		f.Target, f.TargetErr = nil, fmt.Errorf("%s: the image records no network for the %s target (rebuild it with gokdump start)", cfg.File, cfg.Target.Kind)
		return
	}
	f.Network = func(ctx context.Context) error {
		_, err := netconf.Up(ctx, r.Network, netconf.UpOptions{
			Logf: func(format string, args ...any) { f.logf(format, args...) },
		})
		return err
	}
	switch {
	case cfg.S3.Capture && r.S3 != nil:
		f.Target, f.TargetErr = nil, nil
		f.S3 = &S3Target{Target: *r.S3, Addr: r.Network.Addr}
	case cfg.Target.Kind == config.TargetSSH && r.SSH != nil:
		var keys []string
		for _, k := range r.SSH.HostKeys {
			keys = append(keys, k.Key)
		}
		f.Target, f.TargetErr = nil, nil
		f.Remote = SSHTarget{SSH: &target.SSH{Addr: r.Network.Addr, Port: r.SSH.Port, User: r.SSH.User,
			KeyFile: r.SSH.Key, HostKeys: keys, Wait: TargetWait}}
	case cfg.Target.Kind == config.TargetNFS && r.NFS != nil:
		f.Target, f.TargetErr = &target.NFS{Server: r.Network.Addr, Export: r.NFS.Export, FSType: r.NFS.FSType,
			Options: r.NFS.Options, MountPoint: TargetMountPoint, Wait: TargetWait}, nil
	default:
		f.Target, f.TargetErr = nil, fmt.Errorf("%s: the image was built for another target than %s (rebuild it with gokdump start)", cfg.File, cfg.Target.Spec)
	}
}
