package assemble

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/gokdump/gokdump/dumpfile"
)

// Core is an ELF vmcore assembled from physical memory: the ELF header and program
// headers dumpfile.ELFWriter writes (one PT_NOTE, then the PT_LOADs at page-aligned
// offsets, each with p_filesz = p_memsz), the merged notes, and each PT_LOAD's memory,
// read from the source only when asked for.
type Core struct {
	Header *Header
	Notes  []byte // the merged notes, as written in the PT_NOTE

	mem    *Memory
	writer dumpfile.ELFWriter // Data readers unset; WriteTo sets its own
	layout dumpfile.ELFLayout
	prefix []byte // file bytes [0, len(prefix)): headers, notes and padding
}

// New reads the ELF core header at physical address addr and the notes it points to,
// checks that mem holds every PT_LOAD's memory (for a source of known size) and
// returns the vmcore they make.
func New(mem *Memory, addr uint64) (*Core, error) {
	h, err := ReadHeader(mem, addr)
	if err != nil {
		return nil, err
	}
	notes, err := h.ReadNotes(mem)
	if err != nil {
		return nil, err
	}
	c := &Core{Header: h, Notes: notes, mem: mem}
	c.writer = dumpfile.ELFWriter{Notes: notes, NoteAlign: 4}
	for _, l := range h.Loads {
		if err := mem.Check(l.At, l.Size, fmt.Sprintf("PT_LOAD %d (p_paddr %#x)", l.Index, l.Phys)); err != nil {
			return nil, err
		}
		c.writer.Loads = append(c.writer.Loads, dumpfile.ELFLoad{
			Phys: l.Phys, Virt: l.Virt, FileSize: l.Size, MemSize: l.Size,
			Data: zeroReader{}, // only for prefix below; WriteTo reads memory
		})
	}
	if c.layout, err = c.writer.Layout(); err != nil {
		return nil, fmt.Errorf("assemble: %s: laying out the vmcore: %w", mem.name, err)
	}
	if c.prefix, err = c.headerBytes(); err != nil {
		return nil, err
	}
	return c, nil
}

// Size is the size of the vmcore file in bytes.
func (c *Core) Size() int64 { return int64(c.layout.Size) }

// Layout says where the notes and each PT_LOAD's data are in the file.
func (c *Core) Layout() dumpfile.ELFLayout { return c.layout }

// errPrefixDone stops the writer once the headers and notes are captured.
var errPrefixDone = errors.New("prefix captured")

// headerBytes returns what ELFWriter writes before the first PT_LOAD's data (or the
// whole file when there is none): the program headers come from the writer itself, so
// ReadAt and WriteTo give the same bytes by construction.
func (c *Core) headerBytes() ([]byte, error) {
	n := c.layout.Size
	if len(c.layout.LoadOffsets) > 0 {
		n = c.layout.LoadOffsets[0]
	}
	capture := &prefixWriter{want: int(n)}
	if _, err := c.writer.WriteTo(capture); err != nil && !errors.Is(err, errPrefixDone) {
		return nil, fmt.Errorf("assemble: writing the vmcore's headers: %w", err)
	}
	if len(capture.buf) != int(n) {
		return nil, fmt.Errorf("assemble: the vmcore's headers are %d bytes, want %d", len(capture.buf), n)
	}
	return capture.buf, nil
}

// prefixWriter keeps the first want bytes written to it, then refuses more.
type prefixWriter struct {
	buf  []byte
	want int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	k := min(len(p), w.want-len(w.buf))
	w.buf = append(w.buf, p[:k]...)
	if len(w.buf) == w.want {
		return k, errPrefixDone
	}
	return k, nil
}

// zeroReader stands in for memory while the headers are captured.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ReadAt reads the vmcore file at off, reading the memory source for PT_LOAD data;
// it implements io.ReaderAt, so vmcore.NewFile (and the collector) can read a Core
// as they read /proc/vmcore.
func (c *Core) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("assemble: negative offset %d", off)
	}
	size := c.layout.Size
	if uint64(off) >= size {
		return 0, io.EOF
	}
	want := len(p)
	p = p[:min(uint64(len(p)), size-uint64(off))]
	done := 0
	for done < len(p) {
		pos := uint64(off) + uint64(done)
		q := p[done:]
		var n uint64
		if pos < uint64(len(c.prefix)) {
			n = uint64(copy(q, c.prefix[pos:]))
		} else if i := c.loadAt(pos); i >= 0 {
			start := c.layout.LoadOffsets[i]
			l := c.Header.Loads[i]
			n = min(uint64(len(q)), start+l.Size-pos)
			if err := c.mem.ReadPhys(q[:n], l.At+(pos-start), fmt.Sprintf("PT_LOAD %d (p_paddr %#x)", l.Index, l.Phys)); err != nil {
				return done, err
			}
		} else {
			// Padding up to the next load's page-aligned offset, or to the end.
			next := size
			if j := c.nextLoad(pos); j >= 0 {
				next = c.layout.LoadOffsets[j]
			}
			n = min(uint64(len(q)), next-pos)
			clear(q[:n])
		}
		done += int(n)
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}

// loadAt returns the index of the load whose data holds file offset pos, or -1.
func (c *Core) loadAt(pos uint64) int {
	offs := c.layout.LoadOffsets
	i := sort.Search(len(offs), func(i int) bool { return offs[i] > pos }) - 1
	if i >= 0 && pos < offs[i]+c.Header.Loads[i].Size {
		return i
	}
	return -1
}

// nextLoad returns the index of the first load with data after pos, or -1.
func (c *Core) nextLoad(pos uint64) int {
	offs := c.layout.LoadOffsets
	for i := sort.Search(len(offs), func(i int) bool { return offs[i] > pos }); i < len(offs); i++ {
		if c.Header.Loads[i].Size > 0 {
			return i
		}
	}
	return -1
}

// WriteTo streams the vmcore to w with dumpfile.ELFWriter, reading each PT_LOAD's
// memory in bounded windows. It returns the bytes written.
func (c *Core) WriteTo(w io.Writer) (int64, error) {
	ew := c.writer
	ew.Loads = append([]dumpfile.ELFLoad(nil), c.writer.Loads...)
	for i, l := range c.Header.Loads {
		ew.Loads[i].Data = &memoryReader{mem: c.mem, at: l.At, left: l.Size,
			what: fmt.Sprintf("PT_LOAD %d (p_paddr %#x)", l.Index, l.Phys)}
	}
	return ew.WriteTo(w)
}

// MarkIncomplete marks a vmcore that WriteTo could not finish as incomplete (e_flags),
// for an output that can be written at an offset (a file).
func (c *Core) MarkIncomplete(dst io.WriterAt) error { return c.writer.MarkIncomplete(dst) }

// memoryReader reads left bytes of physical memory from at, a window at a time.
type memoryReader struct {
	mem      *Memory
	at, left uint64
	what     string
}

func (r *memoryReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(uint64(len(p)), r.left, readWindow)
	if err := r.mem.ReadPhys(p[:n], r.at, r.what); err != nil {
		return 0, err
	}
	r.at += n
	r.left -= n
	return int(n), nil
}
