package volume

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz/Fuzz* from the builders and testdata/lvm")

// The fuzz targets read arbitrary bytes as a PV, as metadata text, as an md member and
// as a dm table reply: nothing may panic or run away, and every failure must be one of
// the package's errors. Seeds are what lvm2 wrote (testdata/lvm) and what the
// builders lay out.

func realTexts(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range []string{"linear-striped", "thin"} {
		s := loadLVMState(t, name)
		pv, err := ReadPV(bytes.NewReader(s.images[slices.Sorted(maps.Keys(s.images))[0]]))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pv.Text)
	}
	return out
}

func pvSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, text := range realTexts(t) {
		pe := uint64(4096+mdaHeaderSize+len(text)+1+sectorSize-1) / sectorSize
		out = append(out, buildPV(testPVID, string(text), pe))
	}
	damaged := bytes.Clone(out[0])
	damaged[4096+mdaLocnsOff+8] ^= 0x40 // text size
	return append(out, damaged)
}

func textSeeds(t testing.TB) [][]byte {
	return append(realTexts(t), []byte(vgText("vg0", testVGID, testPVID, 3, 2)))
}

func memberSeeds() [][]byte {
	var out [][]byte
	for _, s := range []memberSpec{
		{level: 1, raidDisks: 2, roles: []uint16{0, 1}, dataOffset: 2048, dataSize: 8, events: 3, name: "h:0"},
		{level: 5, raidDisks: 3, devNumber: 2, roles: []uint16{0, MDRoleFaulty, 1, 2}, dataOffset: 2048, dataSize: 8},
	} {
		m := buildMember(s)
		out = append(out, m[:mdSuperOffset+mdFixedSize+2*len(s.roles)])
	}
	return out
}

func dmSeeds() [][]byte {
	return [][]byte{dmStatusReply([]DMTarget{
		{Start: 0, Length: 16384, Type: "linear", Params: "7:0 2048"},
		{Start: 16384, Length: 32768, Type: "striped", Params: "2 128 7:0 18432 7:1 2048"},
	})}
}

// knownError tells whether err is one the package documents for bad input.
func knownError(err error) bool {
	var fe *FormatError
	var ue *UnsupportedError
	return errors.As(err, &fe) || errors.As(err, &ue) || errors.Is(err, ErrNotPV) || errors.Is(err, ErrNotMember) ||
		errors.Is(err, ErrMissingDevice) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func describeAll(t *testing.T, vg *VG) {
	for _, lv := range vg.LVs {
		m, err := DescribeLV(vg, lv.Name)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("DescribeLV(%s): %v", lv.Name, err)
			}
			continue
		}
		var sum uint64
		for _, tg := range m.DMTable(func(pv string) string { return "1:2" }) {
			if tg.Start != sum || tg.Length == 0 {
				t.Fatalf("%s: table line %v after %d sectors", lv.Name, tg, sum)
			}
			sum += tg.Length
		}
		if sum != m.Sectors() {
			t.Fatalf("%s: table of %d sectors, Sectors %d", lv.Name, sum, m.Sectors())
		}
	}
}

func FuzzPV(f *testing.F) {
	for _, s := range pvSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pv, err := ReadPV(bytes.NewReader(data))
		if err != nil {
			if !knownError(err) {
				t.Fatal(err)
			}
			return
		}
		if pv.VG != nil {
			describeAll(t, pv.VG)
		}
	})
}

func FuzzMetadataText(f *testing.F) {
	for _, s := range textSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		vg, err := ParseMetadata(text)
		if err != nil {
			if !knownError(err) {
				t.Fatal(err)
			}
			return
		}
		describeAll(t, vg)
	})
}

func FuzzSuperblock(f *testing.F) {
	for _, s := range memberSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sb, err := ReadSuperblock(bytes.NewReader(data))
		if err != nil {
			if !knownError(err) {
				t.Fatal(err)
			}
			return
		}
		if len(sb.DevRoles) < int(sb.RaidDisks) {
			t.Fatalf("%d roles for %d disks", len(sb.DevRoles), sb.RaidDisks)
		}
		if _, err := DescribeArray(sb, 0); err != nil && !knownError(err) {
			t.Fatal(err)
		}
		_ = sb.Role()
	})
}

func FuzzDMTable(f *testing.F) {
	for _, s := range dmSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := decodeTable(data)
		if err == nil && len(ts) > len(data)/dmTargetSpecSize {
			t.Fatalf("%d targets from %d bytes", len(ts), len(data))
		}
	})
}

// The checked-in seed corpora are the seeds above; -write-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	corpora := map[string]map[string][]any{}
	for target, seeds := range map[string][][]byte{
		"FuzzPV":           pvSeeds(t),
		"FuzzMetadataText": textSeeds(t),
		"FuzzSuperblock":   memberSeeds(),
		"FuzzDMTable":      dmSeeds(),
	} {
		corpora[target] = map[string][]any{}
		for i, s := range seeds {
			corpora[target][fmt.Sprintf("seed-%d", i)] = []any{s}
		}
	}
	testenv.CheckFuzzSeeds(t, corpora, *writeSeeds, "go test ./volume -run TestFuzzSeeds -write-seeds")
}
