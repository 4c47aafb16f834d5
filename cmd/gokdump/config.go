package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/makedumpfile"
	"github.com/gokdump/gokdump/service"
)

// The "config" command checks kdump.conf. The helpers here (configPath, loadConfig)
// are what every service command (start, initramfs, status, the capture init) uses to
// find and read the configuration, so they all agree on the file and on its checks.
func init() {
	register(&command{
		name:    "config",
		summary: "check kdump.conf and print the effective configuration (config check [FILE])",
		run:     runConfig,
	})
}

// configEnv names the environment variable that overrides the configuration file.
const configEnv = "GOKDUMP_CONFIG"

// sysconfigEnv names the environment variable that overrides Fedora's
// /etc/sysconfig/kdump.
const sysconfigEnv = "GOKDUMP_SYSCONFIG"

// The files read when none is named (tests point them elsewhere): kdump.conf, else
// Debian's kdump-tools defaults when only that exists; and Fedora's
// /etc/sysconfig/kdump beside kdump.conf.
var (
	defaultConfigFile = config.DefaultFile
	debianConfigFile  = config.DebianFile
	sysconfigFile     = config.SysconfigFile
)

// configPath returns the configuration file to read: flagValue when given, else
// $GOKDUMP_CONFIG, else /etc/kdump.conf, or Debian's /etc/default/kdump-tools when
// there is no /etc/kdump.conf and that exists (a machine that had kdump-tools).
func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(configEnv); v != "" {
		return v
	}
	if _, err := os.Stat(defaultConfigFile); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(debianConfigFile); err == nil {
			return debianConfigFile
		}
	}
	return defaultConfigFile
}

// loadSysconfig reads Fedora's /etc/sysconfig/kdump ($GOKDUMP_SYSCONFIG) into a
// configuration read from a kdump.conf, as kdumpctl reads both; a missing file is
// nothing to read.
func loadSysconfig(c *config.Config) error {
	if c.IsDebian() {
		return nil
	}
	file := sysconfigFile
	if v := os.Getenv(sysconfigEnv); v != "" {
		file = v
	}
	return c.LoadSysconfig(file)
}

// printConfigNotes prints the warnings about the configuration files (a deprecated
// directive, variables ignored and why).
func printConfigNotes(e *env, name string, c *config.Config) {
	for _, w := range c.Warnings {
		fmt.Fprintf(e.stderr, "gokdump %s: warning: %s\n", name, w)
	}
}

// loadConfig reads the configuration file as config.LoadOrDefault does (a missing file
// at the default location is the default configuration) and checks the core_collector
// options with the parser "gokdump dump" uses.
func loadConfig(file string, explicit bool) (*config.Config, error) {
	c, _, err := loadConfigData(file, explicit)
	return c, err
}

// loadConfigData is loadConfig with the file's bytes (nil for the defaults), which
// the capture initramfs carries.
func loadConfigData(file string, explicit bool) (c *config.Config, data []byte, err error) {
	c, data, err = config.LoadOrDefault(file, explicit)
	if err != nil {
		return nil, nil, err
	}
	if err := makedumpfile.CheckConfig(c); err != nil {
		return nil, nil, err
	}
	return c, data, nil
}

func runConfig(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "config", `check [--file-only] [--config FILE] [start's options] [FILE]

Reads the kdump configuration (FILE, else --config, else $GOKDUMP_CONFIG, else
/etc/kdump.conf, else Debian's /etc/default/kdump-tools when only that exists; a
file of NAME=value lines is read as Debian's kdump-tools settings, whatever its
name, and /etc/sysconfig/kdump goes with a kdump.conf as with Fedora's kdumpctl),
checks every line, including the core_collector options, and that
the capture carries out every directive; then, unless --file-only, runs the checks
"gokdump start" runs before it arms (service.Preflight): the dump device and the
LVM/md layout under it can be brought up by the capture kernel with the modules of
the kernel release to arm (--kernel-version), the file system type is supported,
and the target has room for an estimated dump (a warning otherwise). It prints the
effective configuration (defaults filled in) in kdump.conf syntax, or every error
with its file and line. Exit status 1 when the configuration cannot be armed.`)
	f := addServiceFlags(fs)
	fileOnly := fs.Bool("file-only", false, "check the file only, not whether this machine can arm it")
	pos, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(pos) == 0 || pos[0] != "check" || len(pos) > 2 {
		fs.Usage()
		return 2
	}
	if len(pos) == 2 {
		f.config = pos[1]
	}
	c, data, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump config: %v\n", err)
		return 1
	}
	printConfigNotes(e, "config", c)
	if err := service.CheckDirectives(c); err != nil {
		fmt.Fprintf(e.stderr, "gokdump config: %v\n", err)
		return 1
	}
	if c.Disabled != "" {
		fmt.Fprintf(e.stderr, "gokdump config: warning: %s; gokdump start will not arm\n", c.Disabled)
	}
	if !*fileOnly {
		pf, err := f.sys.Preflight(f.startOptions(c, data))
		if err != nil {
			fmt.Fprintf(e.stderr, "gokdump config: cannot be armed: %v\n", err)
			return 1
		}
		for _, n := range pf.Plan.Info.Notes {
			fmt.Fprintf(e.stderr, "gokdump config: note: %s\n", n)
		}
		for _, w := range pf.Warnings {
			fmt.Fprintf(e.stderr, "gokdump config: warning: %s\n", w)
		}
	}
	fmt.Fprintf(e.stdout, "# %s: OK; the effective configuration:\n", c.File)
	if err := c.Format(e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "gokdump config: %v\n", err)
		return 1
	}
	return 0
}
