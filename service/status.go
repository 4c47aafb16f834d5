package service

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/mountinfo"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kexec"
)

// Status is the state of the kdump service.
type Status struct {
	kexec.State
	BootTime time.Time
	// DumpDir is where dumps are looked for on this machine ("" when the target is not
	// mounted here or is remote: DumpDirNote says why).
	DumpDir     string
	DumpDirNote string
	// Dumps are the dumps in DumpDir, oldest first.
	Dumps []dumpdir.Dump
	// Since is the time after which a dump counts as new: the last arming in an
	// earlier boot when recorded, else this boot's start.
	Since time.Time
	// New are the dumps saved after Since: what the crash (or crashes) before this
	// boot left.
	New []dumpdir.Dump
	// RawNote says that a dump waits on a raw target's partition, not converted yet
	// ("" when none, or the target is not raw).
	RawNote string
	// RootfsDir is path on the root file system when failure_action dump_to_rootfs
	// may have saved there (the target is another file system); RootfsNew are the
	// dumps there saved after Since.
	RootfsDir string
	RootfsNew []dumpdir.Dump
	// Cmdline is the capture command line this boot's last gokdump start loaded,
	// with the Release and Kernel it armed ("" when start has not armed in this
	// boot).
	Cmdline, Release, Kernel string
	// CaptureCPUs is the capture kernel's nr_cpus that start chose, and why (0, ""
	// when not recorded).
	CaptureCPUs    int
	CaptureCPUsWhy string
}

// ReadStatus reports whether a capture kernel is loaded, how much memory is
// reserved, and the dumps saved since the service was last armed in an earlier boot.
func (s *System) ReadStatus(cfg *config.Config) (*Status, error) {
	st, err := kexec.ReadStateAt(s.SysRoot)
	if err != nil {
		return nil, err
	}
	out := &Status{State: st}
	if out.BootTime, err = s.BootTime(); err != nil {
		return nil, err
	}
	out.Since = out.BootTime
	if t, ok := s.lastArmingBefore(out.BootTime); ok {
		out.Since = t
	}
	if r, ok := s.armedNow(out.BootTime); ok {
		out.Cmdline, out.Release, out.Kernel = r.Cmdline, r.Release, r.Kernel
		out.CaptureCPUs, out.CaptureCPUsWhy = r.CPUs, r.CPUsWhy
	}
	out.RawNote = s.RawNote(cfg)
	out.DumpDir, out.DumpDirNote = s.dumpDir(cfg)
	if cfg.FailureAction == config.ActionDumpToRootfs && cfg.Target.Kind != config.TargetRootfs && out.DumpDir != cfg.Path {
		out.RootfsDir = cfg.Path
		dumps, err := dumpdir.List(cfg.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("listing dumps: %w", err)
		}
		for _, d := range dumps {
			if d.Time.After(out.Since) {
				out.RootfsNew = append(out.RootfsNew, d)
			}
		}
	}
	if out.DumpDir == "" {
		return out, nil
	}
	dumps, err := dumpdir.List(out.DumpDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing dumps: %w", err)
	}
	out.Dumps = dumps
	for _, d := range dumps {
		if d.Time.After(out.Since) {
			out.New = append(out.New, d)
		}
	}
	return out, nil
}

// dumpDir is where this machine sees the dumps: Path on the root file system, or
// under the target's mount point when the target is mounted here.
func (s *System) dumpDir(cfg *config.Config) (dir, note string) {
	t := cfg.Target
	switch {
	case t.Kind == config.TargetRootfs, t.Kind == config.TargetRaw:
		// A raw target's dumps are converted into path here (gokdump save-raw).
		return cfg.Path, ""
	case !t.Kind.IsFilesystem():
		note := fmt.Sprintf("dumps go to the %s target %s: look there", t.Kind, t.Spec)
		if r, err := s.Release(); err == nil {
			if m, err := ReadManifest(ManifestPath(s.ImagePath(r))); err == nil && m.Remote != "" {
				note += "; as armed: " + m.Remote
			}
		}
		return "", note
	}
	dev, err := s.dumpDevice(cfg)
	if err != nil || dev.Name == "" {
		return "", fmt.Sprintf("the target %s is not present", t.Spec)
	}
	p := filepath.Join(s.ProcRoot, "self/mountinfo")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return "", err.Error()
	}
	ms, err := mountinfo.Parse(bytes.NewReader(data), p)
	if err != nil {
		return "", err.Error()
	}
	for _, m := range ms {
		if m.Source == "/dev/"+dev.Name {
			return filepath.Join(m.Point, cfg.Path), ""
		}
		if name, err := s.nameByNumber(m.MajMin); err == nil && name == dev.Name && !strings.HasPrefix(m.MajMin, "0:") {
			return filepath.Join(m.Point, cfg.Path), ""
		}
	}
	return "", fmt.Sprintf("the target %s (%s) is not mounted: mount it to see its dumps (gokdump list)", t.Spec, dev.Name)
}
