package volume

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LinuxKernel returns the running kernel: block devices from /sys/class/block with
// their nodes in /dev (created when devtmpfs has none), md arrays through md_mod's
// new_array parameter and the md ioctls, dm devices through /dev/mapper/control. The
// modules (md_mod, raid1, dm_mod) must be loaded before: the capture has no modprobe
// for the kernel to call.
func LinuxKernel() Kernel { return &linuxKernel{sys: "/sys", dev: "/dev"} }

type linuxKernel struct{ sys, dev string }

func (k *linuxKernel) BlockDevices() ([]BlockDevice, error) {
	dir := filepath.Join(k.sys, "class", "block")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("volume: listing block devices: %w", err)
	}
	var out []BlockDevice
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "dev"))
		if err != nil {
			continue
		}
		maj, min, ok := parseDevNo(string(b))
		if !ok {
			continue
		}
		d := BlockDevice{Name: e.Name(), Major: maj, Minor: min,
			Path: filepath.Join(k.dev, strings.ReplaceAll(e.Name(), "!", "/"))}
		if err := ensureNode(d.Path, unix.S_IFBLK, maj, min); err != nil {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

func parseDevNo(s string) (uint32, uint32, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 32)
	min, err2 := strconv.ParseUint(b, 10, 32)
	return uint32(maj), uint32(min), err1 == nil && err2 == nil
}

// ensureNode makes a device node at path unless one is there.
func ensureNode(path string, mode uint32, maj, min uint32) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := unix.Mknod(path, mode|0o600, int(unix.Mkdev(maj, min))); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("volume: mknod %s: %w", path, err)
	}
	return nil
}

func (k *linuxKernel) Open(d BlockDevice) (ReadAtCloser, error) { return os.Open(d.Path) }

func ioctl(f *os.File, req uintptr, arg []byte) error {
	var p uintptr
	if len(arg) > 0 {
		p = uintptr(unsafe.Pointer(&arg[0]))
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, p)
	runtime.KeepAlive(arg)
	if e != 0 {
		return e
	}
	return nil
}

func (k *linuxKernel) AssembleArray(a *Array, members []BlockDevice) (BlockDevice, error) {
	d := BlockDevice{Name: fmt.Sprintf("md%d", a.Minor), Major: mdMajor, Minor: a.Minor}
	d.Path = filepath.Join(k.dev, d.Name)
	if _, err := os.Stat(filepath.Join(k.sys, "class", "block", d.Name)); err != nil {
		// md_mod's new_array takes "mdNNN" (kernels since 4.14 take the number form).
		err := os.WriteFile(filepath.Join(k.sys, "module", "md_mod", "parameters", "new_array"), []byte(d.Name), 0)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return d, fmt.Errorf("volume: creating %s: %w", d.Name, err)
		}
	}
	if err := ensureNode(d.Path, unix.S_IFBLK, d.Major, d.Minor); err != nil {
		return d, err
	}
	f, err := os.OpenFile(d.Path, os.O_RDWR, 0)
	if err != nil {
		return d, err
	}
	defer f.Close()
	// Already running (Activate run again after a failure): GET_ARRAY_INFO answers
	// only for a configured array.
	if ioctl(f, mdGetArrayInfo, make([]byte, mdArrayInfoSize)) == nil {
		return d, nil
	}
	if err := ioctl(f, mdSetArrayInfo, mdArrayInfo(1, 2)); err != nil {
		return d, fmt.Errorf("volume: SET_ARRAY_INFO on %s: %w", d.Name, err)
	}
	added := 0
	var addErr error
	for _, m := range members {
		if err := ioctl(f, mdAddNewDisk, mdDiskInfo(0, int32(m.Major), int32(m.Minor), 0, 0)); err != nil {
			addErr = fmt.Errorf("volume: ADD_NEW_DISK %s to %s: %w", m.Name, d.Name, err)
			continue
		}
		added++
	}
	if added == 0 {
		ioctl(f, mdStopArray, nil)
		return d, addErr
	}
	if err := ioctl(f, mdRunArray, nil); err != nil {
		ioctl(f, mdStopArray, nil)
		return d, fmt.Errorf("volume: RUN_ARRAY on %s with %d members: %w", d.Name, added, err)
	}
	return d, nil
}

