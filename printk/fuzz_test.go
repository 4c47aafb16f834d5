package printk

import (
	"bytes"
	"flag"
	"fmt"
	"github.com/gokdump/gokdump/internal/testenv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/printk/printktest"
	"github.com/gokdump/gokdump/vmcore"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/Fuzz* from the printktest builders")

// The fuzz targets read arbitrary bytes as the memory holding a log (the layout's
// structures at base, as the builders lay them out, so the VMCOREINFO is fixed): no
// input may panic or hang, and whatever is read must print.

func locklessSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	small := printktest.NewLockless(3, 8)
	addMany(t, small, 3)
	img, _ := small.Image(base)
	seeds = append(seeds, img)
	wrapped := printktest.NewLockless(3, 8)
	addMany(t, wrapped, 40)
	img, _ = wrapped.Image(base)
	seeds = append(seeds, img)
	damaged := printktest.NewLockless(3, 8)
	addMany(t, damaged, 5)
	damaged.SetState(damaged.HeadID-1, printktest.StateReserved)
	damaged.SetLpos(damaged.HeadID-2, 0x108, 0x100)
	img, _ = damaged.Image(base)
	return append(seeds, img)
}

func structuredSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, caller := range []bool{false, true} {
		s := printktest.NewStructured(256, caller)
		for i := range 12 {
			m := printktest.Message{Text: fmt.Sprintf("msg %d %s", i, strings.Repeat("z", i*5%23)), TimestampNs: uint64(i) * 1e8}
			if i%3 == 0 {
				m.Subsystem, m.Device = "usb", "+usb:1-1"
			}
			if err := s.Add(m); err != nil {
				t.Fatal(err)
			}
		}
		img, _ := s.Image(base)
		seeds = append(seeds, img)
	}
	return seeds
}

func plainSeeds(t testing.TB) [][]byte {
	p := printktest.NewPlain(128)
	p.Write("<6>[    0.000000] Linux version 2.6.32\n<4>[    0.100000] a \x01 b\n<6>more\n<6>and more, past the end of the ring\n")
	img, _ := p.Image(base)
	return [][]byte{img}
}

func fuzzRead(t *testing.T, data []byte, lines []string) {
	mem := &printktest.Memory{}
	mem.Add(base, data)
	info, err := vmcore.ParseVMCOREINFO([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	log, err := Read(mem, info)
	if log == nil {
		if err == nil {
			t.Fatal("nil Log and nil error")
		}
		return
	}
	var out bytes.Buffer
	if err := log.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out.Bytes(), []byte{'\n'}); log.Layout != Plain && n < len(log.Records) {
		t.Fatalf("%d lines for %d records", n, len(log.Records))
	}
}

func FuzzLockless(f *testing.F) {
	for _, s := range locklessSeeds(f) {
		f.Add(s)
	}
	lines := printktest.LocklessVMCOREINFO(base)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, lines) })
}

func FuzzStructured(f *testing.F) {
	for _, s := range structuredSeeds(f) {
		f.Add(s)
	}
	_, lines := printktest.NewStructured(256, true).Image(base)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, lines) })
}

func FuzzPlain(f *testing.F) {
	for _, s := range plainSeeds(f) {
		f.Add(s)
	}
	_, lines := printktest.NewPlain(128).Image(base)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, lines) })
}

// The checked-in seed corpora are the builders' output; -write-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	corpora := map[string]map[string][]any{}
	for target, seeds := range map[string][][]byte{
		"FuzzLockless":   locklessSeeds(t),
		"FuzzStructured": structuredSeeds(t),
		"FuzzPlain":      plainSeeds(t),
	} {
		corpora[target] = map[string][]any{}
		for i, s := range seeds {
			corpora[target][fmt.Sprintf("builder-%d", i)] = []any{s}
		}
	}
	testenv.CheckFuzzSeeds(t, corpora, *writeSeeds, "go test ./printk -run TestFuzzSeeds -write-seeds")
}
