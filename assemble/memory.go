package assemble

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Range says that Size bytes of physical memory starting at Phys are stored at
// offset Off of a memory source.
type Range struct {
	Off, Phys, Size uint64
}

func (r Range) String() string {
	return fmt.Sprintf("physical [%#x, %#x) at offset %#x", r.Phys, r.Phys+r.Size, r.Off)
}

// ParseRange parses "FILEOFF:PHYS:SIZE", each number as in [ParseAddress] (decimal,
// 0x hex, K/M/G suffixes): the form of the --map option.
func ParseRange(s string) (Range, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Range{}, fmt.Errorf("assemble: map %q: want FILEOFF:PHYS:SIZE", s)
	}
	var v [3]uint64
	for i, p := range parts {
		n, err := parseMem(p)
		if err != nil {
			return Range{}, fmt.Errorf("assemble: map %q: %s: %w", s, [3]string{"file offset", "physical address", "size"}[i], err)
		}
		v[i] = n
	}
	return Range{Off: v[0], Phys: v[1], Size: v[2]}, nil
}

// Ranges are ranges given as repeated "FILEOFF:PHYS:SIZE" options: a flag.Value whose
// Set parses one with ParseRange and adds it.
type Ranges []Range

func (l *Ranges) String() string { return fmt.Sprint(*l) }

// Set adds the range s names.
func (l *Ranges) Set(s string) error {
	r, err := ParseRange(s)
	if err != nil {
		return err
	}
	*l = append(*l, r)
	return nil
}

// Memory is physical memory read from a file or device: /dev/mem (the physical
// address is the offset), a raw RAM image holding memory from address 0, or an image
// holding several ranges at given offsets.
type Memory struct {
	name    string
	r       io.ReaderAt
	ranges  []Range // sorted by Phys, not overlapping
	bounded bool    // the ranges are all the source holds (false: /dev/mem, size unknown)
	closer  io.Closer
}

// maxOffset is the largest file offset (plus one) an io.ReaderAt can be asked for.
const maxOffset = math.MaxInt64

// NewMemory returns the physical memory in r, named name in errors. With no ranges,
// r holds physical memory from address 0: size bytes of it, or as much as reads
// succeed when size is negative (a device such as /dev/mem). Otherwise the ranges say
// where each piece of physical memory is in r; they must not overlap physically, and
// when size is not negative they must lie inside r's size bytes.
func NewMemory(r io.ReaderAt, name string, size int64, ranges []Range) (*Memory, error) {
	m := &Memory{name: name, r: r, bounded: size >= 0}
	if len(ranges) == 0 {
		n := uint64(maxOffset)
		if size >= 0 {
			n = uint64(size)
		}
		if n > 0 {
			m.ranges = []Range{{Off: 0, Phys: 0, Size: n}}
		}
		return m, nil
	}
	m.ranges = append([]Range(nil), ranges...)
	sort.Slice(m.ranges, func(i, j int) bool { return m.ranges[i].Phys < m.ranges[j].Phys })
	for i, rg := range m.ranges {
		switch {
		case rg.Size == 0:
			return nil, fmt.Errorf("assemble: %s: map %v is empty", name, rg)
		case rg.Phys+rg.Size < rg.Phys:
			return nil, fmt.Errorf("assemble: %s: map %v: physical range overflows", name, rg)
		case rg.Off+rg.Size < rg.Off || rg.Off+rg.Size > maxOffset:
			return nil, fmt.Errorf("assemble: %s: map %v: file range overflows", name, rg)
		case size >= 0 && rg.Off+rg.Size > uint64(size):
			return nil, fmt.Errorf("assemble: %s: map %v ends beyond the end of the file (%#x bytes)", name, rg, size)
		case i > 0 && rg.Phys < m.ranges[i-1].Phys+m.ranges[i-1].Size:
			return nil, fmt.Errorf("assemble: %s: map %v overlaps map %v", name, rg, m.ranges[i-1])
		}
	}
	return m, nil
}

// OpenMemory opens a memory source: a regular file (its size bounds it) or a device
// such as /dev/mem (read until reads fail). ranges are as for [NewMemory].
func OpenMemory(path string, ranges []Range) (*Memory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := int64(-1)
	if st.Mode().IsRegular() {
		size = st.Size()
	}
	m, err := NewMemory(f, path, size, ranges)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.closer = f
	return m, nil
}

