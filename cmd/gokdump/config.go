package main

import (
	"context"
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

// configPath returns the configuration file to read: flagValue when given, else
// $GOKDUMP_CONFIG, else /etc/kdump.conf.
func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(configEnv); v != "" {
		return v
	}
	return config.DefaultFile
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
/etc/kdump.conf), checks every line, including the core_collector options, and that
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
	if err := service.CheckDirectives(c); err != nil {
		fmt.Fprintf(e.stderr, "gokdump config: %v\n", err)
		return 1
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
