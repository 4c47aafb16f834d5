package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/vmcore"
)

// MarkerFile is written into a dump directory once its dump is in the store (or
// sampled out): a Marker as JSON, mode 0600. A directory with one is not uploaded
// again.
const MarkerFile = dumpdir.UploadedFile

// Marker records where a dump went.
type Marker struct {
	Store    string    `json:"store"`
	ID       string    `json:"id"`
	State    string    `json:"state"` // fleet.DumpComplete, DumpSampled or DumpMissing
	SHA256   string    `json:"sha256,omitempty"`
	Uploaded time.Time `json:"uploaded"`
	Deleted  bool      `json:"deleted,omitempty"` // the local dump file was removed (s3_delete_uploaded)
}

// Options say where and how to upload.
type Options struct {
	Store  fleet.Store
	Prefix string // the key prefix (kdump.conf's s3_prefix)
	// FullDumps is how many dumps of one signature the store keeps whole; 0 : all.
	FullDumps int
	// DeleteUploaded removes a local dump file once it is in the store whole.
	DeleteUploaded bool
	// Host is the uploading machine's facts; nil : read from Root.
	Host *fleet.Host
	// Root is where /etc/machine-id and /sys/class/dmi/id are read ("" : "/").
	Root string
	// Attempts bounds the tries of each store request (0 : 4), Backoff is the first
	// wait between them, doubled each time (0 : 1 s).
	Attempts int
	Backoff  time.Duration
	// Logf reports progress (never credentials); nil : silent.
	Logf func(format string, args ...any)
	// PutFile is passed to fleet.FileUploader stores.
	PutFile fleet.PutFileOptions
	// Now is the clock (nil : time.Now).
	Now func() time.Time
}

// Outcome is what happened to one dump directory.
type Outcome struct {
	Dir   string `json:"dir"`
	ID    string `json:"id,omitempty"`
	State string `json:"state"` // a fleet dump state, "already" (marked before), "pending" or "error"
	Error string `json:"error,omitempty"`
}