// Name is the source's name as given to NewMemory or OpenMemory.
func (m *Memory) Name() string { return m.name }

// Close closes the file OpenMemory opened; for a Memory from NewMemory it does nothing.
func (m *Memory) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer.Close()
	m.closer = nil
	return err
}

// ErrMissing is matched (errors.Is) by every *MissingError.
var ErrMissing = errors.New("assemble: physical memory not in the memory source")

// MissingError reports physical memory a source does not hold.
type MissingError struct {
	Source     string
	Start, End uint64 // the missing range [Start, End)
	What       string // what was to be read there ("ELF header", "PT_LOAD 3", ...)
	Holds      string // what the source does hold, for the message
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("assemble: %s: no physical memory at [%#x, %#x) for the %s (the source holds %s)",
		e.Source, e.Start, e.End, e.What, e.Holds)
}

// Is makes errors.Is(err, ErrMissing) true for a *MissingError.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }

// holds describes the ranges for error messages (the first few).
func (m *Memory) holds() string {
	if len(m.ranges) == 0 {
		return "nothing"
	}
	if !m.bounded && len(m.ranges) == 1 && m.ranges[0].Phys == 0 {
		return "whatever can be read"
	}
	var parts []string
	for i, r := range m.ranges {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more ranges", len(m.ranges)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("[%#x, %#x)", r.Phys, r.Phys+r.Size))
	}
	return strings.Join(parts, ", ")
}

// find returns the index of the range holding phys, or -1.
func (m *Memory) find(phys uint64) int {
	i := sort.Search(len(m.ranges), func(i int) bool { return m.ranges[i].Phys+m.ranges[i].Size > phys })
	if i < len(m.ranges) && m.ranges[i].Phys <= phys {
		return i
	}
	return -1
}

// Check reports whether the source holds all of [phys, phys+size): nil, or a
// *MissingError naming the first missing part. For an unbounded source (a device)
// only reading tells.
func (m *Memory) Check(phys, size uint64, what string) error {
	for size > 0 {
		i := m.find(phys)
		if i < 0 {
			end := phys + size
			if end < phys {
				end = math.MaxUint64
			}
			// Name the whole gap up to the next range the source holds.
			if j := sort.Search(len(m.ranges), func(j int) bool { return m.ranges[j].Phys > phys }); j < len(m.ranges) {
				end = min(end, m.ranges[j].Phys)
			}
			return &MissingError{Source: m.name, Start: phys, End: end, What: what, Holds: m.holds()}
		}
		r := m.ranges[i]
		n := min(size, r.Phys+r.Size-phys)
		phys += n
		size -= n
	}
	return nil
}

// ReadPhys fills p with the physical memory at phys, in reads of at most readWindow
// bytes. what names the data in errors.
func (m *Memory) ReadPhys(p []byte, phys uint64, what string) error {
	if err := m.Check(phys, uint64(len(p)), what); err != nil {
		return err
	}
	for len(p) > 0 {
		r := m.ranges[m.find(phys)]
		n := min(uint64(len(p)), r.Phys+r.Size-phys, readWindow)
		off := r.Off + (phys - r.Phys)
		k, err := m.r.ReadAt(p[:n], int64(off))
		if uint64(k) == n {
			err = nil // a full read that also reports io.EOF
		}
		if err != nil {
			if err == io.EOF {
				if !m.bounded {
					return &MissingError{Source: m.name, Start: phys + uint64(k), End: phys + n, What: what, Holds: "memory up to the end of what can be read"}
				}
				err = io.ErrUnexpectedEOF
			}
			return &ReadError{Source: m.name, What: what, Phys: phys + uint64(k), Off: off + uint64(k), Size: n - uint64(k), Err: err}
		}
		p = p[n:]
		phys += n
	}
	return nil
}

// ReadError reports a read of the memory source that failed.
type ReadError struct {
	Source    string
	What      string // what was to be read
	Phys, Off uint64 // physical address and source offset of the first byte not read
	Size      uint64 // bytes not read
	Err       error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("assemble: %s: reading the %s at physical %#x (offset %#x, %#x bytes): %v",
		e.Source, e.What, e.Phys, e.Off, e.Size, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// readWindow bounds each read of the source (the original mapped /dev/mem in 64 MiB
// windows; a read needs a buffer, so the windows here are smaller).
const readWindow = 1 << 20
