package vmcore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

// checkKdumpPages reads every pfn of f and compares it with the source:
// dumped pages equal, excluded ones a PageError with ErrExcluded, holes a
// HoleError. missing, when not nil, says which dumped pages may be missing
// (an incomplete dump); it returns the number of pages read and missing.
func checkKdumpPages(t *testing.T, f *vmcore.File, sp kdumpSpec, missing func(pfn uint64) bool) (read, miss int) {
	t.Helper()
	s := kdumpTestSource(t)
	buf := make([]byte, kdPage)
	errs := 0
	for pfn := range s.maxMapnr() + 2 {
		n, err := f.ReadPhys(buf, pfn*kdPage)
		switch {
		case !sp.exists(s, pfn):
			var he *vmcore.HoleError
			if !errors.As(err, &he) || he.Addr != pfn*kdPage || n != 0 {
				t.Errorf("pfn 0x%x (a hole): %d, %v; want a HoleError", pfn, n, err)
				errs++
			}
		case missing != nil && sp.dumped(s, pfn) && missing(pfn) && errors.Is(err, vmcore.ErrExcluded):
			miss++ // its window's 2nd bitmap was never written
		case !sp.dumped(s, pfn):
			var pe *vmcore.PageError
			if !errors.As(err, &pe) || !errors.Is(err, vmcore.ErrExcluded) || !errors.Is(err, vmcore.ErrHole) || pe.PFN != pfn {
				t.Errorf("pfn 0x%x (excluded): %v; want a PageError for ErrExcluded", pfn, err)
				errs++
			}
		case missing != nil && missing(pfn) && err != nil:
			if !errors.Is(err, vmcore.ErrMissing) || !errors.Is(err, vmcore.ErrHole) {
				t.Errorf("pfn 0x%x (missing): %v; want ErrMissing", pfn, err)
				errs++
			}
			miss++
		case err != nil:
			t.Errorf("pfn 0x%x: %v", pfn, err)
			errs++
		case !bytes.Equal(buf, s.page(pfn)):
			t.Errorf("pfn 0x%x differs from the source", pfn)
			errs++
		default:
			read++
		}
		if errs > 10 {
			t.Fatal("too many errors")
		}
	}
	return read, miss
}

// checkKdumpHeaders compares what f says about the dump with the source.
func checkKdumpHeaders(t *testing.T, f *vmcore.File, sp kdumpSpec) {
	t.Helper()
	s := kdumpTestSource(t)
	if f.Format != vmcore.FormatKdump || f.Kdump == nil {
		t.Fatalf("format %q, Kdump %v", f.Format, f.Kdump)
	}
	k := f.Kdump
	if k.UTSName != s.uts {
		t.Errorf("utsname %+v, want %+v", k.UTSName, s.uts)
	}
	if k.Timestamp.Unix() != s.crash.CrashTime || k.Codec != sp.codec || k.DumpLevel() != sp.dumpLevel ||
		k.PhysBase() != s.crash.Kernel.PhysBase || k.MaxMapnr != s.maxMapnr() || k.PageSize != kdPage ||
		k.Header.NrCPUs != int32(s.crash.CPUs) || k.Header.HeaderVersion != 6 {
		t.Errorf("headers %+v %+v, timestamp %v", k.Header, k.SubHeader, k.Timestamp)
	}
	if _, _, split := k.Split(); split {
		t.Error("not a split dump, Split says it is")
	}
	if len(f.Notes) != len(s.elf.Notes) {
		t.Fatalf("%d notes, want %d", len(f.Notes), len(s.elf.Notes))
	}
	for i, n := range f.Notes {
		e := s.elf.Notes[i]
		if n.Name != e.Name || n.Type != e.Type || !bytes.Equal(n.Desc, e.Desc) {
			t.Errorf("note %d = %q/%d, want %q/%d", i, n.Name, n.Type, e.Name, e.Type)
		}
	}
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.elf.VMCOREINFO()
	if !bytes.Equal(info.Raw(), want.Raw()) {
		t.Error("VMCOREINFO differs")
	}
	if uint64(f.Notes[len(f.Notes)-1].DescOffset) != f.Kdump.SubHeader.OffsetVMCOREINFO {
		t.Errorf("sub header offset_vmcoreinfo 0x%x, the note's text is at 0x%x", f.Kdump.SubHeader.OffsetVMCOREINFO, f.Notes[len(f.Notes)-1].DescOffset)
	}
	prs, err := f.PRStatus()
	if err != nil {
		t.Fatal(err)
	}
	wantPRs, _ := s.elf.PRStatus()
	if !reflect.DeepEqual(prs, wantPRs) || len(prs) != s.crash.CPUs {
		t.Errorf("PRStatus %+v, want %+v", prs, wantPRs)
	}
	// Loads: the runs of the 1st bitmap.
	wantLoads := []vmcore.Segment{
		{Phys: 0, FileSize: sp.hole[0] * kdPage, MemSize: sp.hole[0] * kdPage},
		{Phys: sp.hole[1] * kdPage, FileSize: (s.maxMapnr() - sp.hole[1]) * kdPage, MemSize: (s.maxMapnr() - sp.hole[1]) * kdPage},
	}
	if !reflect.DeepEqual(f.Loads, wantLoads) {
		t.Errorf("loads %+v, want %+v", f.Loads, wantLoads)
	}
}

