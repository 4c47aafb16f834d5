package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/target"
	"github.com/gokdump/gokdump/vmcore"
)

// FlatDumpFile is the dump's name on a server that takes only streams (no SFTP)
// and has no gokdump to rebuild it: the flattened stream, for "gokdump dump -R"
// (or makedumpfile -R) there.
const FlatDumpFile = "vmcore.flat"

// RemoteTarget is a dump target reached over a connection instead of a mount (ssh).
type RemoteTarget interface {
	Connect(ctx context.Context) (RemoteDir, error)
	String() string
}

// RemoteDir is the server's file system, as a connection reaches it. Paths are the
// server's, absolute.
type RemoteDir interface {
	MkdirAll(ctx context.Context, dir string) error
	Mkdir(ctx context.Context, dir string) error // mode 0700; fails when dir exists
	// Sequential says files can only be streamed (no random access): the dump is
	// then the flattened format, through CreateStream.
	Sequential() bool
	Create(name string) (DumpWriter, error) // new, mode 0600, random access
	CreateStream(ctx context.Context, name string) (RemoteStream, error)
	WriteFile(ctx context.Context, name string, data []byte) error // mode 0600, synced
	Rename(ctx context.Context, old, new string) error
	Remove(ctx context.Context, name string) error
	// ReadDirNames lists the directories in dir, ReadFile reads a small file (at most
	// limit bytes), RemoveAll removes a directory (keep_dumps).
	ReadDirNames(ctx context.Context, dir string) ([]string, error)
	ReadFile(ctx context.Context, name string, limit int) ([]byte, error)
	RemoveAll(ctx context.Context, dir string) error
	// Reassemble rebuilds out from the flattened stream flat on the server; ok is
	// false when the server cannot (no gokdump there).
	Reassemble(ctx context.Context, flat, out string) (ok bool, err error)
	Close() error
}

// RemoteStream is a file written as a stream; Close waits until the server has it.
type RemoteStream interface {
	io.WriteCloser
	Abort(err error) error
}

// SSHTarget is the ssh target as a RemoteTarget.
type SSHTarget struct{ *target.SSH }

// Connect connects and says whether SFTP is there.
func (s SSHTarget) Connect(ctx context.Context) (RemoteDir, error) {
	d, err := s.SSH.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return sshDir{d}, nil
}

type sshDir struct{ *target.SSHDir }

func (d sshDir) Create(name string) (DumpWriter, error) { return d.SSHDir.Create(name) }
func (d sshDir) CreateStream(ctx context.Context, name string) (RemoteStream, error) {
	return d.SSHDir.CreateStream(ctx, name)
}

// saveRemote is save for a RemoteTarget: the same steps and files as on a mounted
// target, through the connection.
func (f *Flow) saveRemote(ctx context.Context, src *vmcore.File, st *dumpdir.Status, fail func(error) *dumpdir.Status) *dumpdir.Status {
	cfg := f.Config
	st.Target = f.Remote.String()
	f.logf("connecting to the dump target %s", st.Target)
	cctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
	rd, err := f.Remote.Connect(cctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	defer rd.Close()
	if rd.Sequential() {
		st.Warnings = append(st.Warnings, "the server has no SFTP: the dump is streamed in the flattened format")
		f.logf("warning: the server has no SFTP: streaming the flattened format")
	}
	base := cfg.Path
	if err := rd.MkdirAll(ctx, base); err != nil {
		return fail(err)
	}
	if msg := f.preHooks(ctx, st); msg != "" {
		st.Result, st.Error = dumpdir.Skipped, msg
		st.End, st.Action = f.Now().UTC(), string(f.actionFor(st, false))
		return st
	}
	if cfg.KeepDumps > 0 {
		pctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
		f.pruneRemote(pctx, rd, base, cfg.KeepDumps, st)
		cancel()
	}
	name := st.Host + "-" + st.Start.Format(dumpdir.DirTimeLayout)
	dir := path.Join(base, name)
	for i := 1; ; i++ {
		err := rd.Mkdir(ctx, dir)
		if err == nil {
			break
		}
		if i >= 100 {
			return fail(err)
		}
		dir = path.Join(base, name+"."+strconv.Itoa(i))
	}
	st.Dir = dir
	st.Result, st.Error = dumpdir.Incomplete, "capture in progress"
	if err := f.remoteStatus(ctx, rd, st); err != nil {
		return fail(err)
	}
	f.logf("saving to %s on %s", dir, st.Target)

	if err := f.remoteDmesg(ctx, rd, src, st); err != nil {
		st.Warnings = append(st.Warnings, "kernel log: "+err.Error())
		f.logf("warning: saving %s: %v", dumpdir.DmesgFile, err)
	}
	derr := f.remoteDump(ctx, rd, src, st)
	exit := 0
	switch {
	case derr == nil:
		st.Result, st.Error = dumpdir.Complete, ""
	case st.Dump != "":
		st.Result, st.Error, exit = dumpdir.Incomplete, derr.Error(), 1
		f.logf("the dump is incomplete: %v", derr)
	default:
		st.Result, st.Error, exit = dumpdir.Failed, derr.Error(), 1
		f.logf("saving the dump failed: %v", derr)
	}
	f.postHook(ctx, st, exit)
	st.End = f.Now().UTC()
	st.Action = string(f.actionFor(st, st.Result == dumpdir.Failed))
	if err := f.remoteStatus(ctx, rd, st); err != nil {
		f.logf("warning: writing %s: %v", dumpdir.StatusFile, err)
	}
	if st.Result == dumpdir.Complete {
		f.logf("saved %s on %s (%d bytes) in %s", path.Join(dir, st.Dump), st.Target, st.DumpBytes, st.End.Sub(st.Start).Round(time.Second))
	}
	return st
}

// remoteStatus writes the status file through a temporary name and a rename.
func (f *Flow) remoteStatus(ctx context.Context, rd RemoteDir, st *dumpdir.Status) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	name := path.Join(st.Dir, dumpdir.StatusFile)
	if err := rd.WriteFile(ctx, name+".tmp", append(data, '\n')); err != nil {
		return err
	}
	return rd.Rename(ctx, name+".tmp", name)
}

