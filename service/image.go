package service

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kmod"
)

// Paths inside the capture initramfs (relative to its root, as package initramfs
// takes them). The capture side reads CaptureInfoPath first.
const (
	InitPath        = "init"
	ConfigPath      = "etc/kdump.conf"
	CaptureInfoPath = "etc/gokdump/capture.json"
	// ModuleListPath lists CaptureInfo.Modules again, one absolute path a line, for
	// readers that want only the load order (package capture's ModulesFile).
	ModuleListPath = "etc/gokdump/modules"
)

// CaptureInfo is what the first kernel learned for the capture environment, written
// into the image as JSON at CaptureInfoPath.
type CaptureInfo struct {
	// Release is the kernel release the image is for (its modules are under
	// /lib/modules/Release).
	Release string `json:"release"`
	// Modules are the module files to load, in order (dependencies first), as
	// absolute paths inside the image.
	Modules []string `json:"modules"`
	// Device is the dump device found when the image was built; Device.Name is ""
	// when it was not present then.
	Device DumpDevice `json:"device"`
	// Rootfs is the machine's root file system, recorded for failure_action
	// dump_to_rootfs (nil otherwise); Rootfs.Dir is the configured path on it.
	Rootfs *DumpDevice `json:"rootfs,omitempty"`
	// Remote is the ssh or nfs server and the way to it (nil for local targets).
	Remote *RemoteTarget `json:"remote,omitempty"`
	// Notes are what the builder could not do exactly as configured.
	Notes []string `json:"notes,omitempty"`
	// MachineID is this machine's /etc/machine-id ("" when it has none): the
	// capture writes it into the status file, where keep_dumps on a shared server
	// tells this machine's dumps from the others'.
	MachineID string `json:"machine_id,omitempty"`
}