func TestKdumpRoundTrip(t *testing.T) {
	s := kdumpTestSource(t)
	for _, codec := range []compress.Codec{compress.None, compress.Zlib, compress.LZO, compress.Snappy, compress.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			sp := defaultSpec(codec)
			b := writeKdump(t, sp)
			f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), "rt.kdump")
			if err != nil {
				t.Fatal(err)
			}
			checkKdumpHeaders(t, f, sp)
			if f.Incomplete() || f.Flattened {
				t.Errorf("Incomplete %v, Flattened %v", f.Incomplete(), f.Flattened)
			}
			read, _ := checkKdumpPages(t, f, sp, nil)
			var dumped uint64
			for pfn := range s.maxMapnr() {
				if sp.dumped(s, pfn) {
					dumped++
				}
			}
			if n, err := f.DumpedPages(); err != nil || n != dumped || uint64(read) != dumped {
				t.Errorf("DumpedPages %d, %v; read %d; want %d", n, err, read, dumped)
			}
			// The zero pages share one page of data: the file holds the
			// non-zero pages (compressed or not) and one zero page.
			if codec != compress.None && len(b) > 3<<20 {
				t.Errorf("%v dump is %d bytes: not compressed", codec, len(b))
			}
			if codec == compress.None {
				nonzero := 0
				for pfn := range s.maxMapnr() {
					if sp.dumped(s, pfn) && !bytes.Equal(s.page(pfn), make([]byte, kdPage)) {
						nonzero++
					}
				}
				l := kdumpLayout(t, f)
				if want := l.dataEnd + int64(nonzero+1)*kdPage; int64(len(b)) != want {
					t.Errorf("file is %d bytes, want %d (one shared zero page)", len(b), want)
				}
			}
			// Reads across pages, into excluded ones, and the kernel's
			// address space through the page tables.
			big := make([]byte, 3*kdPage+100)
			if n, err := f.ReadPhys(big, 0x106*kdPage+50); err != nil || !bytes.Equal(big, s.ram[0x106*kdPage+50:][:len(big)]) {
				t.Errorf("ReadPhys across pages: %d, %v", n, err)
			}
			if n, err := f.ReadPhys(big, 0x10c*kdPage); !errors.Is(err, vmcore.ErrExcluded) || n != kdPage || !bytes.Equal(big[:n], s.page(0x10c)) {
				t.Errorf("ReadPhys up to excluded pfn 0x10d: %d, %v", n, err)
			}
			k, err := kernel.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			uts, err := k.UTSName()
			if err != nil || uts != s.uts {
				t.Errorf("UTSName through the page tables: %+v, %v", uts, err)
			}
		})
	}
}

type layout struct{ desc, dataStart, dataEnd int64 }

// kdumpLayout computes where the descriptors and data are from f's headers.
func kdumpLayout(t *testing.T, f *vmcore.File) layout {
	n, err := f.DumpedPages()
	if err != nil {
		t.Fatal(err)
	}
	d := f.Kdump.Descriptors
	return layout{d, d + int64(n)*kdump.PageDescSize, d + int64(n)*kdump.PageDescSize}
}

