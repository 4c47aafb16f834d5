package vmcore_test

import (
	"bytes"
	"debug/elf"
	"io"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

const kdPage = 4096

var errENOSPC = syscall.ENOSPC

// kdumpSource is a synthetic crashed machine with some pages of text,
// random bytes and zeros, and what a collector learns from its ELF vmcore.
type kdumpSource struct {
	crash    *synth.Crash
	elf      *vmcore.File
	ram      []byte // the memory the kdump files are made from
	notes    []byte // the ELF's PT_NOTE data
	infoOff  uint64 // VMCOREINFO descriptor inside notes
	infoSize uint64
	uts      vmcore.UTSName
}

var (
	sourceOnce sync.Once
	sourceVal  *kdumpSource
	sourceErr  error
)

// kdumpTestSource returns the shared source; tests must not change it.
func kdumpTestSource(t testing.TB) *kdumpSource {
	t.Helper()
	sourceOnce.Do(func() { sourceVal, sourceErr = newKdumpSource() })
	if sourceErr != nil {
		t.Fatal(sourceErr)
	}
	return sourceVal
}

func newKdumpSource() (*kdumpSource, error) {
	c, err := synth.New(synth.Default())
	if err != nil {
		return nil, err
	}
	f, err := vmcore.NewFile(bytes.NewReader(c.Image), int64(len(c.Image)), "synth.vmcore")
	if err != nil {
		return nil, err
	}
	k, err := kernel.Open(f)
	if err != nil {
		return nil, err
	}
	uts, err := k.UTSName()
	if err != nil {
		return nil, err
	}
	ef, err := elf.NewFile(bytes.NewReader(c.Image))
	if err != nil {
		return nil, err
	}
	s := &kdumpSource{crash: c, elf: f, uts: uts, ram: bytes.Clone(c.RAM)}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE {
			if s.notes, err = io.ReadAll(p.Open()); err != nil {
				return nil, err
			}
			for _, n := range f.Notes {
				if n.Name == vmcore.NoteNameVMCOREINFO {
					s.infoOff, s.infoSize = uint64(n.DescOffset)-p.Off, uint64(len(n.Desc))
				}
			}
		}
	}
	// Page contents below the kernel image (which holds the page tables):
	// text that compresses, random bytes that do not, and zeros.
	rng := rand.New(rand.NewPCG(1, 2))
	for pfn := 0x100; pfn < 0x900; pfn++ {
		page := s.ram[pfn*kdPage : (pfn+1)*kdPage]
		switch pfn % 4 {
		case 0, 1:
			for i := range page {
				page[i] = "gokdump writes kdump-compressed files. "[(i+pfn)%39]
			}
		case 2:
			for i := range page {
				page[i] = byte(rng.Uint32())
			}
		}
	}
	return s, nil
}

func (s *kdumpSource) maxMapnr() uint64 { return uint64(len(s.ram)) / kdPage }

func (s *kdumpSource) page(pfn uint64) []byte { return s.ram[pfn*kdPage : (pfn+1)*kdPage] }

// kdumpSpec says how to write a kdump file from the source.
type kdumpSpec struct {
	codec     compress.Codec
	dumpLevel int
	hole      [2]uint64             // pfns [hole[0], hole[1]) are not memory
	exclude   func(pfn uint64) bool // pages left out by "filtering"
	window    uint64                // pfns per bitmap window
	stopAfter int                   // > 0: MarkIncomplete after this many pages
	split     [2]uint64             // when non-zero: write the part of a split dump with pfns [split[0], split[1])
}

func (sp kdumpSpec) inPart(pfn uint64) bool {
	return sp.split == [2]uint64{} || (pfn >= sp.split[0] && pfn < sp.split[1])
}

func defaultSpec(codec compress.Codec) kdumpSpec {
	return kdumpSpec{codec: codec, dumpLevel: 1, hole: [2]uint64{0x2000, 0x2100},
		exclude: func(pfn uint64) bool { return pfn%11 == 5 && pfn < 0x1000 }, window: 4096}
}

func (sp kdumpSpec) exists(s *kdumpSource, pfn uint64) bool {
	return pfn < s.maxMapnr() && (pfn < sp.hole[0] || pfn >= sp.hole[1])
}

func (sp kdumpSpec) dumped(s *kdumpSource, pfn uint64) bool {
	return sp.exists(s, pfn) && (sp.exclude == nil || !sp.exclude(pfn))
}