// ReadCaptureInfo reads the CaptureInfo the image builder wrote (in the capture
// kernel, from "/"+CaptureInfoPath). Module paths must be absolute.
func ReadCaptureInfo(path string) (*CaptureInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var info CaptureInfo
	if err := json.NewDecoder(io.LimitReader(f, 4<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, m := range info.Modules {
		if !filepath.IsAbs(m) {
			return nil, fmt.Errorf("%s: module path %q is not absolute", path, m)
		}
	}
	return &info, nil
}

// BuildOptions says what goes into a capture initramfs.
type BuildOptions struct {
	Config *config.Config
	// ConfigData is written as /etc/kdump.conf; nil writes Config in kdump.conf
	// syntax (a machine without a configuration file gets the defaults).
	ConfigData []byte
	// Release is the kernel release whose modules are used ("" : the running one).
	Release string
	// Self is the gokdump binary to put in as /init ("" : /proc/self/exe).
	Self string
	// Compression overrides the choice from the kernel configuration when not nil.
	Compression *initramfs.Compression
}

// Plan is a capture initramfs worked out but not written: what goes in, and the
// inputs whose change calls for a rebuild.
type Plan struct {
	Release     string
	Compression initramfs.Compression
	Info        CaptureInfo
	Files       []PlanFile
	configData  []byte
}

// PlanFile is one file copied into the image.
type PlanFile struct {
	Dest string      // path inside the image
	Src  string      // file on this machine
	Mode os.FileMode // permissions
}

// Plan works out the capture initramfs for opts without writing anything.
func (s *System) Plan(opts BuildOptions) (*Plan, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("service: no configuration")
	}
	p := &Plan{Release: opts.Release, configData: opts.ConfigData}
	if p.Release == "" {
		r, err := s.Release()
		if err != nil {
			return nil, err
		}
		p.Release = r
	}
	if !validRelease(p.Release) {
		return nil, fmt.Errorf("kernel release %q is not a release name", p.Release)
	}
	if p.configData == nil {
		var b bytes.Buffer
		if err := cfg.Format(&b); err != nil {
			return nil, err
		}
		p.configData = b.Bytes()
	}
	if opts.Compression != nil {
		p.Compression = *opts.Compression
	} else {
		c, note := s.kernelCompression(p.Release)
		p.Compression = c
		if note != "" {
			p.Info.Notes = append(p.Info.Notes, note)
		}
	}
	self := opts.Self
	if self == "" {
		self = filepath.Join(s.ProcRoot, "self/exe")
	}
	p.Files = append(p.Files, PlanFile{Dest: InitPath, Src: self, Mode: 0o755})
	p.Info.Release = p.Release
	p.Info.MachineID = s.machineID()

	// Modules: the file system's, the target device's drivers, extra_modules.
	dev, err := s.dumpDevice(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.recordStack(cfg, &dev); err != nil {
		return nil, err
	}
	if err := s.captureSpec(cfg, &dev); err != nil {
		return nil, err
	}
	p.Info.Device = dev
	var names []string
	if dev.FSType != "" {
		names = append(names, fsModule(dev.FSType))
	}
	remote := cfg.Target.Kind == config.TargetSSH || cfg.Target.Kind == config.TargetNFS || cfg.S3.Capture
	if remote {
		r, mods, files, err := s.remoteTarget(cfg, p.Release)
		if err != nil {
			return nil, err
		}
		p.Info.Remote = r
		p.Info.Notes = append(p.Info.Notes, "dumps go to "+r.String())
		if r.Network.DHCP {
			// nclient4 speaks DHCP through a packet socket.
			opt, notes := optionalModules(s.ModuleDir(p.Release), []string{"af_packet"})
			mods = append(mods, opt...)
			p.Info.Notes = append(p.Info.Notes, notes...)
		}
		names = append(names, mods...)
		p.Files = append(p.Files, files...)
	}
	names = append(names, stackModules(dev.Stack)...)
	if cfg.FailureAction == config.ActionDumpToRootfs {
		root, notes, err := s.rootDevice(cfg)
		if err != nil {
			return nil, err
		}
		p.Info.Rootfs = &root
		p.Info.Notes = append(p.Info.Notes, notes...)
		names = append(names, fsModule(root.FSType))
		names = append(names, stackModules(root.Stack)...)
		drv, err := s.driverModules(root.Name)
		if err != nil {
			return nil, err
		}
		names = append(names, drv...)
		builtin, notes, err := s.releaseDrivers(cfg, p.Release, []string{root.Name}, true)
		if err != nil {
			return nil, rootfsError(cfg, "the root file system's device: "+err.Error())
		}
		names = append(names, builtin...)
		p.Info.Notes = append(p.Info.Notes, notes...)
	}
	if remote {
		// No block device to reach.
	} else if dev.Name != "" {
		drv, err := s.driverModules(dev.Name)
		if err != nil {
			return nil, err
		}
		names = append(names, drv...)
		builtin, notes, err := s.releaseDrivers(cfg, p.Release, []string{dev.Name}, true)
		if err != nil {
			return nil, directiveError(cfg, err.Error())
		}
		names = append(names, builtin...)
		p.Info.Notes = append(p.Info.Notes, notes...)
	} else {
		// The device is not there now: take the drivers of every block device
		// present, so the capture kernel can reach it if it is one of those disks'
		// kind when it appears.
		p.Info.Notes = append(p.Info.Notes, fmt.Sprintf("dump device %s not found: including the drivers of all block devices present", dev.Spec))
		all, err := s.blockDevices()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, b := range all {
			drv, err := s.driverModules(b)
			if err != nil {
				continue // a device that vanished while we looked
			}
			names = append(names, drv...)
		}
		builtin, notes, err := s.releaseDrivers(cfg, p.Release, all, false)
		if err != nil {
			return nil, err
		}
		names = append(names, builtin...)
		p.Info.Notes = append(p.Info.Notes, notes...)
	}
	names = append(names, cfg.ExtraModules...)
	names = uniqueStrings(names)
	modDir := s.ModuleDir(p.Release)
	if len(names) > 0 {
		mods, err := kmod.Resolve(modDir, names...)
		if err != nil {
			return nil, fmt.Errorf("kernel modules for the dump target (%s): %w", strings.Join(names, " "), err)
		}
		// Soft dependencies (crc32c for ext4 and xfs) come first: the capture
		// initramfs has no modprobe for the kernel to ask for them later.
		if soft, missing := softDeps(modDir, mods); len(soft) > 0 || len(missing) > 0 {
			if len(missing) > 0 {
				p.Info.Notes = append(p.Info.Notes, "soft dependencies provided by no module (built in, or not needed): "+strings.Join(missing, " "))
			}
			if len(soft) > 0 {
				if mods, err = kmod.Resolve(modDir, append(soft, names...)...); err != nil {
					return nil, fmt.Errorf("kernel modules for the dump target (%s): %w", strings.Join(names, " "), err)
				}
			}
		}
		for _, m := range mods {
			rel, err := filepath.Rel(modDir, m.Path)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, fmt.Errorf("module %s at %s is outside %s", m.Name, m.Path, modDir)
			}
			dest := filepath.ToSlash(filepath.Join("lib/modules", p.Release, rel))
			p.Files = append(p.Files, PlanFile{Dest: dest, Src: m.Path, Mode: 0o644})
			p.Info.Modules = append(p.Info.Modules, "/"+dest)
		}
	}

	// Programs: extra_bins, the hooks, and a shell for failure_action shell.
	var progs []string
	progs = append(progs, cfg.ExtraBins...)
	for _, h := range []string{cfg.Pre, cfg.Post} {
		if h != "" {
			progs = append(progs, h)
		}
	}
	if cfg.FailureAction == config.ActionShell {
		progs = append(progs, "/bin/sh")
	}
	hooks, notes, err := s.hookDirPrograms()
	if err != nil {
		return nil, err
	}
	p.Info.Notes = append(p.Info.Notes, notes...)
	progs = append(progs, hooks...)
	files, err := s.programFiles(uniqueStrings(progs))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		dest := strings.TrimPrefix(filepath.ToSlash(f), "/")
		if rel, err := filepath.Rel(s.HookDir, f); s.HookDir != "" && err == nil && !strings.HasPrefix(rel, "..") {
			// The capture runs them from /etc/kdump (capture.PreHookDir, PostHookDir).
			dest = "etc/kdump/" + filepath.ToSlash(rel)
		}
		p.Files = append(p.Files, PlanFile{Dest: dest, Src: f, Mode: 0o755})
	}
	sort.Slice(p.Files, func(i, j int) bool { return p.Files[i].Dest < p.Files[j].Dest })
	for i := 1; i < len(p.Files); i++ {
		if p.Files[i].Dest == p.Files[i-1].Dest {
			return nil, fmt.Errorf("%s would be in the image twice (from %s and %s)", p.Files[i].Dest, p.Files[i-1].Src, p.Files[i].Src)
		}
	}
	return p, nil
}

