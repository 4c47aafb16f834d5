// Package testpage makes 4 KiB pages that look like the memory a kdump collector
// compresses (kernel log text, page tables, struct page arrays, slab objects, machine
// code, mostly-zero pages, random data), so the codec tests and benchmarks measure
// ratio and speed on realistic input rather than on one synthetic pattern. Pages are
// deterministic for a given seed.
package testpage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// Size is the page size the pages are made with.
const Size = 4096

// Kind names a kind of page.
type Kind string

const (
	Text       Kind = "text"        // printk-style log lines
	ZeroHeavy  Kind = "zero-heavy"  // zeros with a few scattered words
	PageTable  Kind = "page-table"  // 512 page table entries, ascending frames
	StructPage Kind = "struct-page" // an array of 64-byte struct page
	Slab       Kind = "slab"        // equal-size objects: pointers, counters, payload
	Code       Kind = "code"        // machine code and data from /bin/bash
	Random     Kind = "random"      // incompressible
)

// Kinds lists every kind, compressible ones first.
var Kinds = []Kind{Text, ZeroHeavy, PageTable, StructPage, Slab, Code, Random}

// Pages returns count pages of the given kind made from seed.
func Pages(kind Kind, count int, seed uint64) ([][]byte, error) {
	r := rand.New(rand.NewPCG(seed, uint64(len(kind))))
	var code []byte
	if kind == Code {
		var err error
		if code, err = codeSource(); err != nil {
			return nil, err
		}
	}
	pages := make([][]byte, count)
	for i := range pages {
		p := make([]byte, Size)
		switch kind {
		case Text:
			fillText(r, p)
		case ZeroHeavy:
			for n := 1 + r.IntN(24); n > 0; n-- {
				binary.LittleEndian.PutUint64(p[8*r.IntN(Size/8):], r.Uint64()>>r.IntN(48))
			}
		case PageTable:
			frame := r.Uint64N(1 << 24)
			for j := 0; j < Size; j += 8 {
				var pte uint64
				if r.IntN(16) != 0 {
					pte = frame<<12 | 0x63 // present, writable, accessed, dirty
					if r.IntN(4) == 0 {
						pte |= 1 << 63 // no-execute
					}
				}
				frame += 1 + uint64(r.IntN(2))
				binary.LittleEndian.PutUint64(p[j:], pte)
			}
		case StructPage:
			pfn := r.Uint64N(1 << 24)
			for j := 0; j < Size; j += 64 {
				self := 0xffffea0000000000 + pfn*64
				binary.LittleEndian.PutUint64(p[j:], 0x17ffffc0000000|uint64(r.IntN(4))<<r.IntN(20))
				binary.LittleEndian.PutUint64(p[j+8:], self+8)  // lru.next (empty list)
				binary.LittleEndian.PutUint64(p[j+16:], self+8) // lru.prev
				if r.IntN(3) == 0 {
					binary.LittleEndian.PutUint64(p[j+24:], 0xffff888100000000+r.Uint64N(1<<30)&^7)
					binary.LittleEndian.PutUint64(p[j+32:], r.Uint64N(1<<20))
				}
				binary.LittleEndian.PutUint32(p[j+52:], uint32(r.IntN(3)))
				pfn++
			}
		case Slab:
			size := 64 << r.IntN(3)
			base := 0xffff888100000000 + r.Uint64N(1<<30)&^0xfff
			for j := 0; j+size <= Size; j += size {
				binary.LittleEndian.PutUint64(p[j:], base+uint64(j+size))
				binary.LittleEndian.PutUint32(p[j+8:], uint32(r.IntN(100)))
				for k := 16; k < size/2; k += 8 {
					binary.LittleEndian.PutUint64(p[j+k:], r.Uint64()&0xffff)
				}
			}
		case Code:
			off := (r.IntN(len(code)/Size) * Size)
			copy(p, code[off:])
		case Random:
			for j := 0; j < Size; j += 8 {
				binary.LittleEndian.PutUint64(p[j:], r.Uint64())
			}
		default:
			return nil, fmt.Errorf("testpage: unknown page kind %q", kind)
		}
		pages[i] = p
	}
	return pages, nil
}

var words = strings.Fields(`usb new high-speed device number using ehci-pci xhci_hcd
	hub port connected ata link up SATA link SATA ext4 EXT4-fs mounted filesystem with
	ordered data mode Quota mode none audit type=1400 apparmor STATUS operation
	profile_load name pid comm systemd Started Reached target network interface eth0
	entered promiscuous mode e1000 NIC Link is Up Mbps Full Duplex Flow Control RX
	kvm-clock clocksource tsc Switched to random crng init done`)

func fillText(r *rand.Rand, p []byte) {
	var b strings.Builder
	t := r.Float64() * 1000
	for b.Len() < len(p) {
		t += r.Float64()
		fmt.Fprintf(&b, "[%12.6f] ", t)
		for n := 3 + r.IntN(9); n > 0; n-- {
			b.WriteString(words[r.IntN(len(words))])
			if r.IntN(6) == 0 {
				fmt.Fprintf(&b, " %d", r.IntN(65536))
			}
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
	}
	copy(p, b.String())
}

// codeSource returns the bytes of /bin/bash (present on every Debian system), or of the
// running executable where there is no bash.
func codeSource() ([]byte, error) {
	b, err := os.ReadFile("/bin/bash")
	if err != nil || len(b) < 16*Size {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("testpage: no machine code to sample: %w", err)
		}
		if b, err = os.ReadFile(exe); err != nil {
			return nil, fmt.Errorf("testpage: %w", err)
		}
	}
	return b, nil
}
