package rawdump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/format/gpt"
	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/internal/mountinfo"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/target"
	"golang.org/x/sys/unix"
)

// Partition is the raw partition as found at arming: what the capture kernel, which
// has no udev and may name disks differently, matches to find it again.
type Partition struct {
	Spec     string `json:"spec"`     // as configured: /dev/vdb1, LABEL=..., UUID=...
	Name     string `json:"name"`     // the kernel's name at arming (vdb1)
	Disk     string `json:"disk"`     // its disk's kernel name at arming (vdb)
	PartUUID string `json:"partuuid"` // the GPT partition's unique GUID
	Number   int    `json:"number"`   // its number on the disk
	Start    int64  `json:"start"`    // its first 512-byte sector on the disk (sysfs start)
	Size     int64  `json:"size"`     // its size in bytes
}

func (p *Partition) String() string {
	return fmt.Sprintf("%s (PARTUUID=%s, %d bytes)", p.Spec, p.PartUUID, p.Size)
}

// Roots are where this system's /dev, /sys and /proc are (tests and chroots point
// them elsewhere).
type Roots struct{ Dev, Sys, Proc string }

// HostRoots are the real ones.
var HostRoots = Roots{Dev: "/dev", Sys: "/sys", Proc: "/proc"}

// MinSize is the smallest partition Resolve accepts: the header block and room for
// the smallest dump's headers.
const MinSize = 1 << 20

// Bounds on scans of sysfs.
const maxBlockDevices = 4096

// Resolve finds the raw partition t names and checks that a dump may be written to
// it: it exists, is a partition of a disk with a GPT, is not mounted or used by
// another block device (dm, md), holds no file system or other known signature (our
// own raw dump header aside), and has at least MinSize bytes.
func Resolve(r Roots, t config.Target) (*Partition, error) {
	var name string
	var err error
	switch {
	case t.Device != "":
		name, err = r.deviceName(t.Device)
	case t.Label != "":
		name, err = r.byGPT("by-partlabel", t.Label, func(p *gpt.Partition) bool { return p.Name == t.Label })
	case t.UUID != "":
		name, err = r.byGPT("by-partuuid", t.UUID, func(p *gpt.Partition) bool { return strings.EqualFold(p.UUID, t.UUID) })
	default:
		return nil, errors.New("no device given")
	}
	if err != nil {
		return nil, err
	}
	p, err := r.describe(name)
	if err != nil {
		return nil, err
	}
	p.Spec = t.Spec
	if err := r.checkUnused(p); err != nil {
		return nil, err
	}
	return p, nil
}

// deviceName is the kernel name of the block device at devPath (a /dev path or udev
// link).
func (r Roots) deviceName(devPath string) (string, error) {
	rel, ok := strings.CutPrefix(devPath, "/dev/")
	if !ok {
		return "", fmt.Errorf("%s is not under /dev", devPath)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(r.Dev, rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s does not exist", devPath)
		}
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return "", &fs.PathError{Op: "stat", Path: real, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%s is not a block device", devPath)
	}
	link, err := filepath.EvalSymlinks(filepath.Join(r.Sys, "dev/block", fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))))
	if err != nil {
		return "", fmt.Errorf("%s: block device %d:%d is not in sysfs: %w", devPath, unix.Major(st.Rdev), unix.Minor(st.Rdev), err)
	}
	return filepath.Base(link), nil
}

// byGPT finds a partition through udev's link when there is one, else by reading
// every disk's GPT.
func (r Roots) byGPT(linkDir, value string, match func(*gpt.Partition) bool) (string, error) {
	if real, err := filepath.EvalSymlinks(filepath.Join(r.Dev, "disk", linkDir, value)); err == nil {
		if _, err := os.Stat(filepath.Join(r.Sys, "class/block", filepath.Base(real), "partition")); err == nil {
			return filepath.Base(real), nil
		}
	}
	var found []string
	err := r.eachPartition(func(name, disk string, number int, t *gpt.Table) {
		for i := range t.Partitions {
			if t.Partitions[i].Number == number && match(&t.Partitions[i]) {
				found = append(found, name)
			}
		}
	})
	if err != nil {
		return "", err
	}
	what := map[string]string{"by-partlabel": "GPT partition name (PARTLABEL)", "by-partuuid": "GPT partition GUID (PARTUUID)"}[linkDir]
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no partition has the %s %q", what, value)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("the %s %q is ambiguous: %s", what, value, strings.Join(found, ", "))
}

// eachPartition calls fn for every partition in sysfs whose disk has a readable GPT.
func (r Roots) eachPartition(fn func(name, disk string, number int, t *gpt.Table)) error {
	dir := filepath.Join(r.Sys, "class/block")
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(maxBlockDevices)
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	tables := map[string]*gpt.Table{}
	for _, name := range names {
		number, disk, err := r.partitionOf(name)
		if err != nil {
			continue // not a partition
		}
		t, ok := tables[disk]
		if !ok {
			t, _ = r.readGPT(disk)
			tables[disk] = t
		}
		if t != nil {
			fn(name, disk, number, t)
		}
	}
	return nil
}

// partitionOf returns a partition's number and its disk's kernel name.
func (r Roots) partitionOf(name string) (int, string, error) {
	dev, err := filepath.EvalSymlinks(filepath.Join(r.Sys, "class/block", name))
	if err != nil {
		return 0, "", err
	}
	n, err := r.sysInt(filepath.Join(dev, "partition"))
	if err != nil {
		return 0, "", fmt.Errorf("%s is not a partition (a raw target must be a GPT partition: its partition GUID is how the capture kernel, which has no udev, finds it)", name)
	}
	return int(n), filepath.Base(filepath.Dir(dev)), nil
}

