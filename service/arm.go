package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kexec"
	"github.com/gokdump/gokdump/rawdump"
)

// Kexec loads and unloads the capture kernel. Host systems use package kexec
// (kexec_file_load); tests record the calls.
type Kexec interface {
	LoadCrash(kernel, initrd, cmdline string) error
	UnloadCrash() error
}

type hostKexec struct{}

func (hostKexec) LoadCrash(kernel, initrd, cmdline string) error {
	return kexec.LoadCrash(kernel, initrd, cmdline)
}
func (hostKexec) UnloadCrash() error { return kexec.UnloadCrash() }

func (s *System) kexec() Kexec {
	if s.Kexec != nil {
		return s.Kexec
	}
	return hostKexec{}
}

// CaptureOptions are added to the capture kernel's command line after
// kexec.DefaultCaptureOptions: rdinit=/init makes the kernel run gokdump from the
// capture initramfs even when the running kernel was started with another rdinit=.
var CaptureOptions = []string{"rdinit=/init"}

// ErrNoReservation is returned by Start when no memory is reserved for a capture
// kernel.
var ErrNoReservation = errors.New("no memory is reserved for a capture kernel")

// StartOptions says how to arm.
type StartOptions struct {
	Config *config.Config
	// ConfigData is the configuration file's bytes, put in the image (nil: Config
	// formatted).
	ConfigData []byte
	Release    string // the kernel release to arm ("" : the running one)
	Kernel     string // the kernel image ("" : /boot/vmlinuz-RELEASE or /lib/modules/RELEASE/vmlinuz)
	Self       string // the gokdump binary for /init ("" : /proc/self/exe)
	Image      string // where the capture initramfs is kept ("" : StateDir/initramfs-RELEASE.img)
	// ExtraCmdline are options added last to the capture command line.
	ExtraCmdline []string
}

// StartResult is what Start did.
type StartResult struct {
	Reserved      int64  // bytes reserved with crashkernel=
	Kernel        string // the capture kernel image loaded
	Image         string // the capture initramfs loaded
	Rebuilt       bool
	RebuildReason string      // why it was rebuilt ("" when reused)
	Cmdline       string      // the capture kernel's command line (the kernel adds elfcorehdr=)
	CPUs          CaptureCPUs // the capture kernel's nr_cpus and why (cpus.go)
	Notes         []string
	Warnings      []string // what may go wrong at crash time (Preflight's)
	// RawSave is what was found on a raw target's partition before arming, and the
	// dump directory a waiting dump was converted into.
	RawSave *rawdump.SaveResult
	// Rootfs is the root file system failure_action dump_to_rootfs saves to (nil
	// without it).
	Rootfs *DumpDevice
}

