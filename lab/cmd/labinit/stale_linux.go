package main

import (
	"fmt"
	"math/rand/v2"

	"golang.org/x/sys/unix"
)

// staleWords are the vocabulary of the text-like stale pages: enough distinct words
// that a page compresses as prose does (about 2.5-3x with zlib), not as a pattern.
var staleWords = []string{
	"the", "kernel", "memory", "page", "of", "and", "a", "to", "in", "is", "dump",
	"crash", "capture", "process", "file", "system", "buffer", "cache", "user",
	"free", "with", "for", "that", "on", "are", "this", "be", "by", "from", "data",
	"write", "read", "disk", "block", "device", "driver", "network", "packet",
	"request", "response", "server", "client", "error", "value", "table", "index",
	"record", "field", "string", "number", "thread", "lock", "queue", "timer",
	"interrupt", "schedule", "allocate", "release", "mapping", "address", "virtual",
	"physical", "section", "zone", "node", "offset", "length", "header", "format",
	"compressed", "bitmap", "descriptor", "version", "release", "symbol", "module",
	"\n", "\n", ".", ",", "0x1f", "2048", "42", "http", "log", "warning", "info",
}

// staleFill fills mib MiB of anonymous memory and frees it again (munmap), so that
// as many free pages as the kernel does not reuse at once hold stale data: even pages
// text-like (words from staleWords), odd pages random bytes, which compress no better
// than data that is already compressed. The kernel does not clear pages when they are
// freed (init_on_free is off by default), so the crash dump finds them as they were.
func (g *labGuest) staleFill(mib int) error {
	if mib <= 0 {
		return nil
	}
	const page = 4096
	n := mib << 20
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	// A pool of text to copy pages from at pseudo-random offsets: generating every
	// page word by word is slow under TCG.
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([]byte, 0, 1<<20+64)
	for len(pool) < 1<<20 {
		w := staleWords[rng.IntN(len(staleWords))]
		pool = append(pool, w...)
		if w != "\n" {
			pool = append(pool, ' ')
		}
	}
	random := rand.NewChaCha8([32]byte{'g', 'o', 'k', 'd', 'u', 'm', 'p'})
	for i := 0; i < n/page; i++ {
		p := m[i*page : (i+1)*page]
		if i%2 == 0 {
			off := rng.IntN(len(pool) - page)
			copy(p, pool[off:off+page])
		} else {
			_, _ = random.Read(p)
		}
	}
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	g.say("workload stale-mib=%d (filled and freed)", mib)
	return nil
}
