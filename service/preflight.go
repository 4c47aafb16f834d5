package service

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/internal/mountinfo"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/target"
	"golang.org/x/sys/unix"
)

// Preflight: what gokdump start and gokdump config check both run, so that nothing is
// armed that the capture cannot carry out. A configuration the capture cannot carry
// out is refused with its kdump.conf line and the reason; a target that may be too
// small is a warning with the numbers.

// captureSupport says, for every directive package config accepts, whether the
// capture carries it out: "" when it does, else why not. A directive config learns
// and this table does not know is refused until it is added here (TestCaptureSupport
// holds the two lists together).
var captureSupport = map[string]string{
	"path":           "",
	"core_collector": "",
	"ext4":           "",
	"xfs":            "",
	"btrfs":          "",
	"raw":            "",
	"ssh":            "",
	"nfs":            "",
	"sshkey":         "",
	"kdump_dhcp":     "",
	"kdump_pre":      "",
	"kdump_post":     "",
	"extra_bins":     "",
	"extra_modules":  "",
	"failure_action": "",
	"final_action":   "",
	// Arming-side: how start treats an existing image.
	"force_rebuild":    "",
	"force_no_rebuild": "",
	"keep_dumps":       "",
	// Recorded for the crashkernel command (arming-side).
	"auto_reset_crashkernel": "",
	// ext2 and ext3 file systems are mounted with the ext4 driver.
	"ext2": "",
	"ext3": "",
	// The capture command line and the release armed (arming-side), the names of
	// the dump directory and whether the kernel log is saved (the capture).
	"kdump_commandline":        "",
	"kdump_commandline_remove": "",
	"kdump_commandline_append": "",
	"capture_cpus":             "",
	"kdump_kernelver":          "",
	"dump_layout":              "",
	"dump_dmesg":               "",
	// Uploads (gokdump upload) run in the first kernel after the capture; arming
	// only records them. s3_capture yes uploads from the capture kernel instead.
	"s3_endpoint":        "",
	"s3_allow_http":      "",
	"s3_bucket":          "",
	"s3_prefix":          "",
	"s3_region":          "",
	"s3_credentials":     "",
	"s3_ca_file":         "",
	"s3_full_dumps":      "",
	"s3_delete_uploaded": "",
	"s3_capture":         "", // the capture uploads (capture/s3.go); start records the way (service/s3.go)
	// kdump-utils directives gokdump reads but does not carry out.
	"dracut_args":       "gokdump builds its own capture initramfs without dracut, so dracut options do not apply: remove the line (a --mount target is written as a target directive such as \"ext4 UUID=...\"; modules go in extra_modules)",
	"fence_kdump_args":  "fence_kdump (telling a cluster's fencing agent that the node is dumping) is not supported: remove it, or keep kdump-utils on cluster nodes",
	"fence_kdump_nodes": "fence_kdump (telling a cluster's fencing agent that the node is dumping) is not supported: remove it, or keep kdump-utils on cluster nodes",
	"kdump_emergency":   "the capture has no emergency mode to run a program in; use failure_action (reboot, halt, poweroff, shell or dump_to_rootfs) and kdump_post, which gets the exit status",
	"minix":             "the capture mounts ext2/3/4, XFS and Btrfs only: save to one of those",
	"virtiofs":          "the capture has no virtiofs (a virtual machine's host share): save to a local ext4, XFS or Btrfs file system",
}

