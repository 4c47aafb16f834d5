package vmcore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/kdump"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/vmcore"
)

// smallKdump writes a tiny kdump file (512-byte pages, 64 pfns: a hole,
// excluded, zero, text and random pages) for fuzz seeds. stop > 0 marks it
// incomplete after that many pages.
func smallKdump(t testing.TB, codec compress.Codec, flat bool, stop int) []byte {
	const ps, npfn = 512, 64
	ram := make([]byte, ps*npfn)
	for pfn := range npfn {
		for i := range ps {
			switch pfn % 4 {
			case 1:
				ram[pfn*ps+i] = "kdump "[i%6]
			case 2:
				ram[pfn*ps+i] = byte(i*7 + pfn*13 + i*i)
			}
		}
	}
	exists := func(pfn int) bool { return pfn < 40 || pfn >= 48 }
	dumped := func(pfn int) bool { return exists(pfn) && pfn%9 != 4 }
	var info dumpfile.VMCOREINFOText
	info.Standard("6.1.0-fuzz", ps, 1764132830, 0)
	info.Number("phys_base", 0)
	text := info.Bytes()
	pr := &vmcore.PRStatus{Pid: 7}
	notes := append(dumpfile.PRStatusNote(pr), dumpfile.VMCOREINFONote(text)...)
	h := &dumpfile.KdumpHeader{
		UTSName:   kdump.UTSName{Sysname: "Linux", Release: "6.1.0-fuzz", Machine: "x86_64"},
		CrashTime: time.Unix(1764132830, 0), PageSize: ps, DumpLevel: 1, Notes: notes,
		VMCOREINFOOffset: uint64(len(notes) - len(text)), VMCOREINFOSize: uint64(len(text)),
		MaxMapnr: npfn, NrCPUs: 1, Codec: codec,
	}
	var m memFile
	var stream bytes.Buffer
	w := dumpfile.NewKdumpWriter(&m)
	if flat {
		w = dumpfile.NewFlattenedKdumpWriter(&stream)
	}
	var b1, b2 [npfn / 8]byte
	total := 0
	for pfn := range npfn {
		if exists(pfn) {
			b1[pfn/8] |= 1 << (pfn % 8)
		}
		if dumped(pfn) {
			b2[pfn/8] |= 1 << (pfn % 8)
			total++
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Begin(h, uint64(total)))
	must(w.WriteBitmaps(0, b1[:], b2[:]))
	pc, err := compress.NewPageCompressor(codec)
	must(err)
	n := 0
	for pfn := range npfn {
		if !dumped(pfn) {
			continue
		}
		if n == stop && stop > 0 {
			break
		}
		page := ram[pfn*ps : (pfn+1)*ps]
		if pfn%4 == 0 {
			must(w.WriteZeroPage(uint64(pfn)))
		} else {
			data, flags, err := pc.CompressPage(nil, page)
			must(err)
			must(w.WritePage(uint64(pfn), data, flags))
		}
		n++
	}
	if stop > 0 {
		must(w.MarkIncomplete())
	} else {
		must(w.Finish())
	}
	if flat {
		return stream.Bytes()
	}
	return m.b
}

// asVersion rewrites a file as an older header version would have it.
func asVersion(b []byte, v int32) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[8:], uint32(v))
	return b
}

func kdumpSeeds(t testing.TB) map[string]map[string][]any {
	zlib := smallKdump(t, compress.Zlib, false, 0)
	return map[string]map[string][]any{
		"FuzzKdump": {
			"zlib":       {zlib},
			"lzo":        {smallKdump(t, compress.LZO, false, 0)},
			"snappy":     {smallKdump(t, compress.Snappy, false, 0)},
			"zstd":       {smallKdump(t, compress.Zstd, false, 0)},
			"none":       {smallKdump(t, compress.None, false, 0)},
			"incomplete": {smallKdump(t, compress.Zlib, false, 10)},
			"version3":   {asVersion(zlib, 3)},
		},
		"FuzzFlattened": {
			"zstd":       {smallKdump(t, compress.Zstd, true, 0)},
			"incomplete": {smallKdump(t, compress.LZO, true, 10)},
			"shuffled":   {shuffleFlat(smallKdump(t, compress.None, false, 0), 5)},
		},
	}
}