// Start arms the capture kernel: it checks that memory is reserved, builds the
// capture initramfs or reuses an up-to-date one, loads the kernel and initramfs with
// the capture command line, and sets kernel.panic_on_oops=1 so an oops leads to a
// dump.
func (s *System) Start(opts StartOptions) (*StartResult, error) {
	if opts.Config == nil {
		return nil, errors.New("service: no configuration")
	}
	st, err := kexec.ReadStateAt(s.SysRoot)
	if err != nil {
		return nil, err
	}
	if st.CrashSize == 0 {
		return nil, s.noReservationError()
	}
	res := &StartResult{Reserved: st.CrashSize}
	release := opts.Release
	if release == "" {
		if release, err = s.Release(); err != nil {
			return nil, err
		}
	}
	res.Kernel = opts.Kernel
	if res.Kernel == "" {
		if res.Kernel, err = s.KernelImage(release); err != nil {
			return nil, err
		}
	}
	res.Image = opts.Image
	if res.Image == "" {
		res.Image = s.ImagePath(release)
	}

	// Build the image, or reuse it when nothing it was made from changed.
	pre := opts
	pre.Release = release
	pf, err := s.Preflight(pre)
	if err != nil {
		return nil, fmt.Errorf("refusing to arm: %w", err)
	}
	plan := pf.Plan
	res.Notes = append(res.Notes, plan.Info.Notes...)
	res.Warnings = pf.Warnings
	if dev := plan.Info.Device; dev.Raw != nil {
		// Before arming: the next crash writes over the partition.
		if res.RawSave, err = s.saveRaw(opts.Config, dev, ""); err != nil {
			return res, fmt.Errorf("%w; not armed, since the next crash would overwrite it", err)
		}
	}
	res.Rootfs = plan.Info.Rootfs
	now, err := plan.Manifest()
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(res.Image)
	exists := statErr == nil
	old, _ := ReadManifest(ManifestPath(res.Image))
	res.RebuildReason = RebuildReason(opts.Config, exists, old, now)
	if res.RebuildReason != "" {
		if _, err := plan.Build(res.Image); err != nil {
			return nil, fmt.Errorf("building the capture initramfs %s: %w", res.Image, err)
		}
		res.Rebuilt = true
	} else if old != nil && old.Device != now.Device {
		res.Warnings = append(res.Warnings, "force_no_rebuild keeps an image whose dump device or LVM/md layout differs from the one found now: the capture will refuse to write through the recorded layout (failure_action); rebuild it without force_no_rebuild")
	}

	cmdline, err := s.Cmdline()
	if err != nil {
		return nil, err
	}
	res.CPUs = s.chooseCPUs(opts.Config, st.CrashSize, res.Kernel, res.Image, plan)
	res.Cmdline = CaptureCmdline(opts.Config, cmdline, append(res.CPUs.cmdline(), opts.ExtraCmdline...))
	if err := checkBlacklist(res.Cmdline, plan, opts.Config); err != nil {
		return nil, fmt.Errorf("refusing to arm: %w", err)
	}
	if err := s.kexec().LoadCrash(res.Kernel, res.Image, res.Cmdline); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.ProcRoot, "sys/kernel/panic_on_oops"), []byte("1\n"), 0o644); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("could not set kernel.panic_on_oops=1 (%v): an oops will not lead to a dump", err))
	}
	if err := s.recordArming(armingRecord{ArmedAt: time.Now().Unix(), Release: release, Kernel: res.Kernel, Image: res.Image, Cmdline: res.Cmdline,
		CPUs: res.CPUs.N, CPUsWhy: res.CPUs.Why}); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("could not record the arming time (%v): status cannot tell which dumps are new", err))
	}
	return res, nil
}

// CaptureCmdline is the capture kernel's command line start loads for cfg when the
// running kernel's is current: cfg's kdump_commandline (KDUMP_COMMANDLINE) instead of
// current when set, its kdump_commandline_remove names taken out, and after
// gokdump's capture options its kdump_commandline_append, then CaptureOptions, then
// extra (package kexec's BuildCaptureCmdline).
func CaptureCmdline(cfg *config.Config, current string, extra []string) string {
	var add []string
	add = append(add, cfg.CmdlineAppend...)
	add = append(add, CaptureOptions...)
	add = append(add, extra...)
	return kexec.BuildCaptureCmdline(kexec.CmdlineSpec{Current: current, Base: cfg.CmdlineBase, Remove: cfg.CmdlineRemove, Extra: add})
}

// noReservationError explains how to reserve memory, distinguishing a missing
// crashkernel= from one the kernel could not honour.
func (s *System) noReservationError() error {
	cmdline, _ := s.Cmdline()
	for _, w := range strings.Fields(cmdline) {
		if strings.HasPrefix(w, "crashkernel=") {
			return fmt.Errorf("%w: the kernel was started with %s but reserved nothing (too large for this machine's memory, or no range matched its size: see \"dmesg | grep -i crashkernel\"); use a smaller size, e.g. crashkernel=256M, and reboot", ErrNoReservation, w)
		}
	}
	return fmt.Errorf("%w: add crashkernel=256M (or a size by memory range, e.g. Debian's crashkernel=512M-:192M or Fedora's crashkernel=2G-64G:256M,64G-:512M) to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub or grub2-mkconfig) and reboot; \"gokdump estimate\" recommends a size", ErrNoReservation)
}

// Stop unloads the capture kernel.
func (s *System) Stop() error { return s.kexec().UnloadCrash() }

// armingRecord is written by Start so that Status, after the next boot, can tell
// the dumps saved since the last arming of the previous boot.
type armingRecord struct {
	BootTime int64  `json:"boot_time"`          // btime of the boot that armed
	ArmedAt  int64  `json:"armed_at"`           // when, Unix seconds
	Release  string `json:"release,omitempty"`  // the kernel release armed
	Kernel   string `json:"kernel,omitempty"`   // the capture kernel image loaded
	Image    string `json:"image,omitempty"`    // the capture initramfs loaded
	Cmdline  string `json:"cmdline,omitempty"`  // the capture command line loaded
	CPUs     int    `json:"cpus,omitempty"`     // the capture kernel's nr_cpus
	CPUsWhy  string `json:"cpus_why,omitempty"` // how it was chosen
}

