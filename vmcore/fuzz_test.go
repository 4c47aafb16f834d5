package vmcore_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/vmcore"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz from the writer")

// seedCorpora returns, per fuzz target, named argument lists built with the
// project's writer (plus a few hand-made layouts the writer never emits).
func seedCorpora(t testing.TB) map[string]map[string][]any {
	notes, _, info := standardNotes()
	small := func(s coreSpec) []byte { s.pageSize = 64; return s.build(t) } // small files, small seeds
	standard := small(coreSpec{notes: notes, ranges: []memRange{
		{phys: 0x1000, data: pattern(0x1000, 0x100)},
		{phys: 0x100000, virt: 0xffff888000100000, data: pattern(0x100000, 0x80), zeroTail: 0x80},
		{phys: 0x100040, virt: 0xffffffff81000000, data: pattern(0x100040, 0x80)},
	}})
	notes8 := dumpfile.AppendNote(nil, 8, "CORE", 1, make([]byte, vmcore.PRStatusSize))
	notes8 = dumpfile.AppendNote(notes8, 8, "VMCOREINFO", 0, []byte(info))
	align8 := small(coreSpec{notes: notes8, noteAlign: 8, ranges: []memRange{{phys: 0, data: pattern(0, 0x40)}}})
	elfcorehdr, _, _ := elfcorehdrCore()
	var w dumpfile.ELFWriter
	incomplete := &writerAt{b: bytes.Clone(standard)}
	w.MarkIncomplete(incomplete)
	truncated := incomplete.b[:len(incomplete.b)-0x60]

	return map[string]map[string][]any{
		"FuzzOpen": {
			"standard":   {standard},
			"align8":     {align8},
			"elfcorehdr": {elfcorehdr},
			"xnum":       {toXNum(standard)},
			"truncated":  {truncated},
			"no-loads":   {small(coreSpec{notes: notes})},
		},
		"FuzzVMCOREINFO": {
			"standard":      {[]byte(info)},
			"debian-6.1":    {[]byte(realInfo)},
			"no-newline":    {[]byte(strings.TrimSuffix(info, "\n"))},
			"trailing-nuls": {[]byte(info + "\x00\x00\x00\x00")},
			"arm64-hex":     {[]byte("NUMBER(kimage_voffset)=0xffffffbf70000000\nNUMBER(VA_BITS)=48\n")},
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with the writer: it fails when
// a committed seed differs from what the writer makes today. Regenerate
// with: go test ./vmcore -run TestFuzzSeeds -update
func TestFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, seedCorpora(t), *update, "go test ./vmcore -run TestFuzzSeeds -update")
}

// checkFormatError fails unless err is a *FormatError for file with an
// offset inside [0, size].
func checkFormatError(t *testing.T, err error, file string, size int64) {
	t.Helper()
	var fe *vmcore.FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error is %T, want *vmcore.FormatError: %v", err, err)
	}
	if fe.File != file || fe.Off < 0 || fe.Off > size {
		t.Fatalf("error names %q offset %d (size %d): %v", fe.File, fe.Off, size, err)
	}
}

