package rawdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/printk/printktest"
	"github.com/gokdump/gokdump/vmcore"
)

const testPanic = "Kernel panic - not syncing: sysrq triggered crash"

// testVmcore is a synthetic crashed kernel with a kernel log.
func testVmcore(t *testing.T) string {
	t.Helper()
	r := printktest.NewLockless(5, 12)
	for _, m := range []printktest.Message{
		{Text: "Linux version 6.1.0-56-amd64", Level: 5},
		{Text: testPanic, TimestampNs: 6_436_000_000, Level: 0},
	} {
		if _, err := r.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	cfg := synth.Default()
	cfg.Nodename = "crashbox"
	cfg.AddImage(0x1000000, r.Image)
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.WriteFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// disk is a file standing in for a disk; part is one partition of it, the only
// place a raw dump may write.
type disk struct {
	f          *os.File
	start, end int64 // the partition's bytes
	t          *testing.T
}

// newDisk makes a disk of size bytes whose partition is [start, start+psize), with
// known bytes everywhere else.
func newDisk(t *testing.T, size, start, psize int64) *disk {
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(pattern(size)); err != nil {
		t.Fatal(err)
	}
	// The partition starts out zero, as a new one would.
	if _, err := f.WriteAt(make([]byte, psize), start); err != nil {
		t.Fatal(err)
	}
	return &disk{f: f, start: start, end: start + psize, t: t}
}

func pattern(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// checkNeighbours fails the test when a byte outside the partition changed.
func (d *disk) checkNeighbours() {
	d.t.Helper()
	all, err := os.ReadFile(d.f.Name())
	if err != nil {
		d.t.Fatal(err)
	}
	want := pattern(int64(len(all)))
	if !bytes.Equal(all[:d.start], want[:d.start]) || !bytes.Equal(all[d.end:], want[d.end:]) {
		d.t.Error("bytes outside the raw partition changed")
	}
}

// part is the partition as a Device: writes outside it fail the test.
func (d *disk) part() *window { return &window{d: d} }

type window struct{ d *disk }

func (w *window) size() int64 { return w.d.end - w.d.start }

func (w *window) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= w.size() {
		return 0, fmt.Errorf("read at %d outside the partition", off)
	}
	n, err := w.d.f.ReadAt(p[:min(int64(len(p)), w.size()-off)], w.d.start+off)
	if err == nil && n < len(p) {
		err = errors.New("EOF")
	}
	return n, err
}

func (w *window) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > w.size() {
		w.d.t.Errorf("write of %d bytes at %d outside the %d-byte partition", len(p), off, w.size())
		return 0, errors.New("outside the partition")
	}
	return w.d.f.WriteAt(p, w.d.start+off)
}
func (w *window) Sync() error  { return w.d.f.Sync() }
func (w *window) Close() error { return nil }

var (
	crashTime = time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	writeTime = time.Date(2026, 12, 7, 1, 2, 9, 0, time.UTC)
	saveTime  = time.Date(2026, 12, 7, 1, 10, 0, 0, time.UTC)
)

// capture writes vmcore's dump to dev as the capture kernel does, at each level
// in turn while one does not fit.
func capture(t *testing.T, vmcorePath string, dev Device, size int64) (*raw.Header, error) {
	t.Helper()
	src, err := vmcore.Open(vmcorePath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w, err := Begin(dev, size, raw.Header{Release: "6.1.0-56-amd64", Host: "crashbox", CrashTime: crashTime, WriteTime: writeTime})
	if err != nil {
		return nil, err
	}
	opts := collector.Options{Codec: compress.LZO, Threads: 1, Flattened: true, DumpLevel: 31}
	_, cerr := collector.Collect(context.Background(), src, w, opts)
	h, err := w.Finish(cerr == nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, cerr
}

func saveTo(t *testing.T, dev Device, size int64, dir string) *SaveResult {
	t.Helper()
	res, err := save(dev, size, SaveOptions{Target: "raw /dev/test1", Dir: dir, Now: func() time.Time { return saveTime }})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return res
}

func readHeaderOf(t *testing.T, dev Device, size int64) *raw.Header {
	t.Helper()
	h, err := readHeader(dev, size)
	if err != nil || h == nil {
		t.Fatalf("header: %+v, %v", h, err)
	}
	return h
}

func TestWriteAndSave(t *testing.T) {
	core := testVmcore(t)
	d := newDisk(t, 40<<20, 1<<20, 32<<20)
	dev := d.part()
	h, err := capture(t, core, dev, dev.size())
	if err != nil {
		t.Fatal(err)
	}
	if h.State != raw.Complete || h.StreamLen == 0 || h.Release != "6.1.0-56-amd64" || h.Host != "crashbox" || !h.CrashTime.Equal(crashTime) {
		t.Fatalf("final header %+v", h)
	}
	if back := readHeaderOf(t, dev, dev.size()); *back != *h {
		t.Errorf("header on the device %+v, Finish said %+v", back, h)
	}

	// The reference: the same dump written straight to a file.
	src, err := vmcore.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ref, err := os.Create(filepath.Join(t.TempDir(), "ref"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if _, err := collector.Collect(context.Background(), src, ref, collector.Options{Codec: compress.LZO, Threads: 1, DumpLevel: 31}); err != nil {
		t.Fatal(err)
	}

	base := filepath.Join(t.TempDir(), "var/crash")
	res := saveTo(t, dev, dev.size(), base)
	st := res.Status
	if st == nil || st.Result != dumpdir.Complete || st.Error != "" || st.Dump != dumpdir.DumpFile || st.Dmesg != dumpdir.DmesgFile ||
		st.Host != "crashbox" || st.KernelRelease != "6.1.0-56-amd64" || !st.Start.Equal(writeTime) || st.Target != "raw /dev/test1" {
		t.Fatalf("status %+v", st)
	}
	dir := filepath.Join(base, "crashbox-2026-12-07-01:02:09")
	if st.Dir != dir {
		t.Errorf("dump directory %s, want %s", st.Dir, dir)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	if strings.Join(names, " ") != "gokdump-status.json vmcore vmcore-dmesg.txt" {
		t.Errorf("dump directory holds %q", names)
	}
	got, _ := os.ReadFile(filepath.Join(dir, dumpdir.DumpFile))
	want, _ := os.ReadFile(ref.Name())
	if !bytes.Equal(got, want) {
		t.Errorf("the rebuilt vmcore (%d bytes) differs from the dump written to a file (%d bytes)", len(got), len(want))
	}
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Incomplete() {
		t.Error("the rebuilt dump is marked incomplete")
	}
	f.Close()
	dmesg, _ := os.ReadFile(filepath.Join(dir, dumpdir.DmesgFile))
	if !strings.Contains(string(dmesg), testPanic) {
		t.Errorf("vmcore-dmesg.txt:\n%s", dmesg)
	}
	if back, err := dumpdir.ReadStatus(dir); err != nil || back.Result != dumpdir.Complete {
		t.Errorf("status file: %+v, %v", back, err)
	}
	if hs := readHeaderOf(t, dev, dev.size()); hs.State != raw.Saved || !hs.SavedTime.Equal(saveTime) || hs.StreamLen != h.StreamLen {
		t.Errorf("header after saving: %+v", hs)
	}

	// Saving again does nothing.
	again := saveTo(t, dev, dev.size(), base)
	if again.Status != nil || again.Header.State != raw.Saved {
		t.Errorf("second save: %+v", again)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 1 {
		t.Errorf("%s holds %d entries after saving twice, want 1", base, len(ents))
	}
	d.checkNeighbours()
}

func TestTooSmall(t *testing.T) {
	d := newDisk(t, 1<<20, 64<<10, 100<<10)
	if _, err := capture(t, testVmcore(t), d.part(), d.part().size()); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("a 100 KiB partition: %v, want too small", err)
	}
	if h, err := readHeader(d.part(), d.part().size()); h != nil || err != nil {
		t.Errorf("a partition refused as too small got a header: %+v, %v", h, err)
	}
	d.checkNeighbours()
}

// TestDoesNotFit: a dump larger than the partition ends marked incomplete, never
// written past the end, and comes back as a readable dump marked incomplete.
func TestDoesNotFit(t *testing.T) {
	d := newDisk(t, 1<<20, 64<<10, 256<<10)
	dev := d.part()
	h, err := capture(t, testVmcore(t), dev, dev.size())
	if !errors.Is(err, ErrFull) || !errors.Is(err, collector.ErrIncomplete) {
		t.Errorf("collector: %v, want ErrFull and an incomplete dump", err)
	}
	if h.State != raw.Incomplete || h.StreamLen > dev.size()-raw.StreamOffset || h.StreamLen < 100<<10 {
		t.Fatalf("header %+v", h)
	}
	base := t.TempDir()
	st := saveTo(t, dev, dev.size(), base).Status
	if st.Result != dumpdir.Incomplete || st.Dump != dumpdir.DumpIncompleteFile || !strings.Contains(st.Error, "did not fit") {
		t.Fatalf("status %+v", st)
	}
	f, err := vmcore.Open(filepath.Join(st.Dir, dumpdir.DumpIncompleteFile))
	if err != nil {
		t.Fatalf("the incomplete dump does not open: %v", err)
	}
	if !f.Incomplete() {
		t.Error("the rebuilt dump is not marked incomplete")
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(st.Dir, dumpdir.DumpFile)); err == nil {
		t.Error("an incomplete dump was named vmcore")
	}
	if back, err := dumpdir.ReadStatus(st.Dir); err != nil || back.Result != dumpdir.Incomplete {
		t.Errorf("status file: %+v, %v", back, err)
	}
	if hs := readHeaderOf(t, dev, dev.size()); hs.State != raw.Saved {
		t.Errorf("header after saving: %+v", hs)
	}
	d.checkNeighbours()
}

// TestChecksumMismatch: a stream damaged on the partition is kept, as an
// incomplete dump, with an error that says so.
func TestChecksumMismatch(t *testing.T) {
	d := newDisk(t, 40<<20, 1<<20, 32<<20)
	dev := d.part()
	h, err := capture(t, testVmcore(t), dev, dev.size())
	if err != nil {
		t.Fatal(err)
	}
	// A byte of the last page data record (not its record header).
	off := raw.StreamOffset + h.StreamLen - 100
	b := make([]byte, 1)
	dev.ReadAt(b, off)
	b[0] ^= 0xff
	dev.WriteAt(b, off)
	st := saveTo(t, dev, dev.size(), t.TempDir()).Status
	if st.Result != dumpdir.Incomplete || st.Dump != dumpdir.DumpIncompleteFile || !strings.Contains(st.Error, "CRC-32C") {
		t.Fatalf("status %+v", st)
	}
	if f, err := vmcore.Open(filepath.Join(st.Dir, dumpdir.DumpIncompleteFile)); err != nil {
		t.Errorf("the dump kept does not open: %v", err)
	} else {
		f.Close()
	}
	d.checkNeighbours()
}

// TestDamagedHeader: a header whose checksum fails is not trusted, but the stream
// is still converted (bounded by the partition) and kept as incomplete, and the
// header marked saved.
func TestDamagedHeader(t *testing.T) {
	d := newDisk(t, 40<<20, 1<<20, 32<<20)
	dev := d.part()
	if _, err := capture(t, testVmcore(t), dev, dev.size()); err != nil {
		t.Fatal(err)
	}
	dev.WriteAt([]byte("X"), 100)
	res := saveTo(t, dev, dev.size(), t.TempDir())
	var fe *raw.FormatError
	if !errors.As(res.HeaderErr, &fe) || fe.Off != 508 {
		t.Errorf("header error %v, want the checksum's FormatError", res.HeaderErr)
	}
	st := res.Status
	if st.Result != dumpdir.Incomplete || !strings.Contains(st.Error, "header checksum") || st.DumpBytes == 0 {
		t.Fatalf("status %+v", st)
	}
	if hs := readHeaderOf(t, dev, dev.size()); hs.State != raw.Saved {
		t.Errorf("header after saving: %+v", hs)
	}
	d.checkNeighbours()
}

// failAfter is a device whose writes fail once n bytes of stream went in: the
// capture kernel stopping (power lost) while it wrote.
type failAfter struct {
	*window
	n int64
}

func (f *failAfter) WriteAt(p []byte, off int64) (int, error) {
	if off >= raw.StreamOffset && off+int64(len(p)) > raw.StreamOffset+f.n {
		return 0, errors.New("the machine stopped")
	}
	return f.window.WriteAt(p, off)
}

// TestCaptureStopped: a capture that stopped while writing (state writing) gives
// back the stream up to its last checkpoint, checksum verified, as incomplete, and
// nothing of an older, longer dump beyond it.
func TestCaptureStopped(t *testing.T) {
	defer func(v int64) { checkpointEvery = v }(checkpointEvery)
	checkpointEvery = 64 << 10
	core := testVmcore(t)
	d := newDisk(t, 40<<20, 1<<20, 32<<20)
	dev := d.part()
	old, err := capture(t, core, dev, dev.size()) // an older dump, saved
	if err != nil {
		t.Fatal(err)
	}
	saveTo(t, dev, dev.size(), t.TempDir())

	src, err := vmcore.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stop := &failAfter{window: dev, n: old.StreamLen / 2}
	w, err := Begin(stop, dev.size(), raw.Header{Release: "6.1.0-56-amd64", Host: "crashbox", WriteTime: writeTime.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collector.Collect(context.Background(), src, w, collector.Options{Codec: compress.LZO, Threads: 1, Flattened: true, DumpLevel: 31}); err == nil {
		t.Fatal("the collector did not see the device fail")
	}
	// No Finish: the machine is gone.
	h := readHeaderOf(t, dev, dev.size())
	if h.State != raw.Writing || h.StreamLen == 0 || h.StreamLen > old.StreamLen/2 || h.StreamLen < old.StreamLen/2-2*checkpointEvery {
		t.Fatalf("header left by the stopped capture: %+v (stream %d of the old one's %d)", h, h.StreamLen, old.StreamLen)
	}
	st := saveTo(t, dev, dev.size(), t.TempDir()).Status
	if st.Result != dumpdir.Incomplete || !strings.Contains(st.Error, fmt.Sprintf("kept the %d bytes", h.StreamLen)) ||
		strings.Contains(st.Error, "CRC") || st.Dump != dumpdir.DumpIncompleteFile || st.DumpBytes == 0 {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(st.Error, "ends before its end record") {
		t.Errorf("the older dump's records past the checkpoint were read: %q", st.Error)
	}
	d.checkNeighbours()
}

func TestNothingThere(t *testing.T) {
	d := newDisk(t, 4<<20, 1<<20, 2<<20)
	base := t.TempDir()
	res := saveTo(t, d.part(), d.part().size(), base)
	if res.Header != nil || res.Status != nil {
		t.Errorf("an empty partition: %+v", res)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Errorf("%d entries made for no dump", len(ents))
	}
	d.checkNeighbours()
}

// TestRefusesFilesystem: a partition holding a file system (or another known
// signature) is never written.
func TestRefusesFilesystem(t *testing.T) {
	for _, c := range []struct {
		name string
		off  int64
		sig  []byte
		want string
	}{
		{"ext4", 1024 + 0x38, []byte{0x53, 0xef}, "ext2 file system"},
		{"swap", 4096 - 10, []byte("SWAPSPACE2"), "swap space"},
		{"LVM", 512, []byte("LABELONE"), "LVM physical volume"},
		{"LUKS", 0, []byte("LUKS\xba\xbe"), "LUKS"},
	} {
		p := filepath.Join(t.TempDir(), "part")
		img := make([]byte, 2<<20)
		copy(img[c.off:], c.sig)
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := OpenDevice(p, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal naming %q", c.name, err, c.want)
		}
		if _, err := Save(SaveOptions{Device: p, Dir: t.TempDir()}); err == nil {
			t.Errorf("%s: Save opened it", c.name)
		}
	}
}
