package gpt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/format/gpt"
	"github.com/gokdump/gokdump/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz")

// buffer is an io.WriterAt over a byte slice.
type buffer []byte

func (b buffer) WriteAt(p []byte, off int64) (int, error) { return copy(b[off:], p), nil }

var testTable = &gpt.Table{
	DiskGUID:   "5a3b9b0e-9c4f-4b7e-8a61-0123456789ab",
	SectorSize: 512,
	Partitions: []gpt.Partition{
		{Number: 1, UUID: "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff", Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", Name: "crash", First: 2048, Last: 4095},
		{Number: 3, UUID: "11111111-2222-3333-4444-555555555555", Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", Name: "ñeighbour", First: 4096, Last: 6143},
	},
}

func image(t testing.TB, tb *gpt.Table, size int64) []byte {
	b := make(buffer, size)
	if err := gpt.Write(b, size, tb); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, ss := range []int{512, 4096} {
		tb := *testTable
		tb.SectorSize = ss
		got, err := gpt.Read(bytes.NewReader(image(t, &tb, 8<<20)), ss)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &tb) {
			t.Errorf("sector size %d: read back %+v, want %+v", ss, got, &tb)
		}
		if p := got.Partition("0E1D2C3B-4A59-6877-8695-A4B3C2D1E0FF"); p == nil || p.Number != 1 {
			t.Errorf("Partition by upper-case GUID: %+v", p)
		}
	}
}

// TestSfdisk reads a table made by util-linux's sfdisk, as the lab's disks are.
func TestSfdisk(t *testing.T) {
	sfdisk := testenv.NeedTool(t, "sfdisk", "fdisk")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	script := "label: gpt\nlabel-id: 5A3B9B0E-9C4F-4B7E-8A61-0123456789AB\n" +
		"start=2048, size=40960, name=crash, uuid=0E1D2C3B-4A59-6877-8695-A4B3C2D1E0FF\n" +
		"start=43008, size=20480, name=\"other part\"\n"
	cmd := exec.Command(sfdisk, "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	out, err := exec.Command(sfdisk, "--json", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		PartitionTable struct {
			ID         string
			Partitions []struct {
				Start, Size uint64
				UUID, Name  string
			}
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tb, err := gpt.Read(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(tb.DiskGUID, dump.PartitionTable.ID) || len(tb.Partitions) != len(dump.PartitionTable.Partitions) {
		t.Fatalf("read %+v, sfdisk says %+v", tb, dump.PartitionTable)
	}
	for i, p := range tb.Partitions {
		s := dump.PartitionTable.Partitions[i]
		if p.Number != i+1 || !strings.EqualFold(p.UUID, s.UUID) || p.Name != s.Name || p.First != s.Start || p.Last != s.Start+s.Size-1 {
			t.Errorf("partition %d: read %+v, sfdisk says %+v", i+1, p, s)
		}
	}
}

func TestReadErrors(t *testing.T) {
	good := image(t, testTable, 4<<20)
	mod := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	if _, err := gpt.Read(bytes.NewReader(make([]byte, 4<<20)), 512); !errors.Is(err, gpt.ErrNoTable) {
		t.Errorf("zeros: %v, want ErrNoTable", err)
	}
	for _, c := range []struct {
		name string
		img  []byte
		off  int64
		msg  string
	}{
		{"header crc", mod(func(b []byte) { b[512+40]++ }), 512 + 16, "header CRC"},
		{"entries crc", mod(func(b []byte) { b[1024+56]++ }), 512 + 88, "entries CRC"},
	} {
		_, err := gpt.Read(bytes.NewReader(c.img), 512)
		var fe *gpt.FormatError
		if !errors.As(err, &fe) || fe.Off != c.off || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want a FormatError at %d saying %q", c.name, err, c.off, c.msg)
		}
	}
}

func seeds(t testing.TB) map[string]map[string][]any {
	small := &gpt.Table{DiskGUID: testTable.DiskGUID, SectorSize: 512, Partitions: testTable.Partitions[:1]}
	img := image(t, small, 64<<10)
	return map[string]map[string][]any{
		"FuzzRead": {
			"table": {img[:512+512+128*128]},
			"empty": {image(t, &gpt.Table{DiskGUID: testTable.DiskGUID, SectorSize: 512}, 64<<10)[:512+512+128*128]},
		},
	}
}

// TestFuzzSeeds keeps testdata/fuzz in step with Write.
// Regenerate with: go test ./format/gpt -run TestFuzzSeeds -update
func TestFuzzSeeds(t *testing.T) {
	testenv.CheckFuzzSeeds(t, seeds(t), *update, "go test ./format/gpt -run TestFuzzSeeds -update")
}

// FuzzRead reads a table; what reads without error is written again with Write and
// must read back the same.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := gpt.Read(bytes.NewReader(data), 512)
		if err != nil {
			var fe *gpt.FormatError
			if !errors.As(err, &fe) && !errors.Is(err, gpt.ErrNoTable) {
				t.Fatalf("error is neither a FormatError nor ErrNoTable: %v", err)
			}
			return
		}
		for _, p := range tb.Partitions {
			if p.Last < p.First || p.Number < 1 {
				t.Fatalf("accepted %+v", p)
			}
		}
		var keep []gpt.Partition
		for _, p := range tb.Partitions {
			// Write takes 128 entries with names it can encode back the same.
			if p.Number <= 128 && len([]rune(p.Name)) <= 18 && !strings.ContainsRune(p.Name, '\uFFFD') {
				keep = append(keep, p)
			}
		}
		tb.Partitions = keep
		img := make(buffer, 64<<10)
		if err := gpt.Write(img, int64(len(img)), tb); err != nil {
			t.Fatal(err)
		}
		again, err := gpt.Read(bytes.NewReader(img), 512)
		if err != nil || !reflect.DeepEqual(again, tb) {
			t.Fatalf("re-written table reads %+v, %v; want %+v", again, err, tb)
		}
	})
}