func (s *kdumpSource) header(sp kdumpSpec) *dumpfile.KdumpHeader {
	return &dumpfile.KdumpHeader{
		UTSName:          kdump.UTSName(s.uts),
		CrashTime:        time.Unix(s.crash.CrashTime, 0),
		PageSize:         kdPage,
		PhysBase:         s.crash.Kernel.PhysBase,
		DumpLevel:        sp.dumpLevel,
		Notes:            s.notes,
		VMCOREINFOOffset: s.infoOff,
		VMCOREINFOSize:   s.infoSize,
		MaxMapnr:         s.maxMapnr(),
		NrCPUs:           s.crash.CPUs,
		Codec:            sp.codec,
	}
}

// write drives w as the collector does: a counting pass, then per window
// the bitmaps and the window's pages. It returns the first error and the
// number of pages handed to the writer.
func (s *kdumpSource) write(t testing.TB, w *dumpfile.KdumpWriter, sp kdumpSpec) (int, error) {
	t.Helper()
	var total uint64
	for pfn := range s.maxMapnr() {
		if sp.dumped(s, pfn) && sp.inPart(pfn) {
			total++
		}
	}
	h := s.header(sp)
	if sp.split != [2]uint64{} {
		h.Split = &dumpfile.KdumpSplit{StartPFN: sp.split[0], EndPFN: sp.split[1]}
	}
	if err := w.Begin(h, total); err != nil {
		return 0, err
	}
	pc, err := compress.NewPageCompressor(sp.codec)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	pages := 0
	zeros := make([]byte, kdPage)
	bitmap := func(start, end uint64, set func(*kdumpSource, uint64) bool) []byte {
		b := make([]byte, (end-start+7)/8)
		for pfn := start; pfn < end; pfn++ {
			if set(s, pfn) {
				b[(pfn-start)/8] |= 1 << ((pfn - start) % 8)
			}
		}
		return b
	}
	// The 1st bitmap first, then window by window the 2nd and the pages,
	// as makedumpfile does.
	for start := uint64(0); start < s.maxMapnr(); start += sp.window {
		end := min(start+sp.window, s.maxMapnr())
		if err := w.WriteBitmaps(start, bitmap(start, end, sp.exists), nil); err != nil {
			return pages, err
		}
	}
	for start := uint64(0); start < s.maxMapnr(); start += sp.window {
		end := min(start+sp.window, s.maxMapnr())
		if err := w.WriteBitmaps(start, nil, bitmap(start, end, sp.dumped)); err != nil {
			return pages, err
		}
		for pfn := start; pfn < end; pfn++ {
			if !sp.dumped(s, pfn) || !sp.inPart(pfn) {
				continue
			}
			if sp.stopAfter > 0 && pages == sp.stopAfter {
				return pages, nil
			}
			page := s.page(pfn)
			if sp.dumpLevel&1 != 0 && bytes.Equal(page, zeros) {
				err = w.WriteZeroPage(pfn)
			} else {
				var flags uint32
				buf, flags, err = pc.CompressPage(buf[:0], page)
				if err != nil {
					t.Fatal(err)
				}
				err = w.WritePage(pfn, buf, flags)
			}
			if err != nil {
				return pages, err
			}
			pages++
		}
	}
	return pages, w.Finish()
}

// memFile is an io.WriterAt in memory that, with a limit, fails writes
// past it with ENOSPC after writing what fits, like a full disk.
type memFile struct {
	b     []byte
	limit int64 // 0: none
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	n := len(p)
	var err error
	if m.limit > 0 && off+int64(n) > m.limit {
		n = int(max(0, m.limit-off))
		err = syscall.ENOSPC
	}
	if end := off + int64(n); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[off:], p[:n])
	return n, err
}

// writeKdump writes the source as spec says to a memory file and returns
// its bytes.
func writeKdump(t testing.TB, sp kdumpSpec) []byte {
	t.Helper()
	s := kdumpTestSource(t)
	var m memFile
	w := dumpfile.NewKdumpWriter(&m)
	if _, err := s.write(t, w, sp); err != nil {
		t.Fatal(err)
	}
	if sp.stopAfter > 0 {
		if err := w.MarkIncomplete(); err != nil {
			t.Fatal(err)
		}
	}
	return m.b
}

// writeFlattened writes the source as a flattened stream.
func writeFlattened(t testing.TB, sp kdumpSpec) []byte {
	t.Helper()
	s := kdumpTestSource(t)
	var b bytes.Buffer
	w := dumpfile.NewFlattenedKdumpWriter(&b)
	if _, err := s.write(t, w, sp); err != nil {
		t.Fatal(err)
	}
	if sp.stopAfter > 0 {
		if err := w.MarkIncomplete(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}
