package vmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/internal/cpio"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/service"
)

// The scratch disk the capture in the VM saves to: an ext4 file system with this
// label, on a virtio disk with this serial.
const (
	ScratchLabel  = "gokdump-vmtest"
	ScratchSerial = "gokdump-vmtest"
)

// Paths inside the first kernel's initramfs (relative to its root, as package
// initramfs takes them): the test's spec, the capture kernel and the capture initrd
// (the exact image with the capture overlay).
const (
	SpecPath   = "etc/gokdump/vmtest.json"
	KernelPath = "etc/gokdump/vmtest/vmlinuz"
	InitrdPath = "etc/gokdump/vmtest/initrd.img"
)

// FirstKernelFlag on the kernel command line, with SpecPath present, makes the
// product's init act as the test's first kernel.
const FirstKernelFlag = "gokdump.vmtest=1"

// Spec is what the first kernel reads from SpecPath.
type Spec struct {
	Version int `json:"version"`
	// Cmdline is the capture kernel's command line (the kernel adds elfcorehdr=).
	Cmdline string `json:"cmdline"`
}

const specVersion = 1

// Bounds on what is read from an image.
const (
	maxImageEntries = 200000
	maxInfoSize     = 4 << 20
	maxConfigSize   = 1 << 20
)

// ImageFiles are the files of a capture initramfs the test starts from.
type ImageFiles struct {
	Info   *service.CaptureInfo
	Config []byte // /etc/kdump.conf as the image holds it
}

// ReadImage reads the CaptureInfo and the configuration from the capture initramfs
// at file (gzip, zstd or uncompressed newc, as service builds it).
func ReadImage(file string) (*ImageFiles, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readImage(f, file)
}

func readImage(r io.Reader, name string) (*ImageFiles, error) {
	zr, _, err := initramfs.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer zr.Close()
	cr := cpio.NewReader(zr)
	out := &ImageFiles{}
	var info []byte
	for n := 0; ; n++ {
		if n == maxImageEntries {
			return nil, fmt.Errorf("%s: more than %d entries: not a capture initramfs", name, maxImageEntries)
		}
		h, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var dst *[]byte
		limit := int64(0)
		switch strings.TrimPrefix(h.Name, "/") {
		case service.CaptureInfoPath:
			dst, limit = &info, maxInfoSize
		case service.ConfigPath:
			dst, limit = &out.Config, maxConfigSize
		default:
			continue
		}
		if h.Size > limit {
			return nil, fmt.Errorf("%s: %s is %d bytes, more than %d", name, h.Name, h.Size, limit)
		}
		if *dst, err = io.ReadAll(io.LimitReader(cr, limit)); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, h.Name, err)
		}
	}
	if info == nil {
		return nil, fmt.Errorf("%s: no /%s: not a capture initramfs built by gokdump start", name, service.CaptureInfoPath)
	}
	if out.Config == nil {
		return nil, fmt.Errorf("%s: no /%s: not a capture initramfs built by gokdump start", name, service.ConfigPath)
	}
	out.Info = &service.CaptureInfo{}
	if err := json.Unmarshal(info, out.Info); err != nil {
		return nil, fmt.Errorf("%s: /%s: %w", name, service.CaptureInfoPath, err)
	}
	return out, nil
}

