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
		if v, ok := nrCPUsValue(c.CmdlineAppend[i]); ok {
			return cpuCount(v)
		}
	}
	return 0, false
}

// cpuCount reads nr_cpus='s value as the kernel does, when it is a plain decimal
// number of at least 1. The kernel's get_option reads "010" as octal and "+3" as 0
// (ignored), so such spellings are not taken for what they seem to say.
func cpuCount(v string) (int, bool) {
	if v == "" || v[0] < '1' || v[0] > '9' || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// nrCPUsValue returns the value of w when it is the nr_cpus= parameter (the kernel
// takes nr-cpus= too).
func nrCPUsValue(w string) (string, bool) {
	k, v, ok := strings.Cut(w, "=")
	return v, ok && strings.ReplaceAll(k, "-", "_") == "nr_cpus"
}

func isNrCPUs(w string) bool {
	_, ok := nrCPUsValue(w)
	return ok
}

// checkNrCPUs refuses an appended nr_cpus= that is not a positive number: the capture
// kernel would ignore it, and start's own choice would not be made either. Every
// source of appended parameters (kdump.conf, /etc/sysconfig/kdump, Debian's
// kdump-tools) goes through it (addCmdline).
func checkNrCPUs(w string) error {
	if v, ok := nrCPUsValue(w); ok {
		if _, ok := cpuCount(v); !ok {
			return fmt.Errorf("%s: want a number of CPUs of at least 1, in decimal", w)
		}
	}
	return nil
}

// checkCaptureCPUs refuses capture_cpus together with nr_cpus= in
// kdump_commandline_append.
func (c *Config) checkCaptureCPUs(p *parser) {
	if _, ok := c.AppendedCPUs(); ok && c.Lines["capture_cpus"] != 0 {
		p.errorf(c.Lines["capture_cpus"], "capture_cpus and nr_cpus= in kdump_commandline_append (line %d) both set the capture kernel's CPUs; keep one",
			c.Lines["kdump_commandline_append"])
	}
}
