package dumpdir

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDirName(t *testing.T) {
	for name, want := range map[string]string{
		"crashbox-2026-11-26-07:08:09":     "crashbox",
		"127.0.0.1-2024-01-02-13:04:05":    "127.0.0.1",
		"my-host-name-2024-01-02-13:04:05": "my-host-name",
		"h-2024-01-02-13:04:05.1":          "h",
		"10.0.0.1-2024-01-02-13:04:05.12":  "10.0.0.1",
	} {
		host, tm, ok := ParseDirName(name)
		if !ok || host != want || tm.IsZero() {
			t.Errorf("ParseDirName(%q) = %q, %v, %v", name, host, tm, ok)
		}
	}
	for _, name := range []string{"", "lost+found", "2024-01-02-13:04:05", "-2024-01-02-13:04:05", "h-2024-13-02-13:04:05", "h_2024-01-02-13:04:05", "h-2024-01-02-13:04:05.x", "h-2024-01-02-13:04:05."} {
		if _, _, ok := ParseDirName(name); ok {
			t.Errorf("ParseDirName(%q) accepted", name)
		}
	}
}

func mkdump(t *testing.T, dir, name string, files map[string]string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(d, n), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	mkdump(t, dir, "b-2025-01-01-00:00:00", map[string]string{
		StatusFile:         `{"version":1,"result":"incomplete","start":"2025-01-01T00:00:00Z","host":"b","panic":"Kernel panic - not syncing: from status"}`,
		DumpIncompleteFile: "12345",
	})
	mkdump(t, dir, "a-2024-06-01-12:00:00", map[string]string{
		DumpFile:  "1234567890",
		DmesgFile: "[    1.000000] hello\n[    6.436000] Kernel panic - not syncing: sysrq triggered crash\n",
	})
	mkdump(t, dir, "c-2026-01-01-00:00:00", map[string]string{StatusFile: `{"result":"exploded"}`})
	mkdump(t, dir, "d-2026-02-01-00:00:00", nil)
	mkdump(t, dir, "lost+found", nil)
	os.WriteFile(filepath.Join(dir, "x-2026-02-01-00:00:00"), nil, 0o600) // a file, not a dump

	ds, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, strings.Join([]string{d.Host, d.Time.Format(time.DateOnly), string(d.Result), filepath.Base(d.File), d.Panic}, "|"))
	}
	want := []string{
		"a|2024-06-01|complete|vmcore|Kernel panic - not syncing: sysrq triggered crash",
		"b|2025-01-01|incomplete|vmcore-incomplete|Kernel panic - not syncing: from status",
		"c|2026-01-01|failed|.|",
		"d|2026-02-01|failed|.|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("List:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ds[0].Size != 10 || ds[1].Size != 5 {
		t.Errorf("sizes %d %d", ds[0].Size, ds[1].Size)
	}
	if ds[2].Err == nil || !strings.Contains(ds[2].Err.Error(), "exploded") {
		t.Errorf("bad status file: err %v", ds[2].Err)
	}
	if _, err := List(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("List of a missing dir: %v", err)
	}
}

func FuzzReadStatus(f *testing.F) {
	f.Add([]byte(`{"version":1,"result":"complete","start":"2026-11-26T07:08:09Z","host":"h","collector":{"format":"kdump","dump_level":31}}`))
	f.Add([]byte(`{"result":"skipped","pre_hook_exit":1}`))
	f.Add([]byte(`{"result":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeStatus(bytes.NewReader(data), "fuzz")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		switch st.Result {
		case Complete, Incomplete, Failed, Skipped:
		default:
			t.Fatalf("accepted result %q", st.Result)
		}
	})
}

func TestSafeHost(t *testing.T) {
	for in, want := range map[string]string{
		"crashbox": "crashbox", "db-1.example.org": "db-1.example.org", "(none)": "", "": "",
		"../etc": "_etc", "a b/c": "a_b_c", "..": "", strings.Repeat("x", 100): strings.Repeat("x", 64),
	} {
		if got := SafeHost(in); got != want {
			t.Errorf("SafeHost(%q) = %q, want %q", in, got, want)
		}
	}
}