// RewriteConfig returns the configuration the capture in the VM runs with: cfg with
// its target replaced by the scratch disk's ext4 file system and failure_action and
// final_action set to poweroff (a VM that reboots or halts would run until its
// timeout), and notes saying what was replaced. cfg is not changed.
func RewriteConfig(cfg *config.Config) (*config.Config, []string) {
	c := *cfg
	var notes []string
	t := cfg.Target
	scratch := config.Target{Kind: config.TargetExt4, Spec: "LABEL=" + ScratchLabel, Label: ScratchLabel}
	switch {
	case t.Kind == config.TargetRootfs:
		notes = append(notes, fmt.Sprintf("the root file system (path %s) is replaced by an ext4 scratch disk", cfg.Path))
	case t.Kind == config.TargetExt4:
		notes = append(notes, fmt.Sprintf("the target %s %s is replaced by an ext4 scratch disk", t.Kind, t.Spec))
	default:
		notes = append(notes, fmt.Sprintf("the target %s %s is replaced by an ext4 scratch disk: saving to a %s target is not exercised", t.Kind, t.Spec, t.Kind))
	}
	c.Target = scratch
	c.SSHKey, c.DHCP = "", false
	if cfg.S3.Capture {
		notes = append(notes, "s3_capture: the dump goes to the scratch disk; the upload to the bucket is not exercised")
	}
	// The VM has no network: uploads (s3_*) are the first kernel's business, or the
	// capture's with s3_capture, which the scratch disk replaces.
	c.S3 = config.S3{}
	if cfg.FailureAction != config.ActionPoweroff {
		notes = append(notes, fmt.Sprintf("failure_action %s is replaced by poweroff", cfg.FailureAction))
	}
	if cfg.FinalAction != config.ActionPoweroff {
		notes = append(notes, fmt.Sprintf("final_action %s is replaced by poweroff", cfg.FinalAction))
	}
	c.FailureAction, c.FinalAction = config.ActionPoweroff, config.ActionPoweroff
	return &c, notes
}

// RewriteInfo returns the CaptureInfo the capture in the VM runs with: info with the
// dump device made the scratch disk's file system (no LVM/md stack, no root file
// system, no server), and extra (the VM's drivers, as absolute paths in the image)
// appended to the modules to load, those already there left out.
func RewriteInfo(info *service.CaptureInfo, extra []string) *service.CaptureInfo {
	out := *info
	out.Device = service.DumpDevice{FSType: string(config.TargetExt4), Spec: "LABEL=" + ScratchLabel}
	out.Rootfs, out.Remote = nil, nil
	out.Modules = append([]string(nil), info.Modules...)
	have := map[string]bool{}
	for _, m := range info.Modules {
		have[m] = true
	}
	for _, m := range extra {
		if !have[m] {
			have[m] = true
			out.Modules = append(out.Modules, m)
		}
	}
	out.Notes = append(append([]string(nil), info.Notes...), "gokdump test --vm: the target is the VM's scratch disk")
	return &out
}

// vmModules resolves the modules the capture in the VM needs besides the image's:
// the virtio disk drivers and, when the image loads no ext4, ext4 (with crc32c, its
// soft dependency); those built into the kernel are left out. It returns each
// module's file in moduleDir and its path in the image.
func vmModules(moduleDir, release string, info *service.CaptureInfo) (host, guest []string, err error) {
	names := []string{"virtio_pci", "virtio_blk"}
	hasExt4 := false
	for _, m := range info.Modules {
		base := path.Base(m)
		if i := strings.Index(base, ".ko"); i > 0 && kmod.Normalize(base[:i]) == "ext4" {
			hasExt4 = true
		}
	}
	if !hasExt4 {
		if mods, err := kmod.Resolve(moduleDir, "crc32c_generic"); err == nil && len(mods) > 0 {
			names = append([]string{"crc32c_generic"}, names...)
		}
		names = append(names, "ext4")
	}
	mods, err := kmod.Resolve(moduleDir, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("the VM's drivers (%s) for %s: %w", strings.Join(names, " "), release, err)
	}
	for _, m := range mods {
		rel, err := filepath.Rel(moduleDir, m.Path)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, nil, fmt.Errorf("module %s is outside %s", m.Path, moduleDir)
		}
		host = append(host, m.Path)
		guest = append(guest, path.Join("/lib/modules", release, filepath.ToSlash(rel)))
	}
	return host, guest, nil
}

