package deflate

import (
	"hash/adler32"
	"math/rand/v2"
	"testing"
)

// TestAdler32 holds adler32Checksum to hash/adler32 on lengths around its steps and blocks
// (64, nmax) and on bytes of 0xff, which make s1, s2 and the lanes largest.
func TestAdler32(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 3*5552+17)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	ones := make([]byte, len(buf))
	for i := range ones {
		ones[i] = 0xff
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 127, 128, 4095, 4096, 5551, 5552, 5553, 5560, 2*5552 + 3, len(buf)} {
		for _, p := range [][]byte{buf[:n], ones[:n], buf[len(buf)-n:]} {
			if got, want := adler32Checksum(p), adler32.Checksum(p); got != want {
				t.Errorf("%d bytes: %08x, want %08x", n, got, want)
			}
		}
	}
}

func FuzzAdler32(f *testing.F) {
	f.Add([]byte("Wikipedia"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if got, want := adler32Checksum(p), adler32.Checksum(p); got != want {
			t.Errorf("%08x, want %08x", got, want)
		}
	})
}

func BenchmarkAdler32(b *testing.B) {
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i * 7)
	}
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			adler32Checksum(page)
		}
	})
	b.Run("hash/adler32", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			adler32.Checksum(page)
		}
	})
}