// maxHookPrograms bounds the programs taken from one hook directory.
const maxHookPrograms = 256

// hookDirPrograms lists the programs of kdump-utils' /etc/kdump/pre.d and post.d,
// which the capture runs in lexical order before and after the dump: as kdump-utils
// does, only executable files are taken, and each file left out is noted.
func (s *System) hookDirPrograms() (progs, notes []string, err error) {
	if s.HookDir == "" {
		return nil, nil, nil
	}
	if ents, err := os.ReadDir(filepath.Join(s.HookDir, "emergency.d")); err == nil && len(ents) > 0 {
		notes = append(notes, fmt.Sprintf("%s holds %d entries that the capture does not run: it has no emergency mode (kdump-utils runs them after an error); use failure_action and kdump_post, which gets the exit status",
			filepath.Join(s.HookDir, "emergency.d"), len(ents)))
	}
	for _, d := range []string{"pre.d", "post.d"} {
		dir := filepath.Join(s.HookDir, d)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("hook directory: %w", err)
		}
		n := 0
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p)
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("%s: %v: not run by the capture", p, err))
			case fi.IsDir():
				notes = append(notes, fmt.Sprintf("%s is a directory: not run by the capture", p))
			case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
				notes = append(notes, fmt.Sprintf("%s is not executable: not run by the capture (chmod +x it)", p))
			default:
				if n++; n > maxHookPrograms {
					return nil, nil, fmt.Errorf("%s: more than %d programs", dir, maxHookPrograms)
				}
				progs = append(progs, p)
			}
		}
	}
	return progs, notes, nil
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// kernelCompression chooses the image compression the kernel release unpacks: zstd
// when its configuration has CONFIG_RD_ZSTD=y, else gzip, which every kernel with
// initramfs support unpacks. The configuration is /boot/config-RELEASE, or
// /proc/config.gz for the running kernel.
func (s *System) kernelCompression(release string) (initramfs.Compression, string) {
	var r io.Reader
	if f, err := os.Open(filepath.Join(s.BootDir, "config-"+release)); err == nil {
		defer f.Close()
		r = f
	} else if running, _ := s.Release(); running == release {
		if f, err := os.Open(filepath.Join(s.ProcRoot, "config.gz")); err == nil {
			defer f.Close()
			if zr, err := gzip.NewReader(f); err == nil {
				r = zr
			}
		}
	}
	if r == nil {
		return initramfs.Gzip, fmt.Sprintf("no kernel configuration for %s: using gzip, which every kernel unpacks", release)
	}
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	zstd := false
	for sc.Scan() {
		if sc.Text() == "CONFIG_RD_ZSTD=y" {
			zstd = true
		}
	}
	if zstd {
		return initramfs.Zstd, ""
	}
	return initramfs.Gzip, ""
}

