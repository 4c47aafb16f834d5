package word

import (
	"encoding/binary"
	"testing"
)

// TestLoads: the loads read what encoding/binary reads, at every offset.
func TestLoads(t *testing.T) {
	src := make([]byte, 64)
	for i := range src {
		src[i] = byte(i*37 + 11)
	}
	for i := 0; i+8 <= len(src); i++ {
		if got, want := Load64(src, i), binary.LittleEndian.Uint64(src[i:]); got != want {
			t.Errorf("Load64 at %d: %#x, want %#x", i, got, want)
		}
	}
	for i := 0; i+4 <= len(src); i++ {
		if got, want := Load32(src, i), binary.LittleEndian.Uint32(src[i:]); got != want {
			t.Errorf("Load32 at %d: %#x, want %#x", i, got, want)
		}
	}
}
