package main

import (
	"context"
	"fmt"
	"os"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/makedumpfile"
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
	fs := newFlagSet(e, "config", `check [--config FILE] [FILE]

Reads the kdump configuration (FILE, else --config, else $GOKDUMP_CONFIG, else
/etc/kdump.conf), checks every line, including the core_collector options, and
prints the effective configuration (defaults filled in) in kdump.conf syntax, or
every error with its file and line. Exit status 1 when the file has errors.`)
	file := fs.String("config", "", "the configuration `file`")
	pos, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(pos) == 0 || pos[0] != "check" || len(pos) > 2 {
		fs.Usage()
		return 2
	}
	explicit := *file != "" || os.Getenv(configEnv) != ""
	if len(pos) == 2 {
		*file, explicit = pos[1], true
	}
	path := configPath(*file)
	c, err := loadConfig(path, explicit)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump config: %v\n", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "# %s: OK; the effective configuration:\n", c.File)
	if err := c.Format(e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "gokdump config: %v\n", err)
		return 1
	}
	return 0
}
