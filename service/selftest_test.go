package service

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCrasher records the calls in order; it never crashes anything.
type fakeCrasher struct {
	calls  []string
	err    error
	marker string // the marker file's content when Sync was called
	path   string
}

func (f *fakeCrasher) Sync() {
	f.calls = append(f.calls, "sync")
	b, _ := os.ReadFile(f.path)
	f.marker = string(b)
}

func (f *fakeCrasher) Crash() error {
	f.calls = append(f.calls, "crash")
	return f.err
}

const bootA, bootB = "3f9c1e2a-0000-4000-8000-00000000000a", "3f9c1e2a-0000-4000-8000-00000000000b"

func TestCrashTestRefusesUnarmed(t *testing.T) {
	m := newFakeMachine(t)
	m.setKexecFiles("new", false, 256<<20)
	m.write("proc/sys/kernel/random/boot_id", bootA+"\n")
	c := &fakeCrasher{path: m.TestMarkerPath()}
	if err := m.CrashTest(c, time.Now()); !errors.Is(err, ErrNotArmed) {
		t.Errorf("not armed: %v, want ErrNotArmed", err)
	}
	if len(c.calls) != 0 {
		t.Errorf("calls %q while not armed", c.calls)
	}
	if _, err := os.Stat(m.TestMarkerPath()); err == nil {
		t.Error("marker written while not armed")
	}
}

func TestCrashTestMarker(t *testing.T) {
	m := newFakeMachine(t)
	m.setKexecFiles("old", true, 256<<20)
	m.write("proc/sys/kernel/random/boot_id", bootA+"\n")
	now := time.Date(2026, 12, 7, 1, 30, 45, 0, time.UTC)
	c := &fakeCrasher{path: m.TestMarkerPath()}
	if err := m.CrashTest(c, now); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.calls, ",") != "sync,crash" {
		t.Errorf("calls %q, want sync then crash", c.calls)
	}
	var mk TestMarker
	if err := json.Unmarshal([]byte(c.marker), &mk); err != nil || !mk.Time.Equal(now) || mk.BootID != bootA {
		t.Errorf("marker at sync: %q (%v)", c.marker, err)
	}
	st, err := os.Stat(m.TestMarkerPath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("marker: %v mode %v, want 0600", err, st.Mode())
	}
	if d, err := os.Stat(m.StateDir); err != nil || d.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v, want 0700", err, d.Mode())
	}
	if _, err := os.Stat(m.TestMarkerPath() + ".tmp"); err == nil {
		t.Error("temporary marker left")
	}

	// A crash that does not happen: the error comes back, the marker goes.
	c = &fakeCrasher{path: m.TestMarkerPath(), err: errors.New("sysrq says no")}
	if err := m.CrashTest(c, now); err == nil || err.Error() != "sysrq says no" {
		t.Errorf("failed crash: %v", err)
	}
	if _, err := os.Stat(m.TestMarkerPath()); err == nil {
		t.Error("marker kept after a crash that did not happen")
	}
}

func TestSysrqCrasherWritesC(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sysrq-trigger")
	os.WriteFile(p, nil, 0o600)
	// A plain file accepts the write and nothing crashes: Crash must say so.
	if err := (SysrqCrasher{ProcRoot: dir}).Crash(); err == nil || !strings.Contains(err.Error(), "did not crash") {
		t.Errorf("Crash: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "c" {
		t.Errorf("wrote %q, want c", b)
	}
	if err := (SysrqCrasher{ProcRoot: filepath.Join(dir, "none")}).Crash(); err == nil {
		t.Error("no sysrq-trigger: no error")
	}
}

func TestReadTestResult(t *testing.T) {
	marker := `{"time":"2026-12-07T01:30:45Z","boot_id":"` + bootA + `"}` + "\n"
	for _, tc := range []struct {
		name    string
		boot    string
		dumps   []string // directory names under the dump path, with a vmcore
		pending bool
		want    string // the dump found ("" none)
	}{
		{"same boot", bootA, []string{"127.0.0.1-2026-12-07-01:31:10"}, true, ""},
		{"saved", bootB, []string{"127.0.0.1-2026-12-06-10:00:00", "127.0.0.1-2026-12-07-01:31:10"}, false, "127.0.0.1-2026-12-07-01:31:10"},
		{"saved debian, same minute", bootB, []string{"202612070130"}, false, "202612070130"},
		{"only older", bootB, []string{"127.0.0.1-2026-12-07-01:29:59", "202612070129"}, false, ""},
		{"none", bootB, nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMachine(t)
			m.setKexecFiles("old", true, 256<<20)
			m.write("proc/sys/kernel/random/boot_id", tc.boot+"\n")
			if r, err := m.ReadTestResult(&Status{}); r != nil || err != nil {
				t.Fatalf("no marker: %+v %v", r, err)
			}
			m.write("var/lib/gokdump/test.json", marker)
			dumps := m.path("srv/crash")
			for _, d := range tc.dumps {
				name := "vmcore"
				if !strings.Contains(d, "-") {
					name = "dump." + d
				}
				m.write("srv/crash/"+d+"/"+name, "dump")
			}
			st, err := m.ReadStatus(mustConfig(t, "path "+dumps))
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.ReadTestResult(st)
			if err != nil {
				t.Fatal(err)
			}
			if r.Pending != tc.pending || r.Marker.BootID != bootA {
				t.Errorf("pending %v marker %+v", r.Pending, r.Marker)
			}
			got := ""
			if r.Dump != nil {
				got = filepath.Base(r.Dump.Dir)
			}
			if got != tc.want {
				t.Errorf("dump %q, want %q", got, tc.want)
			}
			_, statErr := os.Stat(m.TestMarkerPath())
			if tc.pending != (statErr == nil) || r.Cleared == tc.pending {
				t.Errorf("marker kept: %v, cleared %v; want kept only while pending", statErr == nil, r.Cleared)
			}
		})
	}
	m := newFakeMachine(t)
	m.write("proc/sys/kernel/random/boot_id", bootB+"\n")
	m.write("var/lib/gokdump/test.json", "{}")
	if _, err := m.ReadTestResult(&Status{}); err == nil || !strings.Contains(err.Error(), "test.json") {
		t.Errorf("bad marker: %v", err)
	}
}