// maxRemoteLog bounds the kernel log held in memory before it is sent (the largest
// printk buffers are 32 MiB).
const maxRemoteLog = 64 << 20

func (f *Flow) remoteDmesg(ctx context.Context, rd RemoteDir, src *vmcore.File, st *dumpdir.Status) error {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dmesg)
	defer cancel()
	log, err := printk.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	pw := &panicWriter{}
	if err := log.WriteText(io.MultiWriter(&limitedBuffer{&buf, maxRemoteLog}, pw)); err != nil {
		return err
	}
	st.PanicLine = pw.found
	tmp := path.Join(st.Dir, dumpdir.DmesgIncompleteFile)
	if err := rd.WriteFile(ctx, tmp, buf.Bytes()); err != nil {
		return err
	}
	if err := rd.Rename(ctx, tmp, path.Join(st.Dir, dumpdir.DmesgFile)); err != nil {
		return err
	}
	st.Dmesg = dumpdir.DmesgFile
	if st.PanicLine != "" {
		f.logf("%s", st.PanicLine)
	}
	return nil
}

type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.n {
		return 0, fmt.Errorf("kernel log longer than %d bytes", l.n)
	}
	return l.b.Write(p)
}

// remoteDump writes vmcore-incomplete with random-access writes and renames it
// vmcore; on a server without SFTP it streams vmcore.flat and rebuilds vmcore from it
// there when the server has gokdump.
func (f *Flow) remoteDump(ctx context.Context, rd RemoteDir, src *vmcore.File, st *dumpdir.Status) (err error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dump)
	defer cancel()
	ctx, stopWatch := f.Memory.watch(ctx, f.logf)
	defer stopWatch()
	defer func() { err = f.Memory.explain(ctx, err) }()
	opts := f.collectorOptions(st)
	opts.DumpLevel = f.levels()[0]
	final := path.Join(st.Dir, dumpdir.DumpFile)
	tmp := path.Join(st.Dir, dumpdir.DumpIncompleteFile)
	var stats *collector.Stats
	if !rd.Sequential() {
		opts.Flattened = false // the server gets an ordinary dump file
		out, cerr := rd.Create(tmp)
		if cerr != nil {
			return cerr
		}
		st.Dump = dumpdir.DumpIncompleteFile
		f.logf("collecting: dump level %d, %s", opts.DumpLevel, strings.Join(f.Collector.Args, " "))
		stats, err = collector.Collect(ctx, src, out, opts)
		if serr := out.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("syncing %s: %w", tmp, serr)
		}
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing %s: %w", tmp, cerr)
		}
	} else {
		opts.Flattened = true
		flat := path.Join(st.Dir, FlatDumpFile)
		out, cerr := rd.CreateStream(ctx, flat)
		if cerr != nil {
			return cerr
		}
		st.Dump = FlatDumpFile
		f.logf("collecting (flattened): dump level %d, %s", opts.DumpLevel, strings.Join(f.Collector.Args, " "))
		stats, err = collector.Collect(ctx, src, out, opts)
		if err != nil {
			out.Abort(err)
		} else if err = out.Close(); err != nil {
			err = fmt.Errorf("streaming %s: %w", flat, err)
		}
		if err == nil {
			ok, rerr := rd.Reassemble(ctx, flat, tmp)
			switch {
			case rerr != nil:
				st.Warnings = append(st.Warnings, fmt.Sprintf("rebuilding vmcore from %s on the server: %v; %s is kept", FlatDumpFile, rerr, FlatDumpFile))
				rd.Remove(ctx, tmp)
			case !ok:
				st.Warnings = append(st.Warnings, fmt.Sprintf("the server has no SFTP and no gokdump on its PATH: the dump is %s, the flattened format; rebuild it there with gokdump dump -R vmcore < %s (or makedumpfile -R)", FlatDumpFile, FlatDumpFile))
			default:
				st.Dump = dumpdir.DumpIncompleteFile
				if err := rd.Remove(ctx, flat); err != nil {
					st.Warnings = append(st.Warnings, "removing "+flat+": "+err.Error())
				}
			}
		}
	}
	if stats != nil {
		s := *stats
		s.Warnings = nil
		st.Collector, _ = json.Marshal(&s)
		st.DumpBytes = stats.BytesWritten
	}
	if err != nil {
		if !errors.Is(err, collector.ErrIncomplete) && st.DumpBytes == 0 {
			rd.Remove(ctx, path.Join(st.Dir, st.Dump))
			st.Dump = ""
		}
		return err
	}
	if st.Dump == dumpdir.DumpIncompleteFile {
		if err := rd.Rename(ctx, tmp, final); err != nil {
			return err
		}
		st.Dump = dumpdir.DumpFile
	}
	return nil
}

