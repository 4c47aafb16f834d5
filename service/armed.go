package service

import "time"

// Armed is what this boot's last "gokdump start" loaded: the release, the capture
// kernel and initramfs, and the capture command line ("gokdump test --vm" boots
// exactly those).
type Armed struct {
	At      time.Time
	Release string
	Kernel  string
	Image   string // "" when armed by a gokdump that did not record it
	Cmdline string
}

// ArmedNow returns what start loaded in this boot, and false when it has not armed
// in this boot (or its record is unreadable).
func (s *System) ArmedNow() (*Armed, bool) {
	boot, err := s.BootTime()
	if err != nil {
		return nil, false
	}
	r, ok := s.armedNow(boot)
	if !ok {
		return nil, false
	}
	return &Armed{At: time.Unix(r.ArmedAt, 0), Release: r.Release, Kernel: r.Kernel, Image: r.Image, Cmdline: r.Cmdline}, true
}