const (
	armedFile         = "armed.json"
	armedPreviousFile = "armed-previous.json"
)

// recordArming writes the arming record, keeping the last one of an earlier boot
// as armed-previous.json.
func (s *System) recordArming(r armingRecord) error {
	boot, err := s.BootTime()
	if err != nil {
		return err
	}
	r.BootTime = boot.Unix()
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return err
	}
	cur := filepath.Join(s.StateDir, armedFile)
	if old, err := readArming(cur); err == nil && old.BootTime != boot.Unix() {
		if err := os.Rename(cur, filepath.Join(s.StateDir, armedPreviousFile)); err != nil {
			return err
		}
	}
	data, _ := json.Marshal(r)
	return writeFileAtomic(cur, append(data, '\n'), 0o600)
}

func readArming(p string) (armingRecord, error) {
	var r armingRecord
	data, err := smallfile.Read(p, 4096)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", p, err)
	}
	return r, nil
}

// armedNow returns this boot's last arming record, if any.
func (s *System) armedNow(boot time.Time) (armingRecord, bool) {
	r, err := readArming(filepath.Join(s.StateDir, armedFile))
	return r, err == nil && r.BootTime == boot.Unix()
}

// lastArmingBefore returns when the capture kernel was last armed in a boot other
// than the one that started at boot, if recorded.
func (s *System) lastArmingBefore(boot time.Time) (time.Time, bool) {
	for _, name := range []string{armedFile, armedPreviousFile} {
		r, err := readArming(filepath.Join(s.StateDir, name))
		if err != nil {
			continue // none, or unreadable: as if never armed
		}
		if r.BootTime != boot.Unix() && r.ArmedAt > 0 {
			return time.Unix(r.ArmedAt, 0), true
		}
	}
	return time.Time{}, false
}

// formatSize prints a byte count in MiB (as crashkernel= sizes are given).
func formatSize(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + "M"
	}
	return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
}

// checkBlacklist refuses a capture command line whose module_blacklist= names a
// module the capture initramfs loads (the dump target's driver, its file system, the
// network card): the capture kernel would refuse to load it and the capture could not
// reach the target. (nomodule, which disables all loading, is dropped from the line:
// kexec's removedOptions.)
//
// The kernel keeps only the last module_blacklist= of the line (its name spelt with
// '-' or '_') and compares each of its names byte for byte with the module's name,
// which has '_' where its file name may have '-' (KBUILD_MODNAME): "virtio-blk"
// there blocks nothing.
//
// The refusal names where that parameter was given, a line of the configuration or
// the running kernel's command line, and the way out that works for that place.
func checkBlacklist(cmdline string, plan *Plan, cfg *config.Config) error {
	param, ok := kexec.Last(cmdline, "module_blacklist")
	if !ok {
		return nil
	}
	_, val, _ := strings.Cut(param, "=")
	black := map[string]bool{}
	for _, m := range strings.Split(strings.Trim(val, `"`), ",") {
		black[m] = true
	}
	var hit []string
	for _, f := range plan.Files {
		if !strings.HasPrefix(f.Dest, "lib/modules/") {
			continue
		}
		name, _, ok := strings.Cut(path.Base(f.Dest), ".ko")
		if m := strings.ReplaceAll(name, "-", "_"); ok && black[m] && !slices.Contains(hit, m) {
			hit = append(hit, m)
		}
	}
	if len(hit) == 0 {
		return nil
	}
	what := fmt.Sprintf("%s names %s, which the capture initramfs loads for the dump target: the capture kernel would refuse to load it", param, strings.Join(hit, ", "))
	switch at, appended := cfg.CmdlineSource(param); {
	case appended:
		// kdump_commandline_remove does not reach appended parameters.
		return fmt.Errorf("%s: %s; take it out of the appended parameters there, or append module_blacklist= with only the others", at, what)
	case at != "":
		return fmt.Errorf("%s: %s; take it out there, or drop it with kdump_commandline_remove module_blacklist (KDUMP_COMMANDLINE_REMOVE)", at, what)
	default:
		return fmt.Errorf("the running kernel's command line (/proc/cmdline): %s; take it out for the capture with kdump_commandline_remove module_blacklist (KDUMP_COMMANDLINE_REMOVE) or kdump_commandline_append module_blacklist=<the others>", what)
	}
}