// pruneRemote is keep_dumps on a server: before writing, this machine's oldest dump
// directories under base are removed so that keep-1 remain beside the new one. A
// server is shared by many machines: only directories named with this machine's host
// name whose status file carries its machine-id (ownDump) are counted and removed;
// other machines' dumps, clones' with the same host name included, are left alone.
// A failure is a warning: the dump matters more.
func (f *Flow) pruneRemote(ctx context.Context, rd RemoteDir, base string, keep int, st *dumpdir.Status) {
	warn := func(err error) {
		msg := fmt.Sprintf("keep_dumps %d on the server: %v", keep, err)
		st.Warnings = append(st.Warnings, msg)
		f.logf("warning: %s", msg)
	}
	if f.MachineID == "" {
		warn(errors.New("not applied: the image records no machine-id to tell this machine's dumps from others'"))
		return
	}
	names, err := rd.ReadDirNames(ctx, base)
	if err != nil {
		warn(err)
		return
	}
	type dump struct {
		name string
		t    time.Time
	}
	var mine []dump
	for _, n := range names {
		host, t, ok := dumpdir.ParseDirName(n)
		if !ok || host != st.Host {
			continue
		}
		name := path.Join(base, n, dumpdir.StatusFile)
		b, err := rd.ReadFile(ctx, name, maxStatusFile)
		if err != nil {
			continue // no status (or unreadable): not known to be this machine's
		}
		if s, err := dumpdir.ParseStatus(b, name); err == nil && f.ownDump(st, host, s) {
			mine = append(mine, dump{n, t})
		}
	}
	sort.SliceStable(mine, func(i, j int) bool {
		if !mine[i].t.Equal(mine[j].t) {
			return mine[i].t.Before(mine[j].t)
		}
		return mine[i].name < mine[j].name
	})
	for len(mine) > keep-1 {
		if err := rd.RemoveAll(ctx, path.Join(base, mine[0].name)); err != nil {
			warn(err)
			return
		}
		st.Pruned = append(st.Pruned, mine[0].name)
		mine = mine[1:]
	}
	if len(st.Pruned) > 0 {
		f.logf("keep_dumps %d: removed %s on the server", keep, strings.Join(st.Pruned, ", "))
	}
}

// maxStatusFile bounds reading another dump's status file.
const maxStatusFile = 1 << 20
