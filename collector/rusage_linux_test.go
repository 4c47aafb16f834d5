package collector

import "testing"

// TestPeakRSSReported: on Linux a collection reports the process's peak resident set,
// at least the memory this test process holds live now.
func TestPeakRSSReported(t *testing.T) {
	k := newTestKernel(t, profile61)
	hold := make([]byte, 8<<20)
	for i := range hold {
		hold[i] = 1 // resident
	}
	c := collect(t, k.open(t), Options{DumpLevel: 31})
	if c.stats.PeakRSS < int64(len(hold)) {
		t.Errorf("PeakRSS %d, want at least the %d bytes held", c.stats.PeakRSS, len(hold))
	}
	_ = hold[len(hold)-1]
}
