package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kexec"
)

// "gokdump test" is kdumpctl test: it crashes the running kernel on purpose, so that
// the armed capture kernel saves a dump, and leaves a marker that "gokdump status"
// reads after the reboot to say whether that dump was saved.

// Crasher syncs the file systems and crashes the running kernel. SysrqCrasher is the
// real one; unit tests use a fake (a test must never crash the machine it runs on).
type Crasher interface {
	Sync()
	// Crash does not return when it works.
	Crash() error
}

// SysrqCrasher crashes the kernel by writing "c" to /proc/sysrq-trigger (allowed to
// root whatever kernel.sysrq says), as kdumpctl test does.
type SysrqCrasher struct{ ProcRoot string }

// Sync flushes every file system (sync(2)).
func (SysrqCrasher) Sync() { syscall.Sync() }

// Crash writes "c" to sysrq-trigger.
func (c SysrqCrasher) Crash() error {
	f, err := os.OpenFile(filepath.Join(c.ProcRoot, "sysrq-trigger"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("crashing the kernel: %w", err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("c")); err != nil {
		return fmt.Errorf("crashing the kernel: %w", err)
	}
	return errors.New("crashing the kernel: sysrq-trigger accepted \"c\" but the kernel did not crash")
}

// TestMarker records a test crash: when it was asked for and in which boot.
type TestMarker struct {
	Time   time.Time `json:"time"`
	BootID string    `json:"boot_id"`
}

// ErrNotArmed: no capture kernel is loaded, so a crash would save nothing.
var ErrNotArmed = errors.New("no capture kernel is loaded: a crash now would save no dump; arm first (gokdump start, or systemctl start gokdump)")

// TestMarkerPath is where the test marker is kept: test.json in the state directory.
func (s *System) TestMarkerPath() string { return filepath.Join(s.StateDir, "test.json") }

// BootID returns the running boot's id (/proc/sys/kernel/random/boot_id).
func (s *System) BootID() (string, error) {
	data, err := smallfile.Read(filepath.Join(s.ProcRoot, "sys/kernel/random/boot_id"), 4096)
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	id := strings.TrimSpace(string(data))
	if id == "" {
		return "", fmt.Errorf("boot id: %s is empty", filepath.Join(s.ProcRoot, "sys/kernel/random/boot_id"))
	}
	return id, nil
}

// CrashTest checks that a capture kernel is loaded (ErrNotArmed otherwise), records
// the test marker (0600, in a 0700 state directory, synced), syncs the file systems
// and crashes the kernel through c. It returns only when the crash did not happen;
// the marker is then removed again.
func (s *System) CrashTest(c Crasher, now time.Time) error {
	st, err := kexec.ReadStateAt(s.SysRoot)
	if err != nil {
		return err
	}
	if !st.CrashLoaded {
		return ErrNotArmed
	}
	id, err := s.BootID()
	if err != nil {
		return err
	}
	data, err := json.Marshal(TestMarker{Time: now.UTC(), BootID: id})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return fmt.Errorf("test marker: %w", err)
	}
	p := s.TestMarkerPath()
	tmp := p + ".tmp"
	if err := writeSynced(tmp, append(data, '\n')); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("test marker: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("test marker: %w", err)
	}
	if err := dumpdir.SyncDir(s.StateDir); err != nil {
		return fmt.Errorf("test marker: %w", err)
	}
	c.Sync()
	if err := c.Crash(); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestResult is what became of a test crash.
type TestResult struct {
	Marker TestMarker
	// Pending: the marker is from this boot (the crash has not happened, or did not
	// reboot); it is kept.
	Pending bool
	// Dump is the newest dump saved at or after the test crash (nil: none found).
	Dump *dumpdir.Dump
	// Unknown says why the dumps could not be looked at (a remote target), "" else.
	Unknown string
	// Cleared reports that the marker was removed; ClearErr why it could not be.
	Cleared  bool
	ClearErr error
}

// maxMarker bounds the marker file read.
const maxMarker = 64 << 10

// ReadTestResult reads the test marker (nil, nil when there is none) and, when it is
// from an earlier boot, looks for the test dump among st's dumps (those of the dump
// directory and, with dump_to_rootfs, of the root file system): one whose name's time
// is not before the marker's (to the minute: Debian's names have no seconds). The
// marker is then removed: the result is reported once.
func (s *System) ReadTestResult(st *Status) (*TestResult, error) {
	p := s.TestMarkerPath()
	data, err := smallfile.Read(p, maxMarker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("test marker: %w", err)
	}
	r := &TestResult{}
	if err := json.Unmarshal(data, &r.Marker); err != nil || r.Marker.Time.IsZero() || r.Marker.BootID == "" {
		if err == nil {
			err = errors.New("no time or boot_id")
		}
		return nil, fmt.Errorf("test marker %s: %v (remove it)", p, err)
	}
	id, err := s.BootID()
	if err != nil {
		return nil, err
	}
	if id == r.Marker.BootID {
		r.Pending = true
		return r, nil
	}
	from := r.Marker.Time.Truncate(time.Minute)
	var all []dumpdir.Dump
	all = append(all, st.Dumps...)
	all = append(all, st.RootfsNew...)
	for i := range all {
		d := all[i]
		if !d.Time.Before(from) && (r.Dump == nil || d.Time.After(r.Dump.Time)) {
			r.Dump = &d
		}
	}
	if r.Dump == nil && st.DumpDir == "" {
		r.Unknown = st.DumpDirNote
	}
	if err := os.Remove(p); err != nil {
		r.ClearErr = err
	} else {
		r.Cleared = true
	}
	return r, nil
}
