package makedumpfile

import (
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/config"
)

// CoreCollector parses the options of kdump.conf's core_collector (args, without the
// program name) for a dump to a target of kind target. They are checked as "gokdump
// dump" would take them with the operands the capture environment adds, plus the rules
// of the target: a raw target receives a flattened stream (-F), a file system target
// a file, an ssh target either (the capture chooses by what the server can take). The Command returned has no operands.
func CoreCollector(args []string, target config.TargetKind) (*Command, error) {
	a, err := Parse(args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(a.Operands) > 0:
		return nil, fmt.Errorf("operands %q: the capture environment adds VMCORE and DUMPFILE itself", a.Operands)
	case a.Help || a.Version || a.CheckParams || a.DryRun:
		return nil, errors.New("-h, -v, --check-params and --dry-run do not save a dump")
	case a.Rearrange:
		return nil, errors.New("-R rebuilds a dump from a flattened stream; it does not save one")
	case a.Split, a.Reassemble:
		return nil, errors.New("--split and --reassemble are not supported in core_collector: the capture saves one vmcore file")
	case a.MemUsage:
		return nil, errors.New("--mem-usage prints a table; it does not save a dump")
	case a.VMCOREINFO != "":
		return nil, errors.New("-i is not supported in core_collector: the capture reads the VMCOREINFO of /proc/vmcore")
	}
	switch target {
	case config.TargetSSH:
		// Either: kdump-utils' configurations say -F; gokdump writes an ordinary
		// dump over SFTP and streams the flattened format only to a server without
		// SFTP, whatever -F says.
	case config.TargetRaw:
		if !a.Flat {
			return nil, fmt.Errorf("an %s target needs the flattened format: add -F", target)
		}
	default:
		if a.Flat {
			return nil, errors.New("-F writes a flattened stream, which only ssh and raw targets take: remove it")
		}
	}
	if a.Flat {
		a.Operands = []string{"/proc/vmcore"}
	} else {
		a.Operands = []string{"/proc/vmcore", "vmcore"}
	}
	if err := a.Check(); err != nil {
		return nil, err
	}
	a.Operands = nil
	return a, nil
}

// CheckConfig checks c's core_collector with CoreCollector; a problem is a
// *config.Error on the core_collector line. (Package config cannot make this check
// itself: this package sits above the collector, which config must not import.)
func CheckConfig(c *config.Config) error {
	if _, err := CoreCollector(c.Collector.Args, c.Target.Kind); err != nil {
		return &config.Error{File: c.File, Line: c.Collector.Line, Msg: "core_collector: " + err.Error()}
	}
	return nil
}