// dmControl opens /dev/mapper/control, making the node from sysfs when missing.
func (k *linuxKernel) dmControl() (*os.File, error) {
	path := filepath.Join(k.dev, "mapper", "control")
	if b, err := os.ReadFile(filepath.Join(k.sys, "class", "misc", "device-mapper", "dev")); err == nil {
		if maj, min, ok := parseDevNo(string(b)); ok {
			if err := ensureNode(path, unix.S_IFCHR, maj, min); err != nil {
				return nil, err
			}
		}
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}

// dmCall runs one dm command and returns the kernel's reply buffer.
func dmCall(ctl *os.File, cmd uintptr, name, uuid string, flags uint32, data []byte, size int) ([]byte, error) {
	buf, err := dmRequest(name, uuid, flags, data, size)
	if err != nil {
		return nil, err
	}
	if err := ioctl(ctl, dmIoctlNumber(cmd), buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func (k *linuxKernel) MapLV(name, uuid string, table []DMTarget) (string, error) {
	ctl, err := k.dmControl()
	if err != nil {
		return "", fmt.Errorf("volume: device-mapper control: %w", err)
	}
	defer ctl.Close()
	if _, err := dmCall(ctl, dmCmdVersion, "", "", 0, nil, 0); err != nil {
		return "", fmt.Errorf("volume: DM_VERSION: %w", err)
	}
	reply, err := dmCall(ctl, dmCmdDevCreate, name, uuid, 0, nil, 0)
	if errors.Is(err, unix.EBUSY) {
		// Mapped by an earlier Activate: use it if it holds the same table.
		return k.existing(ctl, name, table)
	}
	if err != nil {
		return "", fmt.Errorf("volume: DM_DEV_CREATE %s: %w", name, err)
	}
	dev := binary.LittleEndian.Uint64(reply[dmDevOff:])
	remove := func() { dmCall(ctl, dmCmdDevRemove, name, "", 0, nil, 0) }
	buf, err := dmTableLoadRequest(name, table)
	if err == nil {
		err = ioctl(ctl, dmIoctlNumber(dmCmdTableLoad), buf)
	}
	if err != nil {
		remove()
		return "", fmt.Errorf("volume: DM_TABLE_LOAD %s: %w", name, err)
	}
	// DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: the loaded table goes live.
	if _, err := dmCall(ctl, dmCmdDevSuspend, name, "", 0, nil, 0); err != nil {
		remove()
		return "", fmt.Errorf("volume: resuming %s: %w", name, err)
	}
	got, err := dmTable(ctl, name)
	if err == nil && !sameTable(got, table) {
		err = fmt.Errorf("the kernel holds %v, loaded %v", got, table)
	}
	if err != nil {
		remove()
		return "", fmt.Errorf("volume: reading back the table of %s: %w", name, err)
	}
	path := filepath.Join(k.dev, "mapper", name)
	if err := ensureNode(path, unix.S_IFBLK, unix.Major(dev), unix.Minor(dev)); err != nil {
		remove()
		return "", err
	}
	return path, nil
}

// existing returns the node of dm device name if its live table is table.
func (k *linuxKernel) existing(ctl *os.File, name string, table []DMTarget) (string, error) {
	reply, err := dmCall(ctl, dmCmdDevStatus, name, "", 0, nil, 0)
	if err != nil {
		return "", fmt.Errorf("volume: %s exists, and DM_DEV_STATUS fails: %w", name, err)
	}
	got, err := dmTable(ctl, name)
	if err != nil {
		return "", fmt.Errorf("volume: %s exists, and its table cannot be read: %w", name, err)
	}
	if !sameTable(got, table) {
		return "", fmt.Errorf("volume: %s exists with table %v, not %v", name, got, table)
	}
	dev := binary.LittleEndian.Uint64(reply[dmDevOff:])
	path := filepath.Join(k.dev, "mapper", name)
	return path, ensureNode(path, unix.S_IFBLK, unix.Major(dev), unix.Minor(dev))
}

// dmTable reads the live table of name, growing the buffer while the kernel says it
// is full (bounded: a table of the few lines gokdump loads fits the first).
func dmTable(ctl *os.File, name string) ([]DMTarget, error) {
	for size := 16 << 10; size <= 1<<20; size *= 4 {
		reply, err := dmCall(ctl, dmCmdTableStatus, name, "", dmStatusTableFlag, nil, size)
		if err != nil {
			return nil, err
		}
		if binary.LittleEndian.Uint32(reply[dmFlagsOff:])&dmBufferFullFlag != 0 {
			continue
		}
		return decodeTable(reply)
	}
	return nil, errors.New("table larger than 1 MiB")
}

// DescribeDevice returns the block stack under the device at path (the dump target's
// device, as mounted: /dev/mapper/vg-lv, /dev/md0, /dev/sda2), for gokdump start to
// record and the capture's Activate to bring up; what the capture could not bring up
// (thin, cache, raid LVs, LUKS, multipath, md other than RAID1 1.2, ...) is refused
// here, at arming, with an *UnsupportedError that says why.
func DescribeDevice(path string) (*Stack, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("volume: %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil, fmt.Errorf("volume: %s is not a block device", path)
	}
	link := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		return nil, fmt.Errorf("volume: %s: %w", path, err)
	}
	v := sysView{sys: "/sys", dev: "/dev", open: func(p string) (ReadAtCloser, error) { return os.Open(p) }}
	return v.describe(filepath.Base(real))
}
