//go:build !linux

package bench

import "time"

// threadCPU is not measured where there is no per-thread rusage: 0.
func threadCPU() time.Duration { return 0 }