// CheckDirectives refuses every directive of cfg whose action the capture does not
// carry out, each on its line, all at once (a config.ErrorList).
func CheckDirectives(cfg *config.Config) error {
	var errs config.ErrorList
	keys := make([]string, 0, len(cfg.Lines))
	for k := range cfg.Lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return cfg.Lines[keys[i]] < cfg.Lines[keys[j]] })
	for _, k := range keys {
		why, known := captureSupport[k]
		if !known {
			why = "gokdump does not know whether its capture carries this directive out"
		}
		if why != "" {
			errs = append(errs, &config.Error{File: cfg.File, Line: cfg.Lines[k], Msg: fmt.Sprintf("%s: %s", cfg.Describe(k), why)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// PreflightResult is what Preflight found: the image it would build, and warnings
// that do not stop arming.
type PreflightResult struct {
	Plan     *Plan
	Warnings []string
}

// Preflight runs the checks start runs before it arms: every directive is one the
// capture carries out (CheckDirectives); the image can be planned for the target
// release (the dump device and the LVM/md stack under it can be brought up with the
// modules of that release, the file system type is one the capture mounts, the
// programs exist); and the target, when it is mounted here, has room for an
// estimated dump (a warning with the numbers otherwise).
func (s *System) Preflight(opts StartOptions) (*PreflightResult, error) {
	if opts.Config == nil {
		return nil, errors.New("service: no configuration")
	}
	if err := CheckDirectives(opts.Config); err != nil {
		return nil, err
	}
	plan, err := s.Plan(BuildOptions{Config: opts.Config, ConfigData: opts.ConfigData, Release: opts.Release, Self: opts.Self})
	if err != nil {
		return nil, err
	}
	r := &PreflightResult{Plan: plan}
	w, err := s.checkFilesystem(opts.Config, plan.Info.Device)
	if err != nil {
		return nil, err
	}
	if w != "" {
		r.Warnings = append(r.Warnings, w)
	}
	if w := s.roomWarning(opts.Config, plan.Info.Device); w != "" {
		r.Warnings = append(r.Warnings, w)
	}
	if root := plan.Info.Rootfs; root != nil {
		if w := s.roomWarning(opts.Config, *root); w != "" {
			r.Warnings = append(r.Warnings, "failure_action dump_to_rootfs: "+w)
		}
	}
	if w := uploadCredentialsWarning(opts.Config); w != "" {
		r.Warnings = append(r.Warnings, w)
	}
	return r, nil
}

// checkFilesystem reads the superblock of the dump device, when it is present, as
// the capture will: a file system of another type than the directive names is
// refused (the capture would not mount it); none at all is a warning (a disk not
// formatted yet).
func (s *System) checkFilesystem(cfg *config.Config, d DumpDevice) (string, error) {
	if d.Name == "" || !cfg.Target.Kind.IsFilesystem() {
		return "", nil
	}
	sb, err := target.ProbeFile(filepath.Join(s.DevRoot, d.Name))
	switch {
	case errors.Is(err, target.ErrUnknown):
		return fmt.Sprintf("the dump device %s (%s) holds no ext4, XFS or Btrfs file system now: the capture will fail unless one is made before the crash", d.Spec, d.Name), nil
	case err != nil:
		return fmt.Sprintf("the dump device %s (%s) could not be read to check its file system: %v", d.Spec, d.Name, err), nil
	}
	want := string(cfg.Target.Kind)
	isExt := func(t string) bool { return t == "ext2" || t == "ext3" || t == "ext4" }
	if want == sb.Type || (want == "ext4" && isExt(sb.Type)) {
		return "", nil
	}
	return "", directiveError(cfg, fmt.Sprintf("%s holds a %s file system, not %s: the capture mounts it as the directive says", d.Name, sb.Type, want))
}

// captureSpec makes sure the capture kernel, which has no udev, can resolve how d is
// named: a /dev/disk/by-id (by-path, by-partuuid...) link becomes the UUID= of the
// file system found there now; without one it is refused on the target's line.
func (s *System) captureSpec(cfg *config.Config, d *DumpDevice) error {
	if !cfg.Target.Kind.IsFilesystem() {
		return nil
	}
	if _, err := target.ParseDevice(d.Spec); err == nil {
		return nil
	}
	if d.Name != "" {
		if sb, err := target.ProbeFile(filepath.Join(s.DevRoot, d.Name)); err == nil && sb.UUID != "" {
			d.Spec = "UUID=" + sb.UUID
			return nil
		}
	}
	return directiveError(cfg, "the capture kernel has no udev to resolve this name, and no file system UUID was found on it now to use instead: name the device by LABEL=, UUID= or its /dev path")
}

// Drivers built into the running kernel have no module link in sysfs; when the image
// is for another release, where they may be modules, they are looked up there by
// driver name (with the module names of the block drivers whose names differ).
var driverModuleNames = map[string][]string{
	"sd":       {"sd_mod"},
	"sr":       {"sr_mod"},
	"vbd":      {"xen_blkfront"},
	"mmcblk":   {"mmc_block"},
	"xhci_hcd": {"xhci_pci", "xhci_hcd"},
}

// linklessDriver is a driver bound on the path of a block device with no module link:
// built into the running kernel.
type linklessDriver struct {
	Block, Driver string
	Disk          bool // the driver nearest the disk (the one that makes it)
}

// linklessDrivers lists the drivers without a module link between block device name
// (through the layers below it) and the root of the device tree.
func (s *System) linklessDrivers(name string) ([]linklessDriver, error) {
	var out []linklessDriver
	devices := filepath.Join(s.SysRoot, "devices")
	if real, err := filepath.EvalSymlinks(devices); err == nil {
		devices = real
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
		first := true
		for dir, i := dev, 0; i < maxSysfsDepth && strings.HasPrefix(dir, devices+"/"); dir, i = filepath.Dir(dir), i+1 {
			drv, err := os.Readlink(filepath.Join(dir, "driver"))
			if err != nil {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, "driver/module")); err != nil {
				out = append(out, linklessDriver{Block: name, Driver: filepath.Base(drv), Disk: first})
			}
			first = false
		}
		return nil
	}
	if err := walk(name, 0); err != nil {
		return nil, fmt.Errorf("drivers of block device %s: %w", name, err)
	}
	return out, nil
}

// releaseDrivers returns the modules of release that provide the drivers built into
// the running kernel on the way to blocks, when release is not the running one. A
// disk's driver found in release neither as a module nor built in is refused when
// strict (the dump device's own disks), unless extra_modules is given (the user named
// the module), and a note otherwise.
func (s *System) releaseDrivers(cfg *config.Config, release string, blocks []string, strict bool) (mods, notes []string, err error) {
	if running, err := s.Release(); err == nil && running == release {
		return nil, nil, nil // built in here is built in there
	}
	modDir := s.ModuleDir(release)
	seen := map[string]bool{}
	for _, b := range blocks {
		drivers, err := s.linklessDrivers(b)
		if err != nil {
			if strict {
				return nil, nil, err
			}
			continue
		}
		for _, d := range drivers {
			if seen[d.Driver] {
				continue
			}
			seen[d.Driver] = true
			n := kmod.Normalize(d.Driver)
			found := false
			for _, c := range append([]string{n}, driverModuleNames[n]...) {
				ms, err := kmod.Resolve(modDir, c)
				var miss *kmod.MissingError
				if errors.As(err, &miss) {
					continue
				}
				if err != nil {
					return nil, nil, err
				}
				if len(ms) > 0 {
					mods = append(mods, c)
				}
				found = true
				break
			}
			if found || !d.Disk {
				continue
			}
			msg := fmt.Sprintf("block device %s: its driver %s is built into the running kernel, and kernel %s has no module of that name nor lists one in modules.builtin", d.Block, d.Driver, release)
			if strict && len(cfg.ExtraModules) == 0 {
				return nil, nil, fmt.Errorf("%s: the capture kernel could not reach the disk (if its module has another name, add it with extra_modules)", msg)
			}
			notes = append(notes, msg)
		}
	}
	return mods, notes, nil
}

// roomWarning compares the free space of the target, when it is mounted here, with
// an estimate of the dump's size, and says so when the dump may not fit.
func (s *System) roomWarning(cfg *config.Config, d DumpDevice) string {
	if d.FSType == "" || d.Name == "" {
		return ""
	}
	point := s.mountPointOf(d.Name)
	if point == "" {
		return ""
	}
	statfs := s.FreeBytes
	if statfs == nil {
		statfs = freeBytes
	}
	free, err := statfs(point)
	if err != nil {
		return ""
	}
	est, how, err := s.DumpSize(cfg)
	if err != nil || free >= est {
		return ""
	}
	return fmt.Sprintf("the dump target %s (mounted on %s) has %s free; a dump of this machine is estimated at up to %s (%s): the capture may run out of room (keep_dumps frees old dumps first, but not those waiting for gokdump upload)",
		d.Spec, point, formatSize(free), formatSize(est), how)
}

func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// mountPointOf returns where block device name is mounted here ("" when it is not).
func (s *System) mountPointOf(name string) string {
	p := filepath.Join(s.ProcRoot, "self/mountinfo")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return ""
	}
	ms, err := mountinfo.Parse(bytes.NewReader(data), p)
	if err != nil {
		return ""
	}
	devno, _ := smallfile.Read(filepath.Join(s.SysRoot, "class/block", name, "dev"), 64)
	majMin := strings.TrimSpace(string(devno))
	for _, m := range ms {
		if (majMin != "" && m.MajMin == majMin) || (strings.HasPrefix(m.Source, "/dev/") && s.sameDevice(m.Source, name)) {
			return m.Point
		}
	}
	return ""
}

func (s *System) sameDevice(devPath, name string) bool {
	n, err := s.deviceName(devPath)
	return err == nil && n == name
}

// DumpSize estimates, from /proc/meminfo, the largest dump of this machine with the
// dump level of cfg's core_collector (-d): all memory, less the free pages (16),
// the page cache (2, 4) and user pages (8) when the level leaves them out, before
// compression. It returns how it was reached.
func (s *System) DumpSize(cfg *config.Config) (int64, string, error) {
	p := filepath.Join(s.ProcRoot, "meminfo")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return 0, "", err
	}
	kb := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n >= 0 {
			kb[k] = n
		}
	}
	if kb["MemTotal"] == 0 {
		return 0, "", fmt.Errorf("%s: no MemTotal", p)
	}
	level := dumpLevel(cfg.Collector.Args)
	est := kb["MemTotal"]
	how := []string{fmt.Sprintf("MemTotal %s", formatSize(kb["MemTotal"]<<10))}
	less := func(bit int, what string, n int64) {
		if level&bit != 0 && n > 0 {
			est -= n
			how = append(how, fmt.Sprintf("less %s %s", what, formatSize(n<<10)))
		}
	}
	less(16, "MemFree", kb["MemFree"])
	if level&(2|4) != 0 {
		less(level&(2|4), "Cached+Buffers", kb["Cached"]+kb["Buffers"])
	}
	less(8, "AnonPages", kb["AnonPages"])
	if est < 0 {
		est = 0
	}
	return est << 10, fmt.Sprintf("dump level %d: %s, before compression", level, strings.Join(how, ", ")), nil
}

// dumpLevel finds makedumpfile's -d N (or -dN, the first of a list N,M) in args; 0
// when there is none.
func dumpLevel(args []string) int {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "-d")
		if !ok {
			continue
		}
		if v == "" && i+1 < len(args) {
			v = args[i+1]
		}
		v, _, _ = strings.Cut(v, ",")
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 31 {
			return n
		}
	}
	return 0
}
