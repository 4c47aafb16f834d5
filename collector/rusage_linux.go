package collector

import "golang.org/x/sys/unix"

// peakRSS is this process's peak resident set in bytes (ru_maxrss is in KiB on Linux).
func peakRSS() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10
}
