package target

import (
	"context"
	"fmt"
	"os"
	"time"
)

// FSTypes are the local file systems a dump can be saved to (kdump.conf's first word).
var FSTypes = []string{"ext2", "ext3", "ext4", "xfs", "btrfs"}

// Local is a dump target on a local file system.
type Local struct {
	FSType     string        // kdump.conf's type: ext4, xfs, btrfs (ext2 and ext3 too)
	Device     Device        // which device holds it
	Wait       time.Duration // how long to wait for the device to appear
	MountPoint string        // where to mount it (created)
	Options    string        // mount data ("" for the defaults)

	dev     string
	mounted bool
}

func (l *Local) String() string { return l.FSType + " " + l.Device.String() }

// Mount finds the device (waiting up to l.Wait), checks that it holds the configured
// kind of file system, and mounts it read-write on l.MountPoint, which it returns.
func (l *Local) Mount(ctx context.Context) (string, error) {
	if !knownFSType(l.FSType) {
		return "", fmt.Errorf("target: file system type %q is not one of %v", l.FSType, FSTypes)
	}
	dev, err := Find(ctx, l.Device, l.Wait)
	if err != nil {
		return "", err
	}
	sb, err := ProbeFile(dev)
	if err != nil {
		return "", fmt.Errorf("target: %s (%s): %w", l.Device, dev, err)
	}
	if !compatible(l.FSType, sb.Type) {
		return "", fmt.Errorf("target: %s (%s) holds %s, not %s", l.Device, dev, sb.Type, l.FSType)
	}
	if err := os.MkdirAll(l.MountPoint, 0o700); err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	// The configured type is what is mounted: the ext4 driver mounts ext2/3 too.
	if err := mount(dev, l.MountPoint, l.FSType, l.Options); err != nil {
		return "", fmt.Errorf("target: mount %s (%s) on %s as %s: %w", l.Device, dev, l.MountPoint, l.FSType, err)
	}
	l.dev, l.mounted = dev, true
	return l.MountPoint, nil
}

// DevicePath is the device Mount found ("" before).
func (l *Local) DevicePath() string { return l.dev }

// Unmount flushes and unmounts the file system Mount mounted; a busy file system is
// detached instead, after the flush, so a reboot that follows loses nothing.
func (l *Local) Unmount() error {
	if !l.mounted {
		return nil
	}
	l.mounted = false
	return unmount(l.MountPoint)
}

func knownFSType(t string) bool {
	for _, k := range FSTypes {
		if k == t {
			return true
		}
	}
	return false
}

// compatible says whether a file system probed as have can be mounted as want.
func compatible(want, have string) bool {
	isExt := func(t string) bool { return t == "ext2" || t == "ext3" || t == "ext4" }
	if isExt(want) && isExt(have) {
		return want == "ext4" || want == have
	}
	return want == have
}
