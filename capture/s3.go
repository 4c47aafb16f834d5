package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/vmcore"
)

// S3Target is the bucket of s3_capture yes, as start recorded it: the capture writes
// the crash there in the fleet layout (package fleet) instead of to a disk.
type S3Target struct {
	Target service.S3Target
	Addr   string // the endpoint's address, resolved at start
	// PartSize is the multipart part size: the memory the upload holds (0 :
	// fleet.StreamPartSize).
	PartSize int64
}

func (t *S3Target) store() (*fleet.S3, error) {
	cred, err := fleet.LoadCredentials(t.Target.Credentials)
	if err != nil {
		return nil, err
	}
	ps := t.PartSize
	if ps == 0 {
		ps = fleet.StreamPartSize
	}
	return fleet.NewS3(fleet.S3Config{
		Endpoint: t.Target.Endpoint, AllowHTTP: t.Target.AllowHTTP, Bucket: t.Target.Bucket, Region: t.Target.Region,
		Credentials: cred, CAFile: t.Target.CAFile, PartSize: ps,
		DialAddr: joinHostPort(t.Addr, t.Target.Port),
	})
}

func joinHostPort(addr string, port int) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]:" + strconv.Itoa(port)
	}
	return addr + ":" + strconv.Itoa(port)
}

// saveS3 writes the crash to the bucket in the order gokdump upload uses:
// crashes/<id>/meta.json (state uploading), gokdump-status.json (capture in
// progress), vmcore-dmesg.txt, the dump (the kdump-compressed dump in its flattened
// form, which is written in order: a multipart upload holding one part in memory),
// gokdump-status.json and meta.json again, complete with the dump's size and SHA-256.
// A dump the collector cuts short is kept, marked incomplete (s3Dump). Nothing is
// written to a disk.
func (f *Flow) saveS3(ctx context.Context, src *vmcore.File, st *dumpdir.Status, fail func(error) *dumpdir.Status) *dumpdir.Status {
	t := f.S3
	store, err := t.store()
	if err != nil {
		return fail(err)
	}
	st.Target = store.String()
	if msg := f.preHooks(ctx, st); msg != "" {
		st.Result, st.Error = dumpdir.Skipped, msg
		st.End, st.Action = f.Now().UTC(), string(f.actionFor(st, false))
		return st
	}
	crashTime := st.CrashTime
	if crashTime.IsZero() {
		crashTime = st.Start
	}
	id := fleet.IDFor(crashTime, t.Target.MachineID)
	key := func(name string) string { return fleet.Key(t.Target.Prefix, id, name) }
	st.Dir = "s3://" + t.Target.Bucket + "/" + key("")
	f.logf("uploading the crash to %s as %s", st.Target, key(""))
	rec := &fleet.Record{Schema: fleet.Schema, ID: id,
		Host: fleet.Host{Hostname: st.Host, MachineID: t.Target.MachineID, KernelRelease: st.KernelRelease},
		Dump: &fleet.DumpState{State: fleet.DumpUploading, Object: fleet.Object{Key: key(fleet.DumpObject)}}}
	if info, err := crashinfo.Describe(src, crashinfo.Options{}); err == nil {
		rec.Info = info
		rec.Host.BuildID = info.Kernel.BuildID
	} else {
		st.Warnings = append(st.Warnings, "the dump's report: "+err.Error())
	}
	putJSON := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		return put(ctx, store, key(name), append(b, '\n'))
	}
	rec.Uploaded = f.Now().UTC()
	if err := putJSON(fleet.MetaObject, rec); err != nil {
		return fail(err)
	}
	st.Result, st.Error = dumpdir.Incomplete, "capture in progress"
	if err := putJSON(fleet.StatusObject, st); err != nil {
		return fail(err)
	}
	if obj, err := f.s3Dmesg(ctx, store, key(fleet.DmesgObject), src, st); err != nil {
		st.Warnings = append(st.Warnings, "kernel log: "+err.Error())
		f.logf("warning: saving %s: %v", dumpdir.DmesgFile, err)
	} else {
		rec.Dmesg = obj
	}
	full, err := sampleFull(ctx, store, t.Target, rec)
	if err != nil {
		return fail(err)
	}
	var obj fleet.Object
	var derr error
	if full {
		obj, derr = f.s3Dump(ctx, store, key(fleet.DumpObject), src, st)
	} else {
		f.logf("signature %s already has %d dumps in the bucket: sending the record and the kernel log only", rec.Signature(), t.Target.FullDumps)
		st.Warnings = append(st.Warnings, fmt.Sprintf("the dump was not uploaded: its signature %s already has s3_full_dumps %d dumps in the bucket", rec.Signature(), t.Target.FullDumps))
	}
	exit := 0
	switch {
	case !full:
		st.Result, st.Error = dumpdir.Complete, ""
		rec.Dump = &fleet.DumpState{State: fleet.DumpSampled}
	case derr == nil:
		st.Result, st.Error = dumpdir.Complete, ""
		rec.Dump = &fleet.DumpState{State: fleet.DumpComplete, Object: obj}
	case obj.Key != "":
		// Cut short but kept (s3Dump): whole as an object, incomplete as a dump.
		st.Result, st.Error, exit = dumpdir.Incomplete, derr.Error(), 1
		rec.Dump = &fleet.DumpState{State: fleet.DumpComplete, Object: obj}
		if rec.Info == nil {
			rec.Info = &crashinfo.DumpInfo{}
		}
		rec.Info.Incomplete = true
		f.logf("the dump is incomplete: %v", derr)
	default:
		st.Result, st.Error, exit = dumpdir.Failed, derr.Error(), 1
		st.Dump = ""
		rec.Dump = &fleet.DumpState{State: fleet.DumpMissing}
		f.logf("uploading the dump failed: %v", derr)
	}
	f.postHook(ctx, st, exit)
	st.End = f.Now().UTC()
	st.Action = string(f.actionFor(st, st.Result == dumpdir.Failed))
	if err := putJSON(fleet.StatusObject, st); err != nil {
		f.logf("warning: writing %s: %v", fleet.StatusObject, err)
	}
	rec.Status, _ = json.Marshal(st)
	rec.Uploaded = f.Now().UTC()
	if err := putJSON(fleet.MetaObject, rec); err != nil {
		f.logf("warning: writing %s: %v", fleet.MetaObject, err)
	}
	if st.Result == dumpdir.Complete && full {
		f.logf("saved %s in %s (%d bytes) in %s", key(fleet.DumpObject), st.Target, st.DumpBytes, st.End.Sub(st.Start).Round(time.Second))
	}
	return st
}