// TestKdumpFuzzSeeds keeps testdata/fuzz/FuzzKdump and FuzzFlattened in
// step with the writer. Regenerate with:
// go test ./vmcore -run TestKdumpFuzzSeeds -update
func TestKdumpFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, kdumpSeeds(t), *update, "go test ./vmcore -run TestKdumpFuzzSeeds -update")
}

// TestSmallKdump checks the seed builder's output reads back.
func TestSmallKdump(t *testing.T) {
	for name, args := range kdumpSeeds(t)["FuzzKdump"] {
		b := args[0].([]byte)
		f, err := vmcore.NewFile(bytes.NewReader(b), int64(len(b)), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := f.DumpedPages()
		if err != nil || n != 50 {
			t.Errorf("%s: %d dumped pages, %v", name, n, err)
		}
		buf := make([]byte, 512)
		if _, err := f.ReadPhys(buf, 2*512); err != nil || buf[3] != byte(3*7+2*13+9) {
			t.Errorf("%s: pfn 2: %v", name, err)
		}
	}
}

// readAllPages reads the first pages of f and checks every error is one
// of the documented kinds; it returns a summary for comparisons.
func readAllPages(t *testing.T, f *vmcore.File, name string) []byte {
	var sum []byte
	buf := make([]byte, 512)
	reads := 0
	for _, s := range f.Loads {
		for a := s.Phys; a < s.Phys+s.MemSize && a < s.Phys+64*512 && reads < 1024; a += 512 {
			reads++
			n, err := f.ReadPhys(buf, a)
			if n > len(buf) || (n < len(buf) && err == nil) {
				t.Fatalf("ReadPhys(0x%x) = %d, %v", a, n, err)
			}
			var fe *vmcore.FormatError
			switch {
			case err == nil:
				sum = append(sum, buf...)
			case errors.Is(err, vmcore.ErrHole):
				sum = append(sum, 'H')
			case errors.As(err, &fe):
				if fe.File != name || fe.Off < 0 || fe.Off > f.Size {
					t.Fatalf("ReadPhys(0x%x): error names %q offset %d (size %d): %v", a, fe.File, fe.Off, f.Size, err)
				}
				sum = append(sum, 'F')
			default:
				t.Fatalf("ReadPhys(0x%x): unexpected error %T %v", a, err, err)
			}
		}
	}
	return sum
}

func fuzzKdumpFile(t *testing.T, data []byte, name string) (*vmcore.File, error) {
	f, err := vmcore.NewFile(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		var fe *vmcore.FormatError
		if !errors.As(err, &fe) || fe.File != name || fe.Off < 0 {
			t.Fatalf("NewFile error is not a FormatError for %s: %T %v", name, err, err)
		}
		return nil, err
	}
	if _, err := f.PRStatus(); err != nil {
		checkFormatError(t, err, name, f.Size)
	}
	if _, err := f.VMCOREINFO(); err != nil && !errors.Is(err, vmcore.ErrNoVMCOREINFO) {
		checkFormatError(t, err, name, f.Size)
	}
	if f.Kdump != nil {
		if _, err := f.DumpedPages(); err != nil {
			checkFormatError(t, err, name, f.Size)
		}
	}
	return f, nil
}

func FuzzKdump(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.kdump"
		vf, err := fuzzKdumpFile(t, data, name)
		if err != nil {
			return
		}
		readAllPages(t, vf, name)
	})
}

// FuzzFlattened opens a flattened stream directly and after Rearrange:
// both must agree (error or not, and on every page read).
func FuzzFlattened(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.flat"
		vf, ferr := fuzzKdumpFile(t, data, name)
		var sumFlat []byte
		if ferr == nil {
			sumFlat = readAllPages(t, vf, name)
		}
		m := &memFile{limit: 8 << 20}
		if err := dumpfile.Rearrange(m, bytes.NewReader(data)); err != nil {
			return // a bad stream, or one describing a large file
		}
		rf, rerr := fuzzKdumpFile(t, m.b, name)
		if (ferr == nil) != (rerr == nil) {
			t.Fatalf("flattened: %v; rearranged: %v", ferr, rerr)
		}
		if ferr != nil {
			return
		}
		if sumRe := readAllPages(t, rf, name); !bytes.Equal(sumFlat, sumRe) {
			t.Fatal("pages read from the flattened file and from its rearranged form differ")
		}
	})
}
