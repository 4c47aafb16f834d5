package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokdump/gokdump/volume"
)

// The block stack under the dump target: the md arrays and LVM logical volume that
// gokdump start recorded (service.DumpDevice.Stack) are brought up after the modules
// are loaded and before the target is mounted. A layout that changed since arming
// fails the capture (failure_action runs): nothing is written through a stale mapping.

// VolumeWait bounds the wait for the md members and PVs of the recorded stack to
// appear (volume.Activate starts a RAID1 degraded when only some did).
const VolumeWait = 30 * time.Second

// Activator brings up a recorded stack and returns the path of its top device.
type Activator func(ctx context.Context, s *volume.Stack, wait time.Duration) (string, error)

// ActivateLinux is the capture kernel's Activator: volume.Activate on the running
// kernel (md ioctls, /dev/mapper/control).
func ActivateLinux(ctx context.Context, s *volume.Stack, wait time.Duration) (string, error) {
	return volume.Activate(ctx, s, volume.LinuxKernel(), wait)
}

// StackString names the volumes of s for the console: "md array UUID (name), LV vg/lv".
func StackString(s *volume.Stack) string {
	var parts []string
	for _, a := range s.Arrays {
		parts = append(parts, fmt.Sprintf("md array %s (%s, /dev/md%d)", a.UUID, a.Name, a.Minor))
	}
	if s.LV != nil {
		parts = append(parts, fmt.Sprintf("LV %s/%s", s.LV.VGName, s.LV.Name))
	}
	return strings.Join(parts, ", ")
}

// bringUpStack activates f.Stack, bounded by the target timeout, and makes the links
// udev would have made, so that the target's device resolves in every form kdump.conf
// may name it: /dev/mapper/VG-LV (made by the activation), /dev/VG/LV, /dev/mdN,
// /dev/md/NAME, and LABEL= or UUID= (found among the block devices, /dev/dm-N and
// /dev/mdN being devtmpfs's).
func (f *Flow) bringUpStack(ctx context.Context) error {
	if f.Stack == nil {
		return nil
	}
	act := f.Activate
	if act == nil {
		act = ActivateLinux
	}
	what := StackString(f.Stack)
	f.logf("bringing up %s", what)
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
	dev, err := act(ctx, f.Stack, VolumeWait)
	cancel()
	if err != nil {
		if errors.Is(err, volume.ErrLayoutChanged) {
			return fmt.Errorf("the volume layout under the dump target changed since gokdump start recorded it; nothing was written: %w", err)
		}
		return fmt.Errorf("bringing up %s: %w", what, err)
	}
	f.logf("%s is up as %s", what, dev)
	devDir := f.DevDir
	if devDir == "" {
		devDir = "/dev"
	}
	for _, l := range stackLinks(f.Stack) {
		if err := link(filepath.Join(devDir, l.name), l.to); err != nil {
			f.logf("warning: %v", err)
		}
	}
	return nil
}

type devLink struct{ name, to string }

// stackLinks are the links udev's rules (lvm2's and mdadm's) make for s, relative to
// /dev, pointing at their device nodes.
func stackLinks(s *volume.Stack) []devLink {
	var out []devLink
	for _, a := range s.Arrays {
		node := fmt.Sprintf("../md%d", a.Minor)
		if a.Name == "" || strings.ContainsAny(a.Name, "/\x00") {
			continue
		}
		// mdadm names the array /dev/md/NAME when HOST: is this machine's, else
		// /dev/md/HOST:NAME: make both.
		out = append(out, devLink{"md/" + a.Name, node})
		if _, name, ok := strings.Cut(a.Name, ":"); ok && name != "" {
			out = append(out, devLink{"md/" + name, node})
		}
	}
	if lv := s.LV; lv != nil && !strings.ContainsAny(lv.VGName+lv.Name, "/\x00") && !strings.HasPrefix(lv.VGName, ".") {
		out = append(out, devLink{lv.VGName + "/" + lv.Name, "../mapper/" + lv.DMName()})
	}
	return out
}

// link makes a symbolic link at name unless something is there already.
func link(name, to string) error {
	if _, err := os.Lstat(name); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("linking %s: %w", name, err)
	}
	if err := os.Symlink(to, name); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("linking %s: %w", name, err)
	}
	return nil
}
