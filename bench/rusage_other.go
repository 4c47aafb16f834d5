//go:build !unix

package bench

import (
	"os"
	"time"
)

// usage reports only the CPU time where there is no rusage.
func usage(ps *os.ProcessState) (maxRSS int64, cpu, user time.Duration) {
	return 0, ps.UserTime() + ps.SystemTime(), ps.UserTime()
}
