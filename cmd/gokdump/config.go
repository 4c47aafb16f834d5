package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gokdump/gokdump/config"
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

// loadConfig reads and checks the configuration file, including the core_collector
// options, which are checked by the same parser "gokdump dump" uses. A missing file
// at the default location is the default configuration (as with Fedora's kdump, an
// installed but untouched service dumps to /var/crash); a missing file named
// explicitly is an error.
func loadConfig(file string, explicit bool) (*config.Config, error) {
	c, err := config.Load(file)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		c = config.Default()
		c.File = file + " (missing: defaults)"
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if err := c.CheckCollector(checkCollectorArgs); err != nil {
		return nil, err
	}
	return c, nil
}

// checkCollectorArgs checks core_collector options as "gokdump dump" would take them
// with the operands the capture environment adds, plus the rules of the target: a
// remote or raw target receives a flattened stream (-F), a file system target a file.
func checkCollectorArgs(args []string, target config.TargetKind) error {
	a, err := parseDumpArgs(args)
	if err != nil {
		return err
	}
	switch {
	case len(a.operands) > 0:
		return fmt.Errorf("operands %q: the capture environment adds VMCORE and DUMPFILE itself", a.operands)
	case a.help || a.version || a.checkParams || a.dryRun:
		return errors.New("-h, -v, --check-params and --dry-run do not save a dump")
	case a.rearrange:
		return errors.New("-R rebuilds a dump from a flattened stream; it does not save one")
	}
	switch target {
	case config.TargetSSH, config.TargetRaw:
		if !a.flat {
			return fmt.Errorf("an %s target needs the flattened format: add -F", target)
		}
	default:
		if a.flat {
			return errors.New("-F writes a flattened stream, which only ssh and raw targets take: remove it")
		}
	}
	if a.flat {
		a.operands = []string{"/proc/vmcore"}
	} else {
		a.operands = []string{"/proc/vmcore", "vmcore"}
	}
	return a.check()
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