// sampleFull says whether rec's dump goes to the bucket whole, as gokdump upload
// decides it (fleet.ClaimFullDump).
func sampleFull(ctx context.Context, s *fleet.S3, t service.S3Target, rec *fleet.Record) (bool, error) {
	return fleet.ClaimFullDump(ctx, s, t.Prefix, rec.Signature(), rec.ID, t.FullDumps)
}

// put writes a small object, retrying (bounded) while the server cannot be reached.
func put(ctx context.Context, s *fleet.S3, key string, b []byte) error {
	return fleet.Retry(ctx, fleet.DefaultBackoff, func() error {
		return s.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
	})
}

func (f *Flow) s3Dmesg(ctx context.Context, s *fleet.S3, key string, src *vmcore.File, st *dumpdir.Status) (*fleet.Object, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dmesg)
	defer cancel()
	log, err := printk.ReadFile(src)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	pw := &panicWriter{}
	if err := log.WriteText(io.MultiWriter(&limitedBuffer{&buf, maxRemoteLog}, pw)); err != nil {
		return nil, err
	}
	st.PanicLine = pw.found
	if err := put(ctx, s, key, buf.Bytes()); err != nil {
		return nil, err
	}
	st.Dmesg = dumpdir.DmesgFile
	if st.PanicLine != "" {
		f.logf("%s", st.PanicLine)
	}
	sum := sha256.Sum256(buf.Bytes())
	return &fleet.Object{Key: key, Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}, nil
}

// s3Dump streams the flattened kdump-compressed dump to key.
func (f *Flow) s3Dump(ctx context.Context, s *fleet.S3, key string, src *vmcore.File, st *dumpdir.Status) (_ fleet.Object, err error) {
	// The stream outlives the collection: when the dump's deadline or the memory
	// watch stops the collector, the part on its way and the collector's last
	// writes (the header marked incomplete) must still reach the bucket.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), f.Timeouts.Dump+keepIncompleteTimeout)
	defer scancel()
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dump)
	defer cancel()
	ctx, stopWatch := f.Memory.watch(ctx, f.logf)
	defer stopWatch()
	defer func() { err = f.Memory.explain(ctx, err) }()
	opts := f.collectorOptions(st)
	opts.DumpLevel = f.levels()[0]
	opts.Flattened = true
	w, err := s.NewStream(sctx, key)
	if err != nil {
		return fleet.Object{}, err
	}
	st.Dump = fleet.DumpObject
	f.logf("collecting (flattened, to the bucket): dump level %d, %s", opts.DumpLevel, strings.Join(f.Collector.Args, " "))
	stats, err := collector.Collect(ctx, src, w, opts)
	if stats != nil {
		c := *stats
		c.Warnings = nil
		st.Collector, _ = json.Marshal(&c)
	}
	if err != nil && (!errors.Is(err, collector.ErrIncomplete) || w.Err() != nil) {
		// Nothing readable was written, or the bucket stopped taking parts: there
		// is nothing to keep.
		w.Abort(err)
		st.Dump = ""
		return fleet.Object{}, err
	}
	if err != nil {
		// The collector cut the dump short (a deadline, unreadable memory, the
		// capture short of memory) and marked it incomplete in its header: what was
		// sent is a readable dump, kept as the disk targets keep vmcore-incomplete.
		// The record says so (Info.Incomplete), as gokdump upload's record of an
		// incomplete dump does. Completing it gets a deadline of its own, since the
		// dump's may be what ended.
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), keepIncompleteTimeout)
		defer kcancel()
		if cerr := w.Finish(kctx); cerr != nil {
			st.Dump = ""
			return fleet.Object{}, fmt.Errorf("%w (keeping what was sent failed too: %v)", err, cerr)
		}
		st.DumpBytes = w.Size()
		f.logf("the incomplete dump is kept: %s (%d bytes)", key, w.Size())
		return fleet.Object{Key: key, Size: w.Size(), SHA256: w.SHA256()}, err
	}
	if err := w.Close(); err != nil {
		st.Dump = ""
		return fleet.Object{}, err
	}
	st.DumpBytes = w.Size()
	return fleet.Object{Key: key, Size: w.Size(), SHA256: w.SHA256()}, nil
}

// keepIncompleteTimeout bounds sending the last part of a dump cut short and
// completing it.
const keepIncompleteTimeout = 2 * time.Minute
