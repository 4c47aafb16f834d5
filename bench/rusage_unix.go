//go:build unix

package bench

import (
	"os"
	"syscall"
	"time"
)

// usage is the child's peak resident set (bytes), CPU time and the user part of it,
// from the rusage wait4 returned for it.
func usage(ps *os.ProcessState) (maxRSS int64, cpu, user time.Duration) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, 0
	}
	// Linux reports ru_maxrss in KiB.
	return int64(ru.Maxrss) << 10, time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), time.Duration(ru.Utime.Nano())
}