// Archive assembles the image the plan describes.
func (p *Plan) Archive() (*initramfs.Archive, error) {
	a := initramfs.New()
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "mnt", "etc/gokdump"} {
		if err := a.AddDir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := a.AddDevice("dev/console", os.ModeCharDevice|0o600, 5, 1); err != nil {
		return nil, err
	}
	if err := a.AddDevice("dev/null", os.ModeCharDevice|0o666, 1, 3); err != nil {
		return nil, err
	}
	if err := a.AddFile(ConfigPath, 0o600, p.configData); err != nil {
		return nil, err
	}
	info, err := json.MarshalIndent(p.Info, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := a.AddFile(CaptureInfoPath, 0o644, append(info, '\n')); err != nil {
		return nil, err
	}
	list := "# kernel modules to load, in order (written by gokdump initramfs)\n"
	for _, m := range p.Info.Modules {
		list += m + "\n"
	}
	if err := a.AddFile(ModuleListPath, 0o644, []byte(list)); err != nil {
		return nil, err
	}
	for _, f := range p.Files {
		if err := a.AddFileFrom(f.Dest, f.Mode, f.Src); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Manifest records the inputs of an image so a later start can tell whether it is
// still up to date: the gokdump binary and configuration by content, every other
// input by size and modification time (as make would, but also noticing files that
// became older).
type Manifest struct {
	Version     int    `json:"version"`
	Release     string `json:"release"`
	Compression string `json:"compression"`
	Binary      Input  `json:"binary"`
	Config      string `json:"config_sha256"`
	// Device is the hash of the dump device as recorded in the image, its block
	// stack included: an LV extended or moved, or an array rebuilt, changes it, and
	// the next start rebuilds the image instead of arming a stale layout.
	Device string `json:"device_sha256,omitempty"`
	// Info is the hash of the CaptureInfo the image holds: what start found out
	// (a server's address, the network, devices) changes the image too.
	Info string `json:"info_sha256,omitempty"`
	// Remote says how the capture kernel reaches an ssh or nfs server (the
	// address resolved at start), for status.
	Remote string  `json:"remote,omitempty"`
	Inputs []Input `json:"inputs"`
}

// manifestVersion changes when what goes into an image changes in a way old
// manifests cannot describe, so old images are rebuilt.
const manifestVersion = 1

// Input is one file an image was built from.
type Input struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256,omitempty"`
}

// Manifest describes the plan's inputs as they are now.
func (p *Plan) Manifest() (*Manifest, error) {
	m := &Manifest{Version: manifestVersion, Release: p.Release, Compression: p.Compression.String()}
	sum := sha256.Sum256(p.configData)
	m.Config = hex.EncodeToString(sum[:])
	dev, err := json.Marshal(p.Info.Device)
	if err != nil {
		return nil, err
	}
	if p.Info.Rootfs != nil {
		// The root file system's device and stack, for dump_to_rootfs, likewise.
		root, err := json.Marshal(p.Info.Rootfs)
		if err != nil {
			return nil, err
		}
		dev = append(dev, root...)
	}
	sum = sha256.Sum256(dev)
	m.Device = hex.EncodeToString(sum[:])
	info, err := json.Marshal(p.Info)
	if err != nil {
		return nil, err
	}
	isum := sha256.Sum256(info)
	m.Info = hex.EncodeToString(isum[:])
	if p.Info.Remote != nil {
		m.Remote = p.Info.Remote.String()
	}
	for _, f := range p.Files {
		in, err := statInput(f.Src)
		if err != nil {
			return nil, err
		}
		if f.Dest == InitPath {
			if in.SHA256, err = hashFile(f.Src); err != nil {
				return nil, err
			}
			// The binary is named by content: /proc/self/exe's name says nothing.
			in.Path = "gokdump"
			m.Binary = in
			continue
		}
		m.Inputs = append(m.Inputs, in)
	}
	return m, nil
}

func statInput(p string) (Input, error) {
	st, err := os.Stat(p)
	if err != nil {
		return Input{}, err
	}
	return Input{Path: p, Size: st.Size(), ModTime: st.ModTime().UnixNano()}, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ReadManifest reads the manifest stored beside an image.
func ReadManifest(path string) (*Manifest, error) {
	data, err := smallfile.Read(path, 4<<20)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// RebuildReason says why the image must be rebuilt, or "" when the existing one
// (whose manifest is old, nil when unreadable) is up to date. force_no_rebuild keeps
// any existing image; force_rebuild always rebuilds.
func RebuildReason(cfg *config.Config, imageExists bool, old, now *Manifest) string {
	switch {
	case !imageExists:
		return "there is no image yet"
	case cfg.ForceNoRebuild:
		return ""
	case cfg.ForceRebuild:
		return "force_rebuild is set"
	case old == nil:
		return "the image has no readable manifest"
	case old.Version != now.Version:
		return fmt.Sprintf("the manifest is version %d, not %d", old.Version, now.Version)
	case old.Release != now.Release:
		return fmt.Sprintf("the image is for kernel %s, not %s", old.Release, now.Release)
	case old.Compression != now.Compression:
		return fmt.Sprintf("the compression changed from %s to %s", old.Compression, now.Compression)
	case old.Binary.SHA256 != now.Binary.SHA256:
		return "the gokdump binary changed"
	case old.Config != now.Config:
		return "the configuration changed"
	case old.Device != now.Device:
		return "the dump device or the LVM/md layout under it changed"
	case old.Info != now.Info:
		return "what start records for the capture changed (the dump target, its device or the way to its server)"
	}
	before := map[string]Input{}
	for _, in := range old.Inputs {
		before[in.Path] = in
	}
	for _, in := range now.Inputs {
		b, ok := before[in.Path]
		switch {
		case !ok:
			return in.Path + " is a new input"
		case b.Size != in.Size || b.ModTime != in.ModTime:
			return in.Path + " changed"
		}
		delete(before, in.Path)
	}
	for p := range before {
		return p + " is no longer an input"
	}
	return ""
}

// Build writes the image the plan describes to image (mode 0600, replaced
// atomically) and its manifest beside it, creating the directory (mode 0700).
func (p *Plan) Build(image string) (*Manifest, error) {
	m, err := p.Manifest()
	if err != nil {
		return nil, err
	}
	a, err := p.Archive()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(image), 0o700); err != nil {
		return nil, err
	}
	if err := a.WriteFile(image, p.Compression); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(ManifestPath(image), append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	return m, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it into
// place.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
