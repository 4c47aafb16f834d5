package dumpdir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Result is how a capture ended.
type Result string

const (
	// Complete: the dump is saved as vmcore.
	Complete Result = "complete"
	// Incomplete: the dump was cut short (full disk, unreadable memory, time limit) and
	// is kept as vmcore-incomplete; it may still be analysable. A status file left
	// with this result and "capture in progress" as its error means the capture kernel
	// stopped while saving.
	Incomplete Result = "incomplete"
	// Failed: no dump was saved (no target, unreadable vmcore, ...).
	Failed Result = "failed"
	// Skipped: the kdump_pre hook exited non-zero, so no dump was taken.
	Skipped Result = "skipped"
)

// StatusVersion is the version of the status file's layout; fields are only added.
const StatusVersion = 1

// Status is gokdump-status.json: what one capture did. It is written when the dump
// directory is made (result incomplete, error "capture in progress") and rewritten at
// the end, each time atomically (temporary file, fsync, rename).
//
// Warnings holds every warning of the capture, the collector's included; Collector is
// the collector's statistics (collector.Stats as JSON, without its warnings), kept as
// raw JSON so that reading a status file does not need the dump pipeline.
type Status struct {
	Version int       `json:"version"`
	Result  Result    `json:"result"`
	Error   string    `json:"error,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Host    string    `json:"host"`
	// MachineID is the crashed machine's /etc/machine-id, as start recorded it: on a
	// server shared by many machines (ssh, nfs), keep_dumps removes only the dumps
	// whose status carries this machine's.
	MachineID     string          `json:"machine_id,omitempty"`
	KernelRelease string          `json:"kernel_release,omitempty"`
	KernelVersion string          `json:"kernel_version,omitempty"`
	CrashTime     time.Time       `json:"crash_time,omitzero"`
	PanicLine     string          `json:"panic,omitempty"` // the first "Kernel panic" line of the log
	Target        string          `json:"target,omitempty"`
	Dir           string          `json:"dir,omitempty"`  // the dump directory, as mounted in the capture kernel
	Dump          string          `json:"dump,omitempty"` // DumpFile or DumpIncompleteFile
	DumpBytes     int64           `json:"dump_bytes,omitempty"`
	Dmesg         string          `json:"dmesg,omitempty"`
	CollectorArgs []string        `json:"collector_args,omitempty"`
	Collector     json.RawMessage `json:"collector,omitempty"`
	PreHookExit   *int            `json:"pre_hook_exit,omitempty"`
	PostHookExit  *int            `json:"post_hook_exit,omitempty"`
	Pruned        []string        `json:"pruned,omitempty"` // old dump directories removed (keep_dumps)
	Action        string          `json:"action,omitempty"` // final_action or failure_action taken
	Warnings      []string        `json:"warnings,omitempty"`
	// Fallback is set on a dump saved by failure_action dump_to_rootfs: it says which
	// target failed first, and why.
	Fallback *Fallback `json:"fallback,omitempty"`
}

// Fallback records the failure that made failure_action dump_to_rootfs save a dump to
// the root file system instead of the configured target.
type Fallback struct {
	Action string `json:"action"`        // the failure_action that saved it: "dump_to_rootfs"
	Target string `json:"target"`        // the configured target that failed
	Error  string `json:"error"`         // why it failed
	Dir    string `json:"dir,omitempty"` // the dump directory left on it (with its own status), if one was made
}

// maxStatusSize bounds a status file read back.
const maxStatusSize = 1 << 20

// ReadStatus reads a dump directory's status file.
func ReadStatus(dir string) (*Status, error) {
	name := filepath.Join(dir, StatusFile)
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeStatus(f, name)
}

// ParseStatus reads a status file's bytes (read from elsewhere: a server), name
// naming it in errors, with ReadStatus's checks.
func ParseStatus(b []byte, name string) (*Status, error) {
	return decodeStatus(bytes.NewReader(b), name)
}

func decodeStatus(r io.Reader, name string) (*Status, error) {
	var st Status
	dec := json.NewDecoder(io.LimitReader(r, maxStatusSize))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("dumpdir: %s: %w", name, err)
	}
	// Only the collector's object or nothing: a number there is not a status this
	// package wrote (as when Collector was a typed field).
	if c := bytes.TrimSpace(st.Collector); len(c) > 0 && c[0] != '{' && string(c) != "null" {
		return nil, fmt.Errorf("dumpdir: %s: collector: want an object, got %.20s", name, c)
	}
	switch st.Result {
	case Complete, Incomplete, Failed, Skipped:
	default:
		return nil, fmt.Errorf("dumpdir: %s: unknown result %q", name, st.Result)
	}
	return &st, nil
}

// statusReserve is the size of the first status file of a capture ("capture in
// progress"), padded with spaces (JSON allows them after the value): it holds disk
// space for the final status, which a dump that fills the target leaves no room for.
const statusReserve = 64 << 10

// WriteStatus replaces dir's status file atomically; with reserve it pads the file
// to statusReserve bytes. When the atomic replace fails (on a full disk the new file
// finds no free block), the status is written over the old file in place, into the
// space its reservation holds: a status torn by a crash is possible then, where
// otherwise there would be none.
func WriteStatus(dir string, st *Status, reserve bool) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if reserve {
		data = padSpaces(data, statusReserve)
	}
	name := filepath.Join(dir, StatusFile)
	tmp := name + ".tmp"
	err = writeFileSync(tmp, data)
	if err == nil {
		if err = os.Rename(tmp, name); err == nil {
			return SyncDir(dir)
		}
	}
	os.Remove(tmp)
	if ierr := overwriteFile(name, data); ierr != nil {
		return fmt.Errorf("%w (and writing it in place: %v)", err, ierr)
	}
	return nil
}

// overwriteFile writes data over the existing file name from its start, padded with
// spaces to the file's size so that nothing of the old contents is left after it, and
// flushes it to the disk.
func overwriteFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(padSpaces(data, int(fi.Size())), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// padSpaces returns data followed by spaces up to size bytes (data itself when it is
// that long already); JSON readers skip them after the value.
func padSpaces(data []byte, size int) []byte {
	if len(data) >= size {
		return data
	}
	return append(data, bytes.Repeat([]byte{' '}, size-len(data))...)
}

// writeFileSync writes a new 0600 file and flushes it to the disk.
func writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir flushes a directory, so the names created or renamed in it reach the disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
