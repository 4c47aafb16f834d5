package capture

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/rawdump"
	"github.com/gokdump/gokdump/vmcore"
)

// RawTarget is a raw partition the dump is written to (kdump.conf's raw): Open
// finds and opens it, returning its size. *rawdump.Target is one.
type RawTarget interface {
	Open(ctx context.Context) (rawdump.Device, int64, error)
	String() string
}

// RawTargetFor is the raw target of cfg as the capture kernel reaches it: the
// partition the image builder recorded at arming.
func RawTargetFor(cfg *config.Config, p *rawdump.Partition) (RawTarget, error) {
	if p == nil || p.PartUUID == "" {
		return nil, fmt.Errorf("%s: raw %s: the capture initramfs does not say which partition it is (rebuild it with gokdump start)", cfg.File, cfg.Target.Spec)
	}
	return &rawdump.Target{Partition: p, Roots: rawdump.HostRoots, Wait: TargetWait}, nil
}

// saveRaw writes the dump to the raw partition: the header (state writing, synced),
// the collector's flattened stream bounded by the partition, the final header. There
// is no dump directory: st is what the console says, and the next boot's
// conversion writes the status file.
func (f *Flow) saveRaw(ctx context.Context, src *vmcore.File, st *dumpdir.Status) *dumpdir.Status {
	fail := func(err error) *dumpdir.Status {
		st.Result, st.Error, st.End = dumpdir.Failed, err.Error(), f.Now().UTC()
		st.Action = string(f.actionFor(st, true))
		f.logf("capture failed: %v", err)
		return st
	}
	st.Target = f.Raw.String()
	f.logf("opening the raw dump target %s", st.Target)
	tctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
	dev, size, err := f.Raw.Open(tctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	defer dev.Close()
	if msg := f.preHooks(ctx, st); msg != "" {
		st.Result, st.Error = dumpdir.Skipped, msg
		st.End, st.Action = f.Now().UTC(), string(f.actionFor(st, false))
		return st
	}
	w, err := rawdump.Begin(dev, size, raw.Header{
		Release: st.KernelRelease, Host: st.Host, CrashTime: st.CrashTime, WriteTime: st.Start,
	})
	if err != nil {
		return fail(err)
	}
	f.logf("writing the dump to the raw partition (%d bytes)", size)
	derr := f.collectRaw(ctx, src, w, st)
	h, ferr := w.Finish(derr == nil)
	st.DumpBytes = w.Len()
	exit := 0
	switch {
	case ferr != nil:
		st.Result, st.Error, exit = dumpdir.Failed, errors.Join(derr, ferr).Error(), 1
	case h.State == raw.Complete:
		st.Result, st.Error = dumpdir.Complete, ""
	default:
		if derr == nil {
			derr = errors.New("the flattened stream has no end record")
		}
		st.Result, st.Error, exit = dumpdir.Incomplete, derr.Error(), 1
		f.logf("the raw dump is incomplete: %v", derr)
	}
	f.postHook(ctx, st, exit)
	st.End = f.Now().UTC()
	st.Action = string(f.actionFor(st, st.Result == dumpdir.Failed))
	if st.Result != dumpdir.Failed {
		f.logf("wrote a %s raw dump of %d bytes in %s; the next boot's gokdump start (or gokdump save-raw) saves it under %s",
			st.Result, st.DumpBytes, st.End.Sub(st.Start).Round(time.Second), f.Config.Path)
	}
	return st
}

// collectRaw runs the collector into w with core_collector's dump levels, starting
// the stream again at the next level when one does not fit, as makedumpfile does.
func (f *Flow) collectRaw(ctx context.Context, src *vmcore.File, w *rawdump.Writer, st *dumpdir.Status) error {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dump)
	defer cancel()
	opts := f.collectorOptions(st)
	opts.Flattened = true
	return f.collect(ctx, src, w, opts, st, func() error { w.Reset(); return nil })
}
