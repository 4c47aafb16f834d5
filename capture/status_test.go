package capture

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStatusReservation: the in-progress status holds statusReserve bytes, and when
// the final status cannot be written as a new file (as on a disk the dump filled; here
// the temporary name is taken by a directory) it is written over the reserved file in
// place, and reads back whole.
func TestStatusReservation(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, StatusFile)
	first := &Status{Version: 1, Result: Incomplete, Error: "capture in progress", Host: "h"}
	if err := writeStatus(dir, first, true); err != nil {
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
	if err := writeStatus(dir, final, false); err != nil {
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
	if err := writeStatus(dir, final, false); err == nil {
		t.Error("writeStatus succeeded with neither a new file nor an old one to write")
	}
}
