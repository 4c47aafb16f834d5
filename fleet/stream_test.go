package fleet

import "testing"

// TestStreamBuffer: the part a Stream holds doubles after every 2000 parts, up to
// 64 MiB, so the capture's memory for a dump of a given size is known in advance.
func TestStreamBuffer(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ size, want int64 }{
		{0, 8 * mib},
		{2000*8*mib - 1, 8 * mib},
		{2000 * 8 * mib, 16 * mib},
		{2000*8*mib + 2000*16*mib - 1, 16 * mib},
		{2000*8*mib + 2000*16*mib, 32 * mib},
		{64 << 30, 32 * mib},
		{1 << 50, 64 * mib},
	} {
		if got := StreamBuffer(StreamPartSize, c.size); got != c.want {
			t.Errorf("StreamBuffer(8 MiB, %d) = %d MiB, want %d MiB", c.size, got/mib, c.want/mib)
		}
	}
}
