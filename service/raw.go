package service

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/rawdump"
)

// The raw target (kdump.conf's raw): the partition is resolved and checked when the
// image is planned (rawdevice), and a dump the capture wrote there is converted into
// a dump directory under path before arming again (Start, SaveRaw).

func (s *System) rawRoots() rawdump.Roots {
	return rawdump.Roots{Dev: s.DevRoot, Sys: s.SysRoot, Proc: s.ProcRoot}
}

// rawDevice resolves the raw partition; it must exist and be unused now (the
// capture writes over it), or the configuration is refused.
func (s *System) rawDevice(cfg *config.Config) (DumpDevice, error) {
	p, err := rawdump.Resolve(s.rawRoots(), cfg.Target)
	if err != nil {
		return DumpDevice{}, &config.Error{File: cfg.File, Line: cfg.Target.Line, Msg: fmt.Sprintf("raw %s: %v", cfg.Target.Spec, err)}
	}
	return DumpDevice{Name: p.Name, Spec: cfg.Target.Spec, Raw: p}, nil
}

// SaveRaw converts a dump waiting on the raw partition of cfg into a new dump
// directory under dir ("" : cfg.Path) and marks it saved (gokdump save-raw). A
// partition without a fresh dump gives a result with no Status.
func (s *System) SaveRaw(cfg *config.Config, dir string) (*rawdump.SaveResult, error) {
	if cfg.Target.Kind != config.TargetRaw {
		return nil, fmt.Errorf("%s: the dump target is not raw", cfg.File)
	}
	dev, err := s.rawDevice(cfg)
	if err != nil {
		return nil, err
	}
	return s.saveRaw(cfg, dev, dir)
}

func (s *System) saveRaw(cfg *config.Config, dev DumpDevice, dir string) (*rawdump.SaveResult, error) {
	if dir == "" {
		dir = cfg.Path
	}
	res, err := rawdump.Save(rawdump.SaveOptions{
		Device: filepath.Join(s.DevRoot, dev.Name),
		Target: "raw " + dev.Raw.String(),
		Dir:    dir,
		Now:    time.Now,
	})
	if err != nil {
		return res, fmt.Errorf("saving the raw dump on %s to %s: %w", cfg.Target.Spec, dir, err)
	}
	return res, nil
}

// RawNote says whether a dump waits on cfg's raw partition ("" when none or when
// the target is not raw), for status.
func (s *System) RawNote(cfg *config.Config) string {
	if cfg.Target.Kind != config.TargetRaw {
		return ""
	}
	p, err := rawdump.Resolve(s.rawRoots(), cfg.Target)
	if err != nil {
		return fmt.Sprintf("raw %s: %v", cfg.Target.Spec, err)
	}
	h, err := rawdump.Pending(filepath.Join(s.DevRoot, p.Name))
	switch {
	case err != nil:
		return fmt.Sprintf("raw %s: %v (gokdump save-raw keeps what it can read)", cfg.Target.Spec, err)
	case h != nil && h.State.Fresh():
		return fmt.Sprintf("a %s dump of %s written %s waits on %s: gokdump save-raw (or start) saves it under %s",
			h.State, h.Release, h.WriteTime.Format(time.DateTime+" UTC"), cfg.Target.Spec, cfg.Path)
	}
	return ""
}