func TestKdumpFlattened(t *testing.T) {
	sp := defaultSpec(compress.Zlib)
	direct := writeKdump(t, sp)
	flat := writeFlattened(t, sp)
	var m memFile
	if err := dumpfile.Rearrange(&m, bytes.NewReader(flat)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.b, direct) {
		t.Fatalf("rearranged flattened file (%d bytes) differs from the direct write (%d bytes)", len(m.b), len(direct))
	}
	f, err := vmcore.NewFile(bytes.NewReader(flat), int64(len(flat)), "flat.kdump")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Flattened || f.Size != int64(len(direct)) || f.Incomplete() {
		t.Errorf("Flattened %v, Size %d (want %d), Incomplete %v", f.Flattened, f.Size, len(direct), f.Incomplete())
	}
	checkKdumpHeaders(t, f, sp)
	checkKdumpPages(t, f, sp, nil)

	// The same file as records in random order, some overlapping and some
	// written first with junk that a later record overwrites.
	shuffled := shuffleFlat(direct, 7)
	m = memFile{}
	if err := dumpfile.Rearrange(&m, bytes.NewReader(shuffled)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.b, direct) {
		t.Fatal("rearranged shuffled stream differs")
	}
	f, err = vmcore.NewFile(bytes.NewReader(shuffled), int64(len(shuffled)), "shuffled.flat")
	if err != nil {
		t.Fatal(err)
	}
	checkKdumpHeaders(t, f, sp)
	checkKdumpPages(t, f, sp, nil)

	// An ELF vmcore flattened reads as ELF.
	s := kdumpTestSource(t)
	ef := shuffleFlat(s.crash.Image, 3)
	f, err = vmcore.NewFile(bytes.NewReader(ef), int64(len(ef)), "elf.flat")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, kdPage)
	if f.Format != vmcore.FormatELF || !f.Flattened || len(f.Loads) != len(s.elf.Loads) {
		t.Errorf("flattened ELF: format %q flattened %v, %d loads", f.Format, f.Flattened, len(f.Loads))
	}
	if _, err := f.ReadPhys(buf, s.crash.Kernel.ImagePhys); err != nil || !bytes.Equal(buf, s.crash.RAM[s.crash.Kernel.ImagePhys:][:kdPage]) {
		t.Errorf("flattened ELF ReadPhys: %v", err)
	}

	// Cut short (a broken pipe): still readable, marked incomplete.
	cut := flat[:len(flat)/2]
	f, err = vmcore.NewFile(bytes.NewReader(cut), int64(len(cut)), "cut.flat")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Incomplete() {
		t.Error("a stream without its end record is not reported incomplete")
	}
	if err := dumpfile.Rearrange(&memFile{}, bytes.NewReader(cut)); err == nil {
		t.Error("Rearrange accepted a stream without its end record")
	}
}

// shuffleFlat flattens b into records of random sizes in random order,
// with records of junk for some ranges written before the real ones.
func shuffleFlat(b []byte, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	type rec struct {
		off  int64
		data []byte
	}
	var recs []rec
	for off := 0; off < len(b); {
		n := min(len(b)-off, 1+rng.IntN(200000))
		recs = append(recs, rec{int64(off), b[off : off+n]})
		off += n
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	var out []rec
	for _, r := range recs {
		if rng.IntN(3) == 0 {
			junk := bytes.Repeat([]byte{0xa5}, len(r.data)+rng.IntN(100))
			out = append([]rec{{r.off, junk}}, out...) // junk goes first, overwritten later
		}
		out = append(out, r)
	}
	var s bytes.Buffer
	start := make([]byte, flat.StartBlockSize)
	copy(start, flat.Signature)
	binary.BigEndian.PutUint64(start[16:], 1)
	binary.BigEndian.PutUint64(start[24:], 1)
	s.Write(start)
	for _, r := range out {
		binary.Write(&s, binary.BigEndian, flat.RecordHeader{Offset: r.off, Size: int64(len(r.data))})
		s.Write(r.data)
	}
	binary.Write(&s, binary.BigEndian, flat.RecordHeader{Offset: -1, Size: -1})
	return s.Bytes()
}

func TestKdumpIncomplete(t *testing.T) {
	s := kdumpTestSource(t)
	sp := defaultSpec(compress.LZO)
	sp.stopAfter = 5000
	for _, flat := range []bool{false, true} {
		t.Run(fmt.Sprint("flat=", flat), func(t *testing.T) {
			b := writeKdump(t, sp)
			if flat {
				b = writeFlattened(t, sp)
			}
			f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), "incomplete.kdump")
			if err != nil {
				t.Fatal(err)
			}
			if !f.Incomplete() || !f.Kdump.Incomplete() {
				t.Fatal("not marked incomplete")
			}
			checkKdumpHeaders(t, f, sp)
			// The first stopAfter dumped pages were written, the rest not.
			written := map[uint64]bool{}
			for pfn, n := uint64(0), 0; pfn < s.maxMapnr() && n < sp.stopAfter; pfn++ {
				if sp.dumped(s, pfn) {
					written[pfn] = true
					n++
				}
			}
			read, miss := checkKdumpPages(t, f, sp, func(pfn uint64) bool { return !written[pfn] })
			if read != sp.stopAfter || miss == 0 {
				t.Errorf("read %d pages, %d missing; want %d read and some missing", read, miss, sp.stopAfter)
			}
		})
	}
}

