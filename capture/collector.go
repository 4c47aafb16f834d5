package capture

import (
	"fmt"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/makedumpfile"
)

// ParseCollector turns core_collector into the collector's settings, with the option
// parser of "gokdump dump" (package makedumpfile), so both accept exactly the same
// options. Only options that save a dump are allowed; -F (a flattened stream) is
// for a raw target (makedumpfile.CheckConfig ties it to the target kind).
func ParseCollector(c config.Collector) (Collector, error) {
	a, err := makedumpfile.Parse(c.Args)
	if err != nil {
		return Collector{}, fmt.Errorf("core_collector %s: %w", c, err)
	}
	if len(a.Operands) > 0 || a.Rearrange || a.DryRun || a.CheckParams || a.Help || a.Version {
		return Collector{}, fmt.Errorf("core_collector %s: only options that save a dump are allowed", c)
	}
	return Collector{
		Args:    append([]string{c.Program}, c.Args...),
		Options: a.Options(),
		Levels:  a.Levels,
	}, nil
}