func (r Roots) sysInt(p string) (int64, error) {
	b, err := smallfile.Read(p, 64)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// readGPT reads the GPT of disk, with its logical sector size from sysfs.
func (r Roots) readGPT(disk string) (*gpt.Table, error) {
	ss, err := r.sysInt(filepath.Join(r.Sys, "class/block", disk, "queue/logical_block_size"))
	if err != nil || (ss != 512 && ss != 4096) {
		ss = 512
	}
	f, err := os.Open(filepath.Join(r.Dev, disk))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return gpt.Read(f, int(ss))
}

// describe reads the partition name's identity.
func (r Roots) describe(name string) (*Partition, error) {
	number, disk, err := r.partitionOf(name)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(r.Sys, "class/block", name)
	start, err1 := r.sysInt(filepath.Join(base, "start"))
	sectors, err2 := r.sysInt(filepath.Join(base, "size"))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%s: its extent in sysfs: %w", name, err)
	}
	t, err := r.readGPT(disk)
	if err != nil {
		return nil, fmt.Errorf("%s is on %s, which has no readable GPT (a raw target must be a GPT partition: its partition GUID is how the capture kernel, which has no udev, finds it): %w", name, disk, err)
	}
	p := &Partition{Name: name, Disk: disk, Number: number, Start: start, Size: sectors * 512}
	for _, e := range t.Partitions {
		if e.Number == number {
			p.PartUUID = e.UUID
			if got := int64(e.First) * int64(t.SectorSize) / 512; got != start {
				return nil, fmt.Errorf("%s: the GPT says partition %d starts at sector %d, the kernel at %d: re-read the partition table (partprobe) first", name, number, got, start)
			}
		}
	}
	if p.PartUUID == "" {
		return nil, fmt.Errorf("%s: partition %d is not in %s's GPT", name, number, disk)
	}
	if p.Size < MinSize {
		return nil, fmt.Errorf("%s has %d bytes: a raw dump needs at least %d", name, p.Size, MinSize)
	}
	return p, nil
}

// checkUnused refuses a partition that is mounted, held by another block device or
// used for swap, or that holds a file system or another known signature.
func (r Roots) checkUnused(p *Partition) error {
	majmin, _ := smallfile.Read(filepath.Join(r.Sys, "class/block", p.Name, "dev"), 64)
	mm := strings.TrimSpace(string(majmin))
	mi := filepath.Join(r.Proc, "self/mountinfo")
	if data, err := smallfile.Read(mi, 16<<20); err == nil {
		ms, err := mountinfo.Parse(bytes.NewReader(data), mi)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if (mm != "" && m.MajMin == mm) || m.Source == "/dev/"+p.Name {
				return fmt.Errorf("%s is mounted on %s: a raw target must not hold a file system in use", p.Name, m.Point)
			}
		}
	}
	if holders, _ := os.ReadDir(filepath.Join(r.Sys, "class/block", p.Name, "holders")); len(holders) > 0 {
		return fmt.Errorf("%s is in use by %s (device-mapper or md): a raw target must be unused", p.Name, holders[0].Name())
	}
	if swaps, err := smallfile.Read(filepath.Join(r.Proc, "swaps"), 1<<20); err == nil {
		for _, l := range strings.Split(string(swaps), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "/dev/"+p.Name {
				return fmt.Errorf("%s is in use as swap", p.Name)
			}
		}
	}
	f, err := os.Open(filepath.Join(r.Dev, p.Name))
	if err != nil {
		return err
	}
	defer f.Close()
	return CheckNoFilesystem(f, p.Name)
}

// CheckNoFilesystem refuses a device that holds a file system (ext2/3/4, xfs,
// btrfs) or a signature of swap, LUKS, an LVM physical volume or an md member:
// writing a dump over it would destroy it. A raw dump header of ours is fine.
func CheckNoFilesystem(dev io.ReaderAt, name string) error {
	if sb, err := target.Probe(dev, name); err == nil {
		return fmt.Errorf("%s holds a %s file system (UUID %s): writing a raw dump would destroy it; if it is meant for dumps, erase its signature first (wipefs -a)", name, sb.Type, sb.UUID)
	}
	head := make([]byte, 8192)
	n, _ := dev.ReadAt(head, 0)
	head = head[:n]
	at := func(off int, sig string) bool {
		return off+len(sig) <= len(head) && string(head[off:off+len(sig)]) == sig
	}
	if at(0, raw.Magic) {
		return nil
	}
	for _, s := range []struct {
		off       int
		sig, what string
	}{
		{0, "LUKS\xba\xbe", "a LUKS header"},
		{4096 - 10, "SWAPSPACE2", "swap space"},
		{4096 - 10, "SWAP-SPACE", "swap space"},
		{512, "LABELONE", "an LVM physical volume label"},
		{0, "LABELONE", "an LVM physical volume label"},
		{4096, "\xfc\x4e\x2b\xa9", "an md RAID superblock"},
		{0, "\xfc\x4e\x2b\xa9", "an md RAID superblock"},
	} {
		if at(s.off, s.sig) {
			return fmt.Errorf("%s holds %s: writing a raw dump would destroy it; if it is meant for dumps, erase its signature first (wipefs -a)", name, s.what)
		}
	}
	return nil
}
