package kallsyms

import "fmt"

// chunkSize is how much of a table one read brings in: the tables are hundreds of KiB
// and each read of the dump translates its address through the page tables.
const chunkSize = 64 << 10

// reader reads kernel memory with errors that say what was being read.
type reader struct {
	mem Memory
}

// read fills p from vaddr, or fails.
func (r *reader) read(p []byte, vaddr uint64, what string) error {
	n, err := r.readUpTo(p, vaddr)
	if n < len(p) {
		if err == nil {
			err = fmt.Errorf("short read")
		}
		msg := fmt.Sprintf("cannot read %s", what)
		if n > 0 {
			msg += fmt.Sprintf(" (%d bytes from 0x%x)", len(p), vaddr)
		}
		return &FormatError{Addr: vaddr + uint64(n), Msg: msg, Err: err}
	}
	return nil
}

// readUpTo reads as much of p as the memory holds from vaddr on.
func (r *reader) readUpTo(p []byte, vaddr uint64) (int, error) {
	if vaddr+uint64(len(p)) < vaddr {
		return 0, fmt.Errorf("%d bytes at 0x%x run past the end of the address space", len(p), vaddr)
	}
	n, err := r.mem.ReadVirt(p, vaddr)
	if n < 0 || n > len(p) {
		return 0, fmt.Errorf("memory reader returned %d for %d bytes", n, len(p))
	}
	if n == len(p) {
		return n, nil
	}
	// A read that crosses into a missing page may still give the bytes before it
	// when asked for less; read page by page to find the exact end.
	done := n
	for done < len(p) {
		a := vaddr + uint64(done)
		step := min(len(p)-done, int(4096-a%4096))
		m, err2 := r.mem.ReadVirt(p[done:done+step], a)
		if m > 0 && m <= step {
			done += m
		}
		if m < step {
			if err2 == nil {
				err2 = err
			}
			return done, err2
		}
	}
	return done, nil
}

// stream reads a table byte by byte, in chunks.
type stream struct {
	r    *reader
	addr uint64 // address of the next byte
	what string
	buf  []byte
	pos  int
}

func (s *stream) byte() (byte, error) {
	if s.pos == len(s.buf) {
		if s.buf == nil {
			s.buf = make([]byte, chunkSize)
		}
		s.buf = s.buf[:cap(s.buf)]
		n, err := s.r.readUpTo(s.buf, s.addr)
		if n == 0 {
			if err == nil {
				err = fmt.Errorf("short read")
			}
			return 0, &FormatError{Addr: s.addr, Msg: "cannot read " + s.what, Err: err}
		}
		s.buf, s.pos = s.buf[:n], 0
	}
	b := s.buf[s.pos]
	s.pos++
	s.addr++
	return b, nil
}
