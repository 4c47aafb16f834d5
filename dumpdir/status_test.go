package dumpdir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatusReservation: the in-progress status holds statusReserve bytes, and when
// the final status cannot be written as a new file (as on a disk the dump filled; here
// the temporary name is taken by a directory) it is written over the reserved file in
// place, and reads back whole.
func TestStatusReservation(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, StatusFile)
	first := &Status{Version: 1, Result: Incomplete, Error: "capture in progress", Host: "h"}
	if err := WriteStatus(dir, first, true); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(name); err != nil || fi.Size() != statusReserve {
		t.Fatalf("in-progress status: %v, size %d, want %d", err, fi.Size(), statusReserve)
	}
	if back, err := ReadStatus(dir); err != nil || back.Error != first.Error {
		t.Fatalf("padded status reads back %+v, %v", back, err)
	}

	if err := os.Mkdir(filepath.Join(dir, StatusFile+".tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StatusFile+".tmp", "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	final := &Status{Version: 1, Result: Incomplete, Error: "no space left on device", Host: "h",
		Dump: DumpIncompleteFile, DumpBytes: 12345, Warnings: []string{"one", "two"}}
	if err := WriteStatus(dir, final, false); err != nil {
		t.Fatalf("final status over the reservation: %v", err)
	}
	back, err := ReadStatus(dir)
	if err != nil || back.Error != final.Error || back.DumpBytes != final.DumpBytes || len(back.Warnings) != 2 {
		t.Fatalf("final status reads back %+v, %v", back, err)
	}
	if fi, _ := os.Stat(name); fi.Size() != statusReserve {
		t.Errorf("status written in place has size %d, want the reservation's %d", fi.Size(), statusReserve)
	}

	// Without a file to write over, the failure is reported.
	os.Remove(name)
	if err := WriteStatus(dir, final, false); err == nil {
		t.Error("writeStatus succeeded with neither a new file nor an old one to write")
	}
}

func TestStatusJSONNames(t *testing.T) {
	code := 0
	st := &Status{Version: 1, Result: Complete, Start: time.Date(2026, 11, 26, 7, 8, 9, 0, time.UTC), Host: "h", PreHookExit: &code}
	data, _ := json.Marshal(st)
	for _, k := range []string{`"result":"complete"`, `"start":"2026-11-26T07:08:09Z"`, `"pre_hook_exit":0`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("%s lacks %s", data, k)
		}
	}
	if strings.Contains(string(data), `"end"`) {
		t.Errorf("zero end time written: %s", data)
	}
}

// TestStatusCollectorObject: the collector's statistics are kept as raw JSON, but
// only an object is a status this package wrote.
func TestStatusCollectorObject(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"result":"complete","collector":{"format":"kdump","dump_level":31}}`: true,
		`{"result":"complete"}`:                 true,
		`{"result":"complete","collector":5}`:   false,
		`{"result":"complete","collector":"x"}`: false,
	} {
		st, err := decodeStatus(strings.NewReader(in), "st.json")
		if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "st.json") {
			t.Errorf("%s: %v", in, err)
		}
		if ok && st != nil && strings.Contains(in, "kdump") && !strings.Contains(string(st.Collector), `"dump_level":31`) {
			t.Errorf("%s: collector %s", in, st.Collector)
		}
	}
}
