package capture

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/rawdump"
)

// fileRaw is a raw target that is a file standing in for the partition.
type fileRaw struct {
	path string
	err  error
}

func (f *fileRaw) Open(ctx context.Context) (rawdump.Device, int64, error) {
	if f.err != nil {
		return nil, 0, f.err
	}
	return rawdump.OpenDevice(f.path, 0)
}
func (f *fileRaw) String() string { return "raw PARTUUID=test" }

func newRawFlow(t *testing.T, size int64) (*testFlow, string) {
	tf := newTestFlow(t, "path /var/crash\nraw /dev/vdb1\ncore_collector makedumpfile -F -l -d 31\nkdump_post /bin/post\nfinal_action poweroff\nfailure_action halt\n")
	part := filepath.Join(t.TempDir(), "part")
	if err := os.WriteFile(part, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(part, size); err != nil {
		t.Fatal(err)
	}
	tf.Target = nil
	tf.Raw = &fileRaw{path: part}
	tf.Collector.Args = []string{"-F", "-l", "-d", "31"}
	return tf, part
}

func TestFlowRaw(t *testing.T) {
	t.Parallel()
	tf, part := newRawFlow(t, 16<<20)
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Error != "" || st.DumpBytes == 0 || st.Target != "raw PARTUUID=test" || st.Dir != "" {
		t.Fatalf("status %+v", st)
	}
	if strings.Join(tf.machine.actions, " ") != "poweroff" || strings.Join(tf.hooks.calls, ";") != "/bin/post 0" {
		t.Errorf("actions %q, hooks %q", tf.machine.actions, tf.hooks.calls)
	}
	h, err := rawdump.Pending(part)
	if err != nil || h.State != raw.Complete || h.StreamLen != st.DumpBytes || h.Host != "crashbox" ||
		h.Release != "6.1.0-56-amd64" || !h.WriteTime.Equal(testTime) || h.CrashTime.Unix() != 1764132830 {
		t.Fatalf("header %+v, %v", h, err)
	}
	// The next boot turns it into a dump directory.
	base := t.TempDir()
	res, err := rawdump.Save(rawdump.SaveOptions{Device: part, Dir: base, Target: "raw /dev/vdb1"})
	if err != nil || res.Status == nil || res.Status.Result != dumpdir.Complete {
		t.Fatalf("save: %+v, %v", res, err)
	}
	if back, err := dumpdir.ReadStatus(filepath.Join(base, "crashbox-2026-11-26-07:08:09")); err != nil || back.Result != dumpdir.Complete || back.Dump != dumpdir.DumpFile || back.Dmesg != dumpdir.DmesgFile {
		t.Errorf("status file: %+v, %v", back, err)
	}
}

// TestFlowRawLevelRetry: a dump that does not fit at the first level is written
// again from the start at the next, as makedumpfile does.
func TestFlowRawLevelRetry(t *testing.T) {
	t.Parallel()
	tf, part := newRawFlow(t, 2<<20)
	tf.Collector.Args = []string{"-F", "-d", "0,31"}
	tf.Collector.Options.Codec = compress.None // uncompressed: level 0 cannot fit
	tf.Collector.Levels = []mm.DumpLevel{0, 31}
	st := tf.run(t)
	if !strings.Contains(tf.console.String(), "retrying with level 31") {
		t.Errorf("no retry on the console")
	}
	h, err := rawdump.Pending(part)
	if err != nil || h == nil || h.State != raw.Complete || h.StreamLen != st.DumpBytes || st.Result != dumpdir.Complete {
		t.Fatalf("header %+v, %v (status %+v)", h, err, st)
	}
	res, err := rawdump.Save(rawdump.SaveOptions{Device: part, Dir: t.TempDir()})
	if err != nil || res.Status.Result != dumpdir.Complete {
		t.Fatalf("the stream written again does not save complete: %+v, %v", res.Status, err)
	}
}

func TestFlowRawFailures(t *testing.T) {
	t.Parallel()
	tf, _ := newRawFlow(t, 64<<10)
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "too small") || strings.Join(tf.machine.actions, " ") != "halt" {
		t.Errorf("a 64 KiB partition: %+v, actions %q", st, tf.machine.actions)
	}
	tf, _ = newRawFlow(t, 16<<20)
	tf.Raw = &fileRaw{err: errors.New("no partition has PARTUUID x")}
	st = tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "PARTUUID") || strings.Join(tf.machine.actions, " ") != "halt" {
		t.Errorf("missing partition: %+v, actions %q", st, tf.machine.actions)
	}
}