// Result is one run's account.
type Result struct {
	Store    string    `json:"store"`
	Outcomes []Outcome `json:"dumps"`
	// Unreachable is set when the store could not be reached: the dumps not yet
	// done stay pending for the next run.
	Unreachable bool   `json:"unreachable,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Pending counts the dumps still to upload.
func (r *Result) Pending() int {
	n := 0
	for _, o := range r.Outcomes {
		if o.State == "pending" || o.State == "error" {
			n++
		}
	}
	return n
}

// Count counts the outcomes in state.
func (r *Result) Count(state string) int {
	n := 0
	for _, o := range r.Outcomes {
		if o.State == state {
			n++
		}
	}
	return n
}

// errUnreachable wraps the error of a store that could not be reached.
type errUnreachable struct{ err error }

func (e errUnreachable) Error() string { return e.err.Error() }
func (e errUnreachable) Unwrap() error { return e.err }

// Pending lists the dump directories of dir that have no upload marker.
func Pending(dir string) ([]dumpdir.Dump, error) {
	dumps, err := dumpdir.List(dir)
	if err != nil {
		return nil, err
	}
	var out []dumpdir.Dump
	for _, d := range dumps {
		if _, err := os.Lstat(filepath.Join(d.Dir, MarkerFile)); err == nil {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// Run uploads every dump of dir that has no marker yet, oldest first. It returns an
// error only for what a later run would not fix by itself (the store refusing a
// request, an unreadable dump directory); an unreachable store is Result.Unreachable.
func Run(ctx context.Context, dir string, opts Options) (*Result, error) {
	if opts.Store == nil {
		return nil, errors.New("upload: no store")
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res := &Result{Store: opts.Store.String()}
	dumps, err := dumpdir.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	// One uploader at a time per dump directory (the boot's unit, the timer and a
	// hand-run upload may meet): two would share the resumable uploads' state files.
	unlock, err := lockDir(dir)
	if errors.Is(err, errBusy) {
		opts.Logf("%s: another gokdump upload is running there; leaving it to that one", dir)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	defer unlock()
	host := opts.Host
	if host == nil {
		h := HostFacts(opts.Root)
		host = &h
	}
	var errs []error
	for _, d := range dumps {
		if _, err := os.Lstat(filepath.Join(d.Dir, MarkerFile)); err == nil {
			res.Outcomes = append(res.Outcomes, Outcome{Dir: d.Dir, State: "already"})
			continue
		}
		if res.Unreachable {
			res.Outcomes = append(res.Outcomes, Outcome{Dir: d.Dir, State: "pending"})
			continue
		}
		u := &uploader{opts: opts, host: *host}
		o, err := u.one(ctx, d)
		if err != nil {
			var ue errUnreachable
			if errors.As(err, &ue) || ctx.Err() != nil {
				res.Unreachable = true
				res.Reason = err.Error()
				o.State = "pending"
			} else {
				o.State, o.Error = "error", err.Error()
				errs = append(errs, fmt.Errorf("%s: %w", d.Dir, err))
			}
		}
		res.Outcomes = append(res.Outcomes, o)
	}
	return res, errors.Join(errs...)
}

type uploader struct {
	opts Options
	host fleet.Host
}

func (u *uploader) logf(format string, args ...any) { u.opts.Logf(format, args...) }

// retry runs f up to Attempts times with doubling waits while its error says the
// store could not be reached; other errors end it at once.
func (u *uploader) retry(ctx context.Context, what string, f func() error) error {
	b := fleet.Backoff{Attempts: u.opts.Attempts, First: u.opts.Backoff, Retrying: func(err error, wait time.Duration) {
		u.logf("%s: %v; retrying in %s", what, err, wait)
	}}
	err := fleet.Retry(ctx, b, f)
	switch {
	case err == nil || !fleet.Unreachable(err):
		return err
	case ctx.Err() != nil:
		return errUnreachable{ctx.Err()}
	}
	return errUnreachable{fmt.Errorf("%s: %w (after %d attempts)", what, err, u.opts.Attempts)}
}

func (u *uploader) put(ctx context.Context, key string, b []byte) error {
	return u.retry(ctx, "writing "+key, func() error {
		return u.opts.Store.Put(ctx, key, strings.NewReader(string(b)), int64(len(b)))
	})
}

func (u *uploader) putRecord(ctx context.Context, r *fleet.Record) error {
	r.Uploaded = u.opts.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return u.put(ctx, fleet.Key(u.opts.Prefix, r.ID, fleet.MetaObject), append(b, '\n'))
}

// one uploads one dump directory.
func (u *uploader) one(ctx context.Context, d dumpdir.Dump) (Outcome, error) {
	o := Outcome{Dir: d.Dir}
	rec, status := u.record(d)
	o.ID = rec.ID
	p := u.opts.Prefix
	u.logf("%s: uploading as %s to %s", d.Dir, rec.ID, u.opts.Store)

	// 1. The record, saying the upload is under way.
	rec.Dump = &fleet.DumpState{State: fleet.DumpUploading}
	if d.File != "" {
		rec.Dump.Key, rec.Dump.Size = fleet.Key(p, rec.ID, fleet.DumpObject), d.Size
	}
	if err := u.putRecord(ctx, rec); err != nil {
		return o, err
	}
	// 2. The kernel log.
	if dm := dmesgFile(d); dm != "" {
		obj, err := u.putSmallFile(ctx, fleet.Key(p, rec.ID, fleet.DmesgObject), dm)
		if err != nil {
			return o, err
		}
		rec.Dmesg = obj
	}
	// 3. The dump, unless sampled out.
	state := fleet.DumpMissing
	var dumpObj fleet.Object
	if d.File != "" {
		full, err := u.keepFull(ctx, rec)
		if err != nil {
			return o, err
		}
		if !full {
			state = fleet.DumpSampled
			u.logf("%s: signature %s already has %d dumps in the store: sending its record and log only", d.Dir, rec.Signature(), u.opts.FullDumps)
		} else {
			obj, err := u.putDump(ctx, fleet.Key(p, rec.ID, fleet.DumpObject), d.File)
			if err != nil {
				return o, err
			}
			state, dumpObj = fleet.DumpComplete, obj
		}
	}
	// 4. The status file, 5. the final record.
	if status != nil {
		if err := u.put(ctx, fleet.Key(p, rec.ID, fleet.StatusObject), status); err != nil {
			return o, err
		}
	}
	rec.Dump = &fleet.DumpState{State: state}
	if state == fleet.DumpComplete {
		rec.Dump.Object = dumpObj
	}
	if err := u.putRecord(ctx, rec); err != nil {
		return o, err
	}
	o.State = state
	m := Marker{Store: u.opts.Store.String(), ID: rec.ID, State: state, SHA256: dumpObj.SHA256, Uploaded: u.opts.Now().UTC()}
	// The marker first: a dump removed before it is written (a full disk is likely in
	// a crash directory) would look new to the next run, which would then record the
	// crash in the store again as having no dump.
	if err := writeMarker(filepath.Join(d.Dir, MarkerFile), &m); err != nil {
		return o, err
	}
	if state == fleet.DumpComplete && u.opts.DeleteUploaded {
		if err := os.Remove(d.File); err != nil {
			u.logf("%s: removing the uploaded dump: %v", d.Dir, err)
		} else {
			m.Deleted = true
			u.logf("%s: removed %s (s3_delete_uploaded)", d.Dir, filepath.Base(d.File))
			if err := writeMarker(filepath.Join(d.Dir, MarkerFile), &m); err != nil {
				u.logf("%s: the marker does not say the dump was removed: %v", d.Dir, err)
			}
		}
	}
	u.logf("%s: %s (%s)", d.Dir, state, fleet.Key(p, rec.ID, fleet.MetaObject))
	return o, nil
}

// keepFull decides whether rec's dump goes to the store whole (fleet.ClaimFullDump:
// the first FullDumps crashes of its signature, by crash time), before the dump, so
// that concurrent uploaders see its claim.
func (u *uploader) keepFull(ctx context.Context, rec *fleet.Record) (bool, error) {
	var full bool
	err := u.retry(ctx, "claiming a full dump of signature "+rec.Signature(), func() error {
		var err error
		full, err = fleet.ClaimFullDump(ctx, u.opts.Store, u.opts.Prefix, rec.Signature(), rec.ID, u.opts.FullDumps)
		return err
	})
	return full, err
}

// putSmallFile uploads a file of at most maxSmallFile bytes and describes it.
func (u *uploader) putSmallFile(ctx context.Context, key, name string) (*fleet.Object, error) {
	b, err := readBounded(name, maxSmallFile)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if err := u.put(ctx, key, b); err != nil {
		return nil, err
	}
	return &fleet.Object{Key: key, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// maxSmallFile bounds the kernel log uploaded (a log buffer is at most a few MiB).
const maxSmallFile = 64 << 20

func readBounded(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// putDump uploads the dump file: resumably through fleet.FileUploader when the store
// has it, else streamed with Put and hashed on the way.
func (u *uploader) putDump(ctx context.Context, key, file string) (fleet.Object, error) {
	if fu, ok := u.opts.Store.(fleet.FileUploader); ok {
		po := u.opts.PutFile
		if po.Logf == nil {
			po.Logf = u.opts.Logf
		}
		var obj fleet.Object
		err := u.retry(ctx, "uploading "+key, func() error {
			var err error
			obj, err = fu.PutFile(ctx, key, file, po)
			return err
		})
		return obj, err
	}
	var obj fleet.Object
	err := u.retry(ctx, "uploading "+key, func() error {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		h := sha256.New()
		if err := u.opts.Store.Put(ctx, key, io.TeeReader(f, h), fi.Size()); err != nil {
			return err
		}
		obj = fleet.Object{Key: key, Size: fi.Size(), SHA256: hex.EncodeToString(h.Sum(nil))}
		return nil
	})
	return obj, err
}

func dmesgFile(d dumpdir.Dump) string {
	name := dumpdir.DmesgFile
	if d.Layout == dumpdir.Debian.String() {
		name = dumpdir.DebianNames(d.Time.UTC().Format(dumpdir.DebianStampLayout)).Dmesg
	}
	p := filepath.Join(d.Dir, name)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		return p
	}
	if d.Layout == dumpdir.Debian.String() {
		// The stamp is the directory's name (minute precision).
		p = filepath.Join(d.Dir, dumpdir.DebianNames(filepath.Base(d.Dir)).Dmesg)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// record builds d's Record (without its dump state) and returns the status file's
// bytes (nil when there is none).
func (u *uploader) record(d dumpdir.Dump) (*fleet.Record, []byte) {
	rec := &fleet.Record{Schema: fleet.Schema, Host: u.host}
	status, _ := readBounded(filepath.Join(d.Dir, dumpdir.StatusFile), 1<<20)
	if status != nil && json.Valid(status) {
		rec.Status = json.RawMessage(status)
	} else {
		status = nil
	}
	crashTime := d.Time
	if d.Status != nil {
		if !d.Status.CrashTime.IsZero() {
			crashTime = d.Status.CrashTime
		}
		rec.Host.KernelRelease = d.Status.KernelRelease
	}
	if d.File != "" {
		info, err := describe(d.File)
		if err != nil {
			u.logf("%s: %v (the record goes without the dump's report)", d.Dir, err)
		} else {
			rec.Info = info
			if info.Kernel.Release != "" {
				rec.Host.KernelRelease = info.Kernel.Release
			}
			rec.Host.BuildID = info.Kernel.BuildID
			if t, err := time.Parse(time.RFC3339, info.CrashTime); err == nil {
				crashTime = t
			}
		}
	}
	rec.ID = fleet.IDFor(crashTime, u.host.MachineID)
	return rec, status
}

func describe(file string) (info *crashinfo.DumpInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = nil, fmt.Errorf("%s: reading the dump: %v", file, r)
		}
	}()
	f, err := vmcore.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return crashinfo.Describe(f, crashinfo.Options{})
}

// HostFacts reads this machine's facts under root ("" : "/"): hostname, machine-id
// and the DMI product name. The kernel release and build-id are the crashed
// kernel's, from each dump.
func HostFacts(root string) fleet.Host {
	if root == "" {
		root = "/"
	}
	h := fleet.Host{}
	h.Hostname, _ = os.Hostname()
	if b, err := readBounded(filepath.Join(root, "etc/machine-id"), 4096); err == nil {
		h.MachineID = strings.TrimSpace(string(b))
	}
	if b, err := readBounded(filepath.Join(root, "sys/class/dmi/id/product_name"), 4096); err == nil {
		h.Product = strings.TrimSpace(string(b))
	}
	return h
}

func writeMarker(name string, m *Marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// LockFile is the file in a dump directory that gokdump upload holds locked while it
// runs there.
const LockFile = ".gokdump-upload.lock"

var errBusy = errors.New("locked by another uploader")

// lockDir takes dir's upload lock (flock, released when the process ends whatever
// happens), or returns errBusy at once when another process holds it.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("upload lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errBusy
		}
		return nil, fmt.Errorf("upload lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}
