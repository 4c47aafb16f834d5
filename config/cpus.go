package config

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxCaptureCPUs bounds capture_cpus.
const MaxCaptureCPUs = 256

// capture_cpus N|auto is gokdump's extension: how many CPUs the capture kernel boots
// with (its nr_cpus=). auto (the default) lets gokdump start choose from the
// reservation (package service, CaptureCPUs); nr_cpus= in kdump_commandline_append
// (or Debian's KDUMP_COMMANDLINE_APPEND) sets it too, and the two may not both be given.
func init() {
	directives["capture_cpus"] = directive{set: func(c *Config, _ *parser, v string, _ int) error {
		if v == "auto" {
			c.CaptureCPUs = 0
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxCaptureCPUs {
			return fmt.Errorf("want auto or a number of CPUs from 1 to %d, not %q", MaxCaptureCPUs, v)
		}
		c.CaptureCPUs = n
		return nil
	}}
}

// AppendedCPUs returns the value of the last nr_cpus= in CmdlineAppend (0, false when
// there is none).
func (c *Config) AppendedCPUs() (int, bool) {
	for i := len(c.CmdlineAppend) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(c.CmdlineAppend[i], "=")
		if ok && strings.ReplaceAll(k, "-", "_") == "nr_cpus" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return 0, false
			}
			return n, true
		}
	}
	return 0, false
}

// checkCaptureCPUs refuses capture_cpus together with nr_cpus= in
// kdump_commandline_append, and an nr_cpus= that is not a positive number.
func (c *Config) checkCaptureCPUs(p *parser) {
	for _, w := range c.CmdlineAppend {
		k, v, ok := strings.Cut(w, "=")
		if ok && strings.ReplaceAll(k, "-", "_") == "nr_cpus" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				p.errorf(c.Lines["kdump_commandline_append"], "kdump_commandline_append: %s: want a number of CPUs of at least 1", w)
			}
		}
	}
	if _, ok := c.AppendedCPUs(); ok && c.Lines["capture_cpus"] != 0 {
		p.errorf(c.Lines["capture_cpus"], "capture_cpus and nr_cpus= in kdump_commandline_append (line %d) both set the capture kernel's CPUs; keep one",
			c.Lines["kdump_commandline_append"])
	}
}