func FuzzOpen(f *testing.F) {
	const name = "fuzz.vmcore"
	f.Fuzz(func(t *testing.T, data []byte) {
		vf, err := vmcore.NewFile(bytes.NewReader(data), int64(len(data)), name)
		if err != nil {
			checkFormatError(t, err, name, int64(len(data)))
			return
		}
		if _, err := vf.PRStatus(); err != nil {
			checkFormatError(t, err, name, int64(len(data)))
		}
		if _, err := vf.VMCOREINFO(); err != nil && !errors.Is(err, vmcore.ErrNoVMCOREINFO) {
			checkFormatError(t, err, name, int64(len(data)))
		}
		buf := make([]byte, 256)
		var stored uint64
		for _, s := range vf.Loads {
			for _, a := range []uint64{s.Phys - 1, s.Phys, s.Phys + s.FileSize - 1, s.Phys + s.MemSize - 1} {
				n, err := vf.ReadPhys(buf, a)
				if n > len(buf) || (n < len(buf) && err == nil) {
					t.Fatalf("ReadPhys(0x%x) = %d, %v", a, n, err)
				}
				if err != nil && !errors.Is(err, vmcore.ErrHole) {
					// Truncation names where the data should be, which
					// may be past the end of the file.
					checkFormatError(t, err, name, math.MaxInt64)
				}
			}
			stored += s.FileSize
		}
		if stored > 1<<20 || len(vf.Loads) > 1000 {
			return
		}
		// Round trip: write what was read, read it again.
		w := dumpfile.ELFWriter{PageSize: 64}
		for _, n := range vf.Notes {
			w.Notes = dumpfile.AppendNote(w.Notes, 4, n.Name, n.Type, n.Desc)
		}
		complete := true
		for _, s := range vf.Loads {
			if s.Offset+s.FileSize > uint64(len(data)) {
				complete = false
			}
			w.Loads = append(w.Loads, dumpfile.ELFLoad{Phys: s.Phys, Virt: s.Virt, FileSize: s.FileSize, MemSize: s.MemSize,
				Data: io.NewSectionReader(bytes.NewReader(data), int64(s.Offset), int64(s.FileSize))})
		}
		var out bytes.Buffer
		if _, err := w.WriteTo(&out); err != nil {
			if complete {
				t.Fatalf("rewriting a readable core: %v", err)
			}
			return
		}
		back, err := vmcore.NewFile(bytes.NewReader(out.Bytes()), int64(out.Len()), "rewritten")
		if err != nil {
			t.Fatalf("rewritten core does not open: %v", err)
		}
		if len(back.Notes) != len(vf.Notes) {
			t.Fatalf("%d notes became %d", len(vf.Notes), len(back.Notes))
		}
		for i, n := range vf.Notes {
			if b := back.Notes[i]; b.Name != n.Name || b.Type != n.Type || !bytes.Equal(b.Desc, n.Desc) {
				t.Fatalf("note %d changed: %+v -> %+v", i, n, b)
			}
		}
		if len(back.Loads) != len(vf.Loads) {
			t.Fatalf("%d loads became %d", len(vf.Loads), len(back.Loads))
		}
		for i, s := range vf.Loads {
			b := back.Loads[i]
			if b.Phys != s.Phys || b.Virt != s.Virt || b.FileSize != s.FileSize || b.MemSize != s.MemSize {
				t.Fatalf("load %d: %+v became %+v", i, s, b)
			}
			if s.FileSize > 0 && !bytes.Equal(out.Bytes()[b.Offset:b.Offset+b.FileSize], data[s.Offset:s.Offset+s.FileSize]) {
				t.Fatalf("load %d data changed", i)
			}
		}
	})
}

func FuzzVMCOREINFO(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := vmcore.ParseVMCOREINFO(data)
		if err != nil {
			checkFormatError(t, err, "", int64(len(data)))
			return
		}
		if !bytes.Equal(info.Raw(), data) {
			t.Fatalf("Raw is not the input")
		}
		// Re-create the text from what was parsed; it must parse to the
		// same keys, values and typed lookups.
		var text strings.Builder
		for _, k := range info.Keys() {
			v, ok := info.Get(k)
			if !ok {
				t.Fatalf("key %q listed but not found", k)
			}
			fmt.Fprintf(&text, "%s=%s\n", k, v)
		}
		back, err := vmcore.ParseVMCOREINFO([]byte(text.String()))
		if err != nil {
			t.Fatalf("rebuilt text does not parse: %v\n%q", err, text.String())
		}
		if !slices.Equal(back.Keys(), info.Keys()) {
			t.Fatalf("keys changed")
		}
		for _, k := range info.Keys() {
			kind, name, typed := strings.Cut(strings.TrimSuffix(k, ")"), "(")
			if !typed || !strings.HasSuffix(k, ")") {
				continue
			}
			var a, b uint64
			var ok1, ok2 bool
			switch kind {
			case "SYMBOL":
				a, ok1 = info.Symbol(name)
				b, ok2 = back.Symbol(name)
			case "SIZE":
				a, ok1 = info.Size(name)
				b, ok2 = back.Size(name)
			case "NUMBER":
				x, o1 := info.Number(name)
				y, o2 := back.Number(name)
				a, b, ok1, ok2 = uint64(x), uint64(y), o1, o2
			default:
				continue
			}
			if !ok1 || !ok2 || a != b {
				t.Fatalf("%s: %v/%v %v/%v", k, a, ok1, b, ok2)
			}
		}
	})
}