// CaptureOverlay is the archive appended to the exact image for the capture kernel:
// the rewritten configuration and CaptureInfo (and the module list beside it), and
// the module files the VM needs (hostMods[i] at guestMods[i]).
func CaptureOverlay(cfg *config.Config, info *service.CaptureInfo, hostMods, guestMods []string) (*initramfs.Archive, error) {
	var conf bytes.Buffer
	if err := cfg.Format(&conf); err != nil {
		return nil, err
	}
	infoJSON, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	list := "# kernel modules to load, in order (written by gokdump test --vm)\n"
	for _, m := range info.Modules {
		list += m + "\n"
	}
	a := initramfs.New()
	add := []error{
		a.AddFile(service.ConfigPath, 0o600, conf.Bytes()),
		a.AddFile(service.CaptureInfoPath, 0o644, append(infoJSON, '\n')),
		a.AddFile(service.ModuleListPath, 0o644, []byte(list)),
	}
	for i := range hostMods {
		add = append(add, a.AddFileFrom(strings.TrimPrefix(guestMods[i], "/"), 0o644, hostMods[i]))
	}
	if err := errors.Join(add...); err != nil {
		return nil, err
	}
	return a, nil
}

// FirstOverlay is the archive appended to the capture initrd for the first kernel:
// the spec, the capture kernel and the capture initrd it loads.
func FirstOverlay(spec Spec, kernel, captureInitrd string) (*initramfs.Archive, error) {
	spec.Version = specVersion
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	a := initramfs.New()
	if err := errors.Join(
		a.AddFile(SpecPath, 0o600, append(data, '\n')),
		a.AddFileFrom(KernelPath, 0o600, kernel),
		a.AddFileFrom(InitrdPath, 0o600, captureInitrd),
	); err != nil {
		return nil, err
	}
	return a, nil
}

// Concat writes to out (mode 0600) the initrd base followed by the archive a,
// uncompressed, starting at a multiple of 4 bytes (zero padding, which the kernel
// skips between archives): the kernel unpacks both, a's files replacing base's.
func Concat(out, base string, a *initramfs.Archive) (err error) {
	in, err := os.Open(base)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	n, err := io.Copy(f, in)
	if err != nil {
		return fmt.Errorf("copying %s: %w", base, err)
	}
	if pad := (4 - n%4) % 4; pad > 0 {
		if _, err := f.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	return a.WriteImage(f, initramfs.None)
}

// VMCmdline adapts a capture command line to the VM: its console is the first serial
// port (console=ttyS0 last, so it is /dev/console; other console= are dropped, since
// the VM has no other), and under TCG no_timer_check (an emulated IO-APIC may miss the
// kernel's timer check on a loaded host). Arguments after "--" stay last.
func VMCmdline(cmdline string, tcg bool) string {
	words := strings.Fields(cmdline)
	var params, initArgs []string
	for i, w := range words {
		if w == "--" {
			params, initArgs = words[:i], words[i:]
			break
		}
	}
	if params == nil && initArgs == nil {
		params = words
	}
	var out []string
	hasTimer := false
	for _, w := range params {
		if strings.HasPrefix(w, "console=") {
			continue
		}
		if w == "no_timer_check" {
			hasTimer = true
		}
		out = append(out, w)
	}
	out = append(out, "console=ttyS0")
	if tcg && !hasTimer {
		out = append(out, "no_timer_check")
	}
	return strings.Join(append(out, initArgs...), " ")
}

// FirstCmdline is the first kernel's command line: the serial console, the
// reservation, a prompt exit on any panic that does not reach the capture kernel
// (panic=1 with QEMU's -no-reboot), and the flag that makes init the test's first
// kernel.
func FirstCmdline(crashBytes int64, tcg bool) string {
	args := []string{"console=ttyS0", fmt.Sprintf("crashkernel=%dM", crashBytes>>20), "panic=1", "rdinit=/init", FirstKernelFlag}
	if tcg {
		args = append(args, "no_timer_check")
	}
	return strings.Join(args, " ")
}
