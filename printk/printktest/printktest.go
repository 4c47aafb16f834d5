// Package printktest builds kernel logs in memory for tests of package printk and of the
// commands that print logs: each builder writes records the way the kernel does (the
// lockless ring of 5.10+ with the structure layouts of 6.1, the variable-length records
// of 3.5-5.9, the character ring of older kernels), including wrapping and the freeing of
// old records, and gives the bytes to place at a virtual address plus the VMCOREINFO
// lines that kernel would have exported for them.
package printktest

import (
	"encoding/binary"
	"fmt"
)

// Message is one printk call.
type Message struct {
	Text        string
	TimestampNs uint64
	CallerID    uint32 // PID, or 0x80000000|cpu
	Level       uint8  // 0-7
	Facility    uint8
	Subsystem   string // dev_printk dictionary; "" for none
	Device      string
}

// Memory is kernel virtual memory made of byte slices at addresses; it implements
// printk.Memory. Reading outside every region is an error, as for memory a dump lacks.
type Memory struct {
	regions []region
}

type region struct {
	addr uint64
	data []byte
}

// Add places data (not copied) at virtual address addr.
func (m *Memory) Add(addr uint64, data []byte) {
	m.regions = append(m.regions, region{addr, data})
}

// ReadVirt reads len(p) bytes at vaddr, across adjacent regions.
func (m *Memory) ReadVirt(p []byte, vaddr uint64) (int, error) {
	done := 0
	for done < len(p) {
		a := vaddr + uint64(done)
		n := 0
		for _, r := range m.regions {
			if a >= r.addr && a-r.addr < uint64(len(r.data)) {
				n = copy(p[done:], r.data[a-r.addr:])
				break
			}
		}
		if n == 0 {
			return done, fmt.Errorf("printktest: no memory at 0x%x", a)
		}
		done += n
	}
	return done, nil
}

var le = binary.LittleEndian

func align(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }
