package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/gokdump/gokdump/crashinfo"
)

// Schema is Record.Schema's current value; readers skip records with a larger one.
const Schema = 1

// Object names inside one crash's directory.
const (
	MetaObject   = "meta.json"
	DmesgObject  = "vmcore-dmesg.txt"
	DumpObject   = "vmcore"
	StatusObject = "gokdump-status.json"
)

// Record is crashes/<id>/meta.json: everything the fleet view shows of one crash,
// so an index can be rebuilt from these objects alone.
type Record struct {
	Schema   int       `json:"schema"`
	ID       string    `json:"id"`
	Uploaded time.Time `json:"uploaded"`
	Host     Host      `json:"host"`
	// Info is the dump's "gokdump info --json" report (nil when the dump could not
	// be read; then Status still says what happened).
	Info *crashinfo.DumpInfo `json:"info,omitempty"`
	// Status is the capture's gokdump-status.json as it was on disk.
	Status json.RawMessage `json:"status,omitempty"`
	Dmesg  *Object         `json:"dmesg,omitempty"`
	Dump   *DumpState      `json:"dump,omitempty"`
}

// Host is what the uploading machine says about itself.
type Host struct {
	Hostname      string `json:"hostname"`
	MachineID     string `json:"machine_id"`
	Product       string `json:"product,omitempty"` // DMI product name
	KernelRelease string `json:"kernel_release"`    // of the crashed kernel
	BuildID       string `json:"build_id,omitempty"`
}

// Object names a stored object with its size and SHA-256 (hex).
type Object struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// Dump states.
const (
	DumpUploading = "uploading" // meta.json written, the dump not yet complete
	DumpComplete  = "complete"  // the dump object is whole and its checksum verified
	DumpSampled   = "sampled"   // not uploaded: enough dumps of this signature exist
	DumpMissing   = "missing"   // the capture saved no readable dump
)

// DumpState is the dump object and where its upload stands.
type DumpState struct {
	State string `json:"state"`
	Object
}

// Signature is the crash signature of r ("" when the dump's log had no crash report).
func (r *Record) Signature() string {
	if r.Info == nil || r.Info.Crash == nil {
		return ""
	}
	return r.Info.Crash.Signature
}

// IDFor is the id of a crash at t on the machine with the given machine-id.
func IDFor(t time.Time, machineID string) string {
	m := strings.ToLower(strings.TrimSpace(machineID))
	if len(m) > 12 {
		m = m[:12]
	}
	if m == "" {
		m = "unknown"
	}
	return t.UTC().Format("20060102T150405Z") + "-" + m
}

// ValidID reports whether id is safe as one path element (what IDFor makes).
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Key is the key of object name of crash id under prefix.
func Key(prefix, id, name string) string { return path.Join(prefix, "crashes", id, name) }

// CrashesPrefix is the prefix under which every crash's objects are listed.
func CrashesPrefix(prefix string) string { return path.Join(prefix, "crashes") + "/" }

// SignaturePrefix is where the markers of one signature's kept dumps are.
func SignaturePrefix(prefix, signature string) string {
	return path.Join(prefix, "signatures", signature) + "/"
}

// ErrNotExist is returned (wrapped) by Store.Get and Store.Stat for a missing key.
var ErrNotExist = fs.ErrNotExist

// ObjectInfo is one listed object.
type ObjectInfo struct {
	Key      string
	Size     int64
	ETag     string // changes when the object does; for a directory, size and mtime
	Modified time.Time
}

// Store is a fleet's crash store: an S3-compatible bucket or a local directory.
// Keys use "/" whatever the store.
type Store interface {
	// Put writes key from r (size bytes, or -1 when unknown), replacing it whole:
	// readers see the old object or the new one, never a part.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key; a missing key is an error wrapping ErrNotExist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes key; a missing key is an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for each key under prefix, in key order, until fn returns an
	// error (returned as is).
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String names the store for messages ("s3://bucket/prefix", a directory).
	String() string
}

// MaxRecordSize bounds a meta.json read: a record is a few KiB; anything much larger
// is not one of ours.
const MaxRecordSize = 4 << 20

// ReadRecord reads and checks crashes/<id>/meta.json from st.
func ReadRecord(ctx context.Context, st Store, key string) (*Record, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", st, key, err)
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%s: %s: larger than %d bytes: not a crash record", st, key, MaxRecordSize)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %s: not a crash record: %w", st, key, err)
	}
	if r.Schema < 1 || r.Schema > Schema {
		return nil, fmt.Errorf("%s: %s: schema %d, this gokdump reads 1 to %d", st, key, r.Schema, Schema)
	}
	if !ValidID(r.ID) {
		return nil, fmt.Errorf("%s: %s: id %q is not a crash id", st, key, r.ID)
	}
	return &r, nil
}
