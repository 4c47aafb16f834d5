package service

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/internal/mountinfo"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/rawdump"
	"github.com/gokdump/gokdump/target"
	"github.com/gokdump/gokdump/volume"
	"golang.org/x/sys/unix"
)

// Bounds on walks over sysfs: real device trees are a few levels deep and stacked
// devices (dm on md on disks) a few layers high.
const (
	maxSysfsDepth   = 64
	maxStackDepth   = 8
	maxBlockDevices = 4096
)

// fsModule is the module that mounts a file system type (ext2 and ext3 are mounted
// by the ext4 driver).
func fsModule(fstype string) string {
	switch fstype {
	case "ext2", "ext3":
		return "ext4"
	}
	return fstype
}

// DumpDevice is the block device a dump is saved on, as found in the first kernel.
type DumpDevice struct {
	FSType string `json:"fstype"` // ext4, xfs, btrfs; "" for a raw target
	Name   string `json:"name"`   // the kernel's name for it (vdb1, nvme0n1p2, dm-0); "" when not found
	// Spec is how the capture environment finds it: the target's device, LABEL= or
	// UUID= as configured, or for the root file system the UUID= (or device) found here.
	Spec string `json:"spec"`
	// Dir is where dumps go on this device, from the root of its file system, when that
	// differs from the configured path: the root file system target whose path is on a
	// file system mounted elsewhere (path /var/crash on a separate /var is /crash on
	// that device). "" means the configured path.
	Dir string `json:"dir,omitempty"`
	// Stack is the LVM or md layout under the device, which the capture kernel brings
	// up (volume.Activate) before it mounts the file system; nil for a plain disk or
	// partition.
	Stack *volume.Stack `json:"stack,omitempty"`
	// Raw is the raw partition of a raw target, as the capture kernel finds it.
	Raw *rawdump.Partition `json:"raw,omitempty"`
}

