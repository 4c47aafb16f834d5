package dumpdir

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseDebianDirName(t *testing.T) {
	for name, want := range map[string]string{
		"202611260708":            "",
		"202611260708.2":          "",
		"10.0.0.5-202611260708":   "10.0.0.5",
		"my-host-202611260708":    "my-host",
		"crashbox-202611260708.1": "crashbox",
	} {
		host, tm, ok := ParseDebianDirName(name)
		if !ok || host != want || !tm.Equal(time.Date(2026, 11, 26, 7, 8, 0, 0, time.UTC)) {
			t.Errorf("ParseDebianDirName(%q) = %q, %v, %v", name, host, tm, ok)
		}
	}
	for _, name := range []string{"", "lost+found", "20261126070", "2026112607081", "-202611260708", "h_202611260708", "202613260708", "h-2024-01-02-13:04:05", "202611260708.x"} {
		if _, _, ok := ParseDebianDirName(name); ok {
			t.Errorf("ParseDebianDirName(%q) accepted", name)
		}
	}
}

func TestCreateLayout(t *testing.T) {
	base := t.TempDir()
	start := time.Date(2026, 11, 26, 7, 8, 9, 0, time.UTC)
	dir, names, err := CreateLayout(base, "crashbox", start, Debian)
	if err != nil || dir != filepath.Join(base, "202611260708") ||
		names != (Names{"dump.202611260708", "dump-incomplete", "dmesg.202611260708", "dmesg-incomplete"}) {
		t.Fatalf("Debian: %s %+v %v", dir, names, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("mode: %v %v", fi.Mode(), err)
	}
	// A second capture in the same minute.
	dir2, names2, err := CreateLayout(base, "crashbox", start.Add(30*time.Second), Debian)
	if err != nil || dir2 != filepath.Join(base, "202611260708.1") || names2 != names {
		t.Errorf("second: %s %+v %v", dir2, names2, err)
	}
	dir3, names3, err := CreateLayout(base, "crashbox", start, Fedora)
	if err != nil || filepath.Base(dir3) != "crashbox-2026-11-26-07:08:09" || names3 != FedoraNames {
		t.Errorf("Fedora: %s %+v %v", dir3, names3, err)
	}
}

// TestListDebian lists dump directories of both layouts side by side: written by
// gokdump (with a status file) and by kdump-tools' kdump-config (without one,
// compressed whole, or copied with cp when makedumpfile failed).
func TestListDebian(t *testing.T) {
	dir := t.TempDir()
	mkdump(t, dir, "202501010000", map[string]string{"dump.202501010000": "12345", "dmesg.202501010000": "[ 1.0] Kernel panic - not syncing: sysrq\n"})
	mkdump(t, dir, "202501020000", map[string]string{"dump-incomplete": "12"})
	mkdump(t, dir, "202501030000", map[string]string{"dump.202501030000.xz": "1"})
	mkdump(t, dir, "10.0.0.5-202501040000", map[string]string{"vmcore.202501040000": "1234"})
	mkdump(t, dir, "202501050000", map[string]string{StatusFile: `{"version":1,"result":"complete","start":"2025-01-05T00:00:42Z","host":"h"}`, "dump.202501050000": "1"})
	mkdump(t, dir, "h-2025-01-01-12:00:00", map[string]string{DumpFile: "1"})
	mkdump(t, dir, "202501060000", nil)
	mkdump(t, dir, "notes", map[string]string{"dump.x": "1"})
	dumps, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		base, layout, host, file string
		result                   Result
		size                     int64
		panic                    string
	}
	var got []row
	for _, d := range dumps {
		got = append(got, row{filepath.Base(d.Dir), d.Layout, d.Host, filepath.Base(d.File), d.Result, d.Size, d.Panic})
	}
	want := []row{
		{"202501010000", "debian", "", "dump.202501010000", Complete, 5, "Kernel panic - not syncing: sysrq"},
		{"h-2025-01-01-12:00:00", "fedora", "h", "vmcore", Complete, 1, ""},
		{"202501020000", "debian", "", "dump-incomplete", Incomplete, 2, ""},
		{"202501030000", "debian", "", "dump.202501030000.xz", Complete, 1, ""},
		{"10.0.0.5-202501040000", "debian", "10.0.0.5", "vmcore.202501040000", Complete, 4, ""},
		{"202501050000", "debian", "", "dump.202501050000", Complete, 1, ""},
		{"202501060000", "debian", "", ".", Failed, 0, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List:\n got %+v\nwant %+v", got, want)
	}
	// The status file's start, to the second, where Debian's name stops at the minute.
	if len(dumps) == 7 && !dumps[5].Time.Equal(time.Date(2025, 1, 5, 0, 0, 42, 0, time.UTC)) {
		t.Errorf("time %v, want the status file's start", dumps[5].Time)
	}
	// keep_dumps (KDUMP_NUM_DUMPS) counts the dumps of both layouts, oldest first; a
	// dump spared (not yet uploaded) stays, and a newer one goes in its stead.
	spare := func(d Dump) bool { return filepath.Base(d.Dir) == "h-2025-01-01-12:00:00" }
	removed, spared, err := Prune(dir, 3, nil, spare)
	if err != nil || !reflect.DeepEqual(removed, []string{"202501010000", "202501020000", "202501030000", "10.0.0.5-202501040000"}) ||
		!reflect.DeepEqual(spared, []string{"h-2025-01-01-12:00:00"}) {
		t.Errorf("Prune: removed %v, spared %v, %v", removed, spared, err)
	}
	// Nothing more may go: the spared dump is more than keep allows, and stays.
	removed, spared, err = Prune(dir, 1, nil, spare)
	if err != nil || !reflect.DeepEqual(removed, []string{"202501050000", "202501060000"}) || !reflect.DeepEqual(spared, []string{"h-2025-01-01-12:00:00"}) {
		t.Errorf("Prune to 1: removed %v, spared %v, %v", removed, spared, err)
	}
	if left, _ := List(dir); len(left) != 1 || filepath.Base(left[0].Dir) != "h-2025-01-01-12:00:00" {
		t.Errorf("left after pruning: %+v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes")); err != nil {
		t.Errorf("Prune touched a directory not named as a dump: %v", err)
	}
}
