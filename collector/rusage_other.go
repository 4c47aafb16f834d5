//go:build !linux

package collector

// peakRSS is 0 where getrusage's ru_maxrss is not read.
func peakRSS() int64 { return 0 }