// dumpDevice finds the device dumps go to for cfg. For the root file system (no
// target directive) it is the file system holding cfg.Path. A configured device
// that is not present now is not an error (a disk may be attached later; the capture
// environment waits for it): Name is then "".
func (s *System) dumpDevice(cfg *config.Config) (DumpDevice, error) {
	t := cfg.Target
	switch t.Kind {
	case config.TargetSSH, config.TargetNFS:
		return DumpDevice{}, nil // no device: the image records RemoteTarget instead
	case config.TargetRootfs:
		if cfg.S3.Capture {
			return DumpDevice{}, nil // the dump goes to the bucket (RemoteTarget.S3)
		}
		return s.rootfsDevice(cfg.Path)
	case config.TargetRaw:
		return s.rawDevice(cfg)
	}
	d := DumpDevice{Spec: t.Spec}
	if t.Kind.IsFilesystem() {
		d.FSType = string(t.Kind)
	}
	var err error
	switch {
	case t.Device != "":
		d.Name, err = s.deviceName(t.Device)
	default:
		d.Name, err = s.findByFilesystem(t.Label, t.UUID)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	return d, err
}

// deviceName returns the kernel name of the block device at devPath (a path under
// /dev, possibly a udev symbolic link), or an error wrapping fs.ErrNotExist.
func (s *System) deviceName(devPath string) (string, error) {
	rel, ok := strings.CutPrefix(devPath, "/dev/")
	if !ok {
		return "", fmt.Errorf("device %s is not under /dev", devPath)
	}
	host := filepath.Join(s.DevRoot, rel)
	real, err := filepath.EvalSymlinks(host)
	if err != nil {
		return "", err
	}
	if name := filepath.Base(real); s.isBlock(name) {
		return name, nil
	}
	// Device nodes may have other names (/dev/root): go by the device number.
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return "", &fs.PathError{Op: "stat", Path: real, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", devPath)
	}
	return s.nameByNumber(fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
}

// nameByNumber returns the kernel name of the block device MAJOR:MINOR.
func (s *System) nameByNumber(majMin string) (string, error) {
	real, err := filepath.EvalSymlinks(filepath.Join(s.SysRoot, "dev/block", majMin))
	if err != nil {
		return "", err
	}
	return filepath.Base(real), nil
}

func (s *System) isBlock(name string) bool {
	_, err := os.Lstat(filepath.Join(s.SysRoot, "class/block", name))
	return err == nil
}

// blockDevices lists /sys/class/block, sorted.
func (s *System) blockDevices() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.SysRoot, "class/block"))
	if err != nil {
		return nil, err
	}
	if len(ents) > maxBlockDevices {
		ents = ents[:maxBlockDevices]
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// findByFilesystem finds the block device whose file system has the label or UUID:
// through udev's /dev/disk/by-label and by-uuid links when there are some, else by
// reading the superblock of every block device (as the capture environment, which
// has no udev, does).
func (s *System) findByFilesystem(label, uuid string) (string, error) {
	link := filepath.Join(s.DevRoot, "disk/by-uuid", uuid)
	if label != "" {
		link = filepath.Join(s.DevRoot, "disk/by-label", udevEscape(label))
	}
	if real, err := filepath.EvalSymlinks(link); err == nil && s.isBlock(filepath.Base(real)) {
		return filepath.Base(real), nil
	}
	names, err := s.blockDevices()
	if err != nil {
		return "", err
	}
	for _, n := range names {
		sb, err := target.ProbeFile(filepath.Join(s.DevRoot, n))
		if err != nil {
			continue
		}
		if (label != "" && sb.Label == label) || (uuid != "" && strings.EqualFold(sb.UUID, uuid)) {
			return n, nil
		}
	}
	return "", fs.ErrNotExist
}

// udevEscape escapes a label as udev names its /dev/disk/by-label link: bytes
// other than letters, digits and #+-.:=@_ become \xHH.
func udevEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("#+-.:=@_", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// rootfsDevice finds the mounted file system that holds dir (which need not exist
// yet): the mount with the longest mount point that is a prefix of dir.
func (s *System) rootfsDevice(dir string) (DumpDevice, error) {
	ms, p, err := s.mounts()
	if err != nil {
		return DumpDevice{}, fmt.Errorf("finding the file system of %s: %w", dir, err)
	}
	best := mountOf(ms, dir)
	if best == nil {
		return DumpDevice{}, fmt.Errorf("%s: no mount holds %s", p, dir)
	}
	if !captureFSType(best.FSType) {
		return DumpDevice{}, fmt.Errorf("path %s is on a %s file system (%s), which the capture kernel cannot save to: configure an ext4, xfs or btrfs target", dir, best.FSType, best.Point)
	}
	return s.mountDevice(best, dir)
}

// mounts reads this process's mount table; it returns the file's path too.
func (s *System) mounts() ([]mountinfo.Mount, string, error) {
	p := filepath.Join(s.ProcRoot, "self/mountinfo")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return nil, p, err
	}
	ms, err := mountinfo.Parse(bytes.NewReader(data), p)
	return ms, p, err
}

// mountOf is the mount that holds dir: the one with the longest mount point that is
// a prefix of dir, the last one listed (the one on top) among equals.
func mountOf(ms []mountinfo.Mount, dir string) *mountinfo.Mount {
	var best *mountinfo.Mount
	for i := range ms {
		m := &ms[i]
		if dir == m.Point || m.Point == "/" || strings.HasPrefix(dir, m.Point+"/") {
			if best == nil || len(m.Point) >= len(best.Point) {
				best = m
			}
		}
	}
	return best
}

// captureFSType says whether the capture kernel saves to a file system of this type.
func captureFSType(t string) bool {
	switch t {
	case "ext2", "ext3", "ext4", "xfs", "btrfs":
		return true
	}
	return false
}

// mountDevice is the block device of the mount m as the capture kernel finds it, for
// dumps in dir (an absolute path in this machine's tree, below m.Point).
func (s *System) mountDevice(m *mountinfo.Mount, dir string) (DumpDevice, error) {
	d := DumpDevice{FSType: m.FSType, Spec: m.Source}
	// The capture kernel mounts the device's file system at its root: the dumps'
	// directory there is the mount's root (a bind mount or subvolume) plus dir below
	// the mount point.
	if rel := filepath.Join(m.Root, strings.TrimPrefix(dir, strings.TrimSuffix(m.Point, "/"))); rel != filepath.Clean(dir) {
		d.Dir = rel
	}
	var err error
	// Btrfs reports an anonymous device number (major 0): go by the source.
	if !strings.HasPrefix(m.MajMin, "0:") {
		d.Name, err = s.nameByNumber(m.MajMin)
	} else {
		d.Name, err = s.deviceName(m.Source)
	}
	if err != nil {
		return DumpDevice{}, fmt.Errorf("the device of %s (%s, %s): %w", m.Point, m.Source, m.MajMin, err)
	}
	// A UUID survives device renaming between the two kernels; prefer it.
	if sb, err := target.ProbeFile(filepath.Join(s.DevRoot, d.Name)); err == nil && sb.UUID != "" {
		d.Spec = "UUID=" + sb.UUID
	} else if !strings.HasPrefix(d.Spec, "/dev/") || d.Spec == "/dev/root" {
		d.Spec = "/dev/" + d.Name
	}
	return d, nil
}

// driverModules returns the modules of the drivers between the block device name
// and the root of the device tree (disk, controller, bus), for the layers below it
// when it is a device-mapper or md device too. Built-in drivers have no module and
// are left out.
func (s *System) driverModules(name string) ([]string, error) {
	var mods []string
	seen := map[string]bool{}
	add := func(m string) {
		if !seen[m] {
			seen[m] = true
			mods = append(mods, m)
		}
	}
	var walk func(name string, depth int) error
	walk = func(name string, depth int) error {
		if depth > maxStackDepth {
			return fmt.Errorf("block device %s: more than %d stacked layers", name, maxStackDepth)
		}
		dev, err := filepath.EvalSymlinks(filepath.Join(s.SysRoot, "class/block", name))
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(name, "dm-"):
			add("dm_mod")
		case strings.HasPrefix(name, "md"):
			add("md_mod")
			if lvl, err := smallfile.Read(filepath.Join(dev, "md/level"), 64); err == nil {
				if l := strings.TrimSpace(string(lvl)); strings.HasPrefix(l, "raid") {
					add(raidModule(l))
				}
			}
		}
		// A partition's layers are its disk's.
		holder := dev
		if _, err := os.Stat(filepath.Join(dev, "partition")); err == nil {
			holder = filepath.Dir(dev)
		}
		slaves, _ := os.ReadDir(filepath.Join(holder, "slaves"))
		for _, sl := range slaves {
			if err := walk(sl.Name(), depth+1); err != nil {
				return err
			}
		}
		devices := filepath.Join(s.SysRoot, "devices")
		if real, err := filepath.EvalSymlinks(devices); err == nil {
			devices = real
		}
		for dir, i := dev, 0; i < maxSysfsDepth && strings.HasPrefix(dir, devices+"/"); dir, i = filepath.Dir(dir), i+1 {
			mod, err := filepath.EvalSymlinks(filepath.Join(dir, "driver/module"))
			if err == nil {
				add(filepath.Base(mod))
			}
		}
		return nil
	}
	if err := walk(name, 0); err != nil {
		return nil, fmt.Errorf("drivers of block device %s: %w", name, err)
	}
	return mods, nil
}

// raidModule is the md personality module of a RAID level (raid4, 5 and 6 share one).
func raidModule(level string) string {
	switch level {
	case "raid4", "raid5", "raid6":
		return "raid456"
	}
	return level
}