// TestKdumpENOSPC writes to a file that fills up at several points in the
// page data: the writer reports ENOSPC, MarkIncomplete still marks the
// file, and every page reads back as its data or as missing.
func TestKdumpENOSPC(t *testing.T) {
	s := kdumpTestSource(t)
	sp := defaultSpec(compress.Zlib)
	full := writeKdump(t, sp)
	f0, err := vmcore.NewFile(bytes.NewReader(full), int64(len(full)), "full")
	if err != nil {
		t.Fatal(err)
	}
	l := kdumpLayout(t, f0)
	for _, limit := range []int64{l.dataStart + 10, l.dataStart + kdPage + 1000, l.dataStart + 300000, int64(len(full)) - 5} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			m := &memFile{limit: limit}
			w := dumpfile.NewKdumpWriter(m)
			_, err := s.write(t, w, sp)
			if !errors.Is(err, errENOSPC) {
				t.Fatalf("write error %v, want ENOSPC", err)
			}
			if err := w.MarkIncomplete(); err != nil {
				t.Fatal(err)
			}
			if int64(len(m.b)) > limit {
				t.Fatalf("file grew to %d past the limit %d", len(m.b), limit)
			}
			f, err := vmcore.NewFile(bytes.NewReader(m.b), int64(len(m.b)), "enospc.kdump")
			if err != nil {
				t.Fatal(err)
			}
			if !f.Incomplete() {
				t.Fatal("not marked incomplete")
			}
			read, miss := checkKdumpPages(t, f, sp, func(uint64) bool { return true })
			if miss == 0 {
				t.Errorf("read %d, none missing", read)
			}
			t.Logf("limit %d: %d pages read, %d missing", limit, read, miss)
		})
	}
}

func TestKdumpSplitHeader(t *testing.T) {
	s := kdumpTestSource(t)
	sp := defaultSpec(compress.Snappy)
	var m memFile
	w := dumpfile.NewKdumpWriter(&m)
	h := s.header(sp)
	h.Split = &dumpfile.KdumpSplit{StartPFN: 0x800, EndPFN: 0x1000}
	var total uint64
	for pfn := uint64(0x800); pfn < 0x1000; pfn++ {
		if sp.dumped(s, pfn) {
			total++
		}
	}
	if err := w.Begin(h, total); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteZeroPage(0x7ff); err == nil {
		t.Error("a page below the part's range was accepted")
	}
	if err := w.MarkIncomplete(); err != nil {
		t.Fatal(err)
	}
	f, err := vmcore.NewFile(bytes.NewReader(m.b), int64(len(m.b)), "split.kdump")
	if err != nil {
		t.Fatal(err)
	}
	if start, end, ok := f.Kdump.Split(); !ok || start != 0x800 || end != 0x1000 || f.Kdump.SubHeader.Split != 1 {
		t.Errorf("Split() = %d, %d, %v", start, end, ok)
	}
}
