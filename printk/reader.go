package printk

import (
	"encoding/binary"
	"fmt"
)

// reader reads kernel memory for the log walks. It keeps a few recently read pages,
// because the walks read small structures (24-byte descriptors, 88-byte infos) one after
// another and each uncached read would translate its address through the page tables.
type reader struct {
	mem   Memory
	pages [cachePages]cachedPage
	next  int // slot to replace next (round robin)
}

const (
	cachePageSize = 4096
	cachePages    = 16
)

type cachedPage struct {
	addr  uint64 // page-aligned virtual address
	valid bool
	data  [cachePageSize]byte
}

// read fills p from vaddr. what names the data in the error.
func (r *reader) read(p []byte, vaddr uint64, what string) error {
	if vaddr+uint64(len(p)) < vaddr {
		return &FormatError{Addr: vaddr, Msg: fmt.Sprintf("%s: %d bytes at 0x%x run past the end of the address space", what, len(p), vaddr)}
	}
	for done := 0; done < len(p); {
		a := vaddr + uint64(done)
		pg, err := r.page(a &^ (cachePageSize - 1))
		if err != nil {
			// A page that does not read whole may still hold the bytes asked for
			// (memory ending mid-page); read them alone for the exact answer.
			if n, err := r.mem.ReadVirt(p[done:], a); n < len(p)-done {
				if err == nil {
					err = fmt.Errorf("short read")
				}
				return &FormatError{Addr: a + uint64(n), Msg: "cannot read " + what, Err: err}
			}
			return nil
		}
		done += copy(p[done:], pg.data[a-pg.addr:])
	}
	return nil
}

func (r *reader) page(addr uint64) (*cachedPage, error) {
	for i := range r.pages {
		if r.pages[i].valid && r.pages[i].addr == addr {
			return &r.pages[i], nil
		}
	}
	pg := &r.pages[r.next]
	r.next = (r.next + 1) % cachePages
	pg.valid = false
	n, err := r.mem.ReadVirt(pg.data[:], addr)
	if n < len(pg.data) {
		if err == nil {
			err = fmt.Errorf("short read")
		}
		return nil, err
	}
	pg.addr, pg.valid = addr, true
	return pg, nil
}

func (r *reader) u64(vaddr uint64, what string) (uint64, error) {
	var b [8]byte
	if err := r.read(b[:], vaddr, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (r *reader) u32(vaddr uint64, what string) (uint32, error) {
	var b [4]byte
	if err := r.read(b[:], vaddr, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// le reads little-endian fields out of a structure read whole.
func le16(b []byte, off uint64) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func le32(b []byte, off uint64) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func le64(b []byte, off uint64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// cString is b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
