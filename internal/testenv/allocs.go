package testenv

import (
	"runtime"
	"testing"
)

// SteadyAllocs returns how many heap allocations n calls of f make once warm: after
// warmup calls (the runtime fills a call site's type-assertion cache only on about one
// miss in 1024, so the first thousands of calls through interfaces may allocate), it
// counts the process's mallocs over n calls three times and returns the fewest. The
// process-wide count also sees the runtime's own work (a finalizer of a file closed by
// an earlier test, a sync.Pool emptied by a collection), which the fewest of three rules
// out; a function that allocates in steady state allocates in every attempt. (No
// collection is forced between attempts: it would empty the codecs' pools.)
func SteadyAllocs(warmup, n int, f func(i int)) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for i := range warmup {
		f(i)
	}
	best := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range n {
			f(i)
		}
		runtime.ReadMemStats(&after)
		best = min(best, after.Mallocs-before.Mallocs)
	}
	return best
}

// SkipAllocsUnderRace skips a test that counts allocations when it runs under the race
// detector (make test-race): the detector's instrumentation allocates and its
// sync.Pool drops items on purpose, so the counts are not the code's. The run without
// -race (make test) asserts them.
func SkipAllocsUnderRace(t testing.TB) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts under -race are the race detector's; go test without -race asserts them")
	}
}
