package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/printk/printktest"
	"github.com/gokdump/gokdump/vmcore"
	"github.com/gokdump/gokdump/volume"
)

const ringPhys = 0x1000000

const testPanic = "Kernel panic - not syncing: sysrq triggered crash"

// testVmcore writes a synthetic crashed kernel with a kernel log and returns its path.
func testVmcore(t *testing.T) string {
	t.Helper()
	r := printktest.NewLockless(5, 12)
	for _, m := range []printktest.Message{
		{Text: "Linux version 6.1.0-56-amd64", Level: 5},
		{Text: "sysrq: Trigger a crash", TimestampNs: 6_435_921_504, Level: 6},
		{Text: testPanic, TimestampNs: 6_436_000_000, Level: 0},
		{Text: "Kernel panic - not syncing: a second one", TimestampNs: 6_437_000_000, Level: 0},
	} {
		if _, err := r.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	cfg := synth.Default()
	cfg.Nodename = "crashbox"
	cfg.AddImage(ringPhys, r.Image)
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

// dirTarget is a target that is a directory (or fails to mount).
type dirTarget struct {
	dir       string
	err       error
	mounted   bool
	unmounted bool
}

func (d *dirTarget) Mount(ctx context.Context) (string, error) {
	if d.err != nil {
		return "", d.err
	}
	d.mounted = true
	return d.dir, nil
}
func (d *dirTarget) Unmount() error { d.unmounted = true; return nil }
func (d *dirTarget) String() string { return "ext4 LABEL=test" }

// machine records the action taken.
type machine struct{ actions []string }

func (m *machine) Reboot() error   { m.actions = append(m.actions, "reboot"); return nil }
func (m *machine) Halt() error     { m.actions = append(m.actions, "halt"); return nil }
func (m *machine) PowerOff() error { m.actions = append(m.actions, "poweroff"); return nil }

// hooks records hook runs and answers with fixed exit codes.
type hooks struct {
	mu    sync.Mutex
	calls []string
	exit  map[string]int
}

func (h *hooks) run(ctx context.Context, path string, args ...string) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, strings.Join(append([]string{path}, args...), " "))
	return h.exit[path], nil
}

var testTime = time.Date(2026, 11, 26, 7, 8, 9, 0, time.UTC)

type testFlow struct {
	*Flow
	target  *dirTarget
	machine *machine
	hooks   *hooks
	console *strings.Builder
	base    string
}

func newTestFlow(t *testing.T, conf string) *testFlow {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(conf), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	tf := &testFlow{
		target:  &dirTarget{dir: root},
		machine: &machine{},
		hooks:   &hooks{exit: map[string]int{}},
		console: &strings.Builder{},
		base:    filepath.Join(root, cfg.Path),
	}
	tf.Flow = &Flow{
		Config: cfg,
		Collector: Collector{
			Args:    []string{"-l", "-d", "31"},
			Options: collector.Options{Codec: compress.LZO, Threads: 2},
			Levels:  []mm.DumpLevel{31},
		},
		Target:  tf.target,
		Vmcore:  testVmcore(t),
		Machine: tf.machine,
		Console: tf.console,
		Now:     func() time.Time { return testTime },
		RunHook: tf.hooks.run,
	}
	return tf
}

func (tf *testFlow) run(t *testing.T) *dumpdir.Status {
	t.Helper()
	st, err := tf.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("console:\n%s", tf.console.String())
	return st
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

func wantFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.Sorted(slices.Values(want))
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

func TestFlowComplete(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /var/crash\nkdump_post /bin/post\nfinal_action poweroff\nfailure_action halt\n")
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Error != "" {
		t.Fatalf("result %s %q, want complete", st.Result, st.Error)
	}
	dir := filepath.Join(tf.base, "crashbox-2026-11-26-07:08:09")
	if st.Dir != dir {
		t.Errorf("dump dir %s, want %s", st.Dir, dir)
	}
	wantFiles(t, dir, dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile)
	wantMode(t, dir, 0o700)
	for _, n := range []string{dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile} {
		wantMode(t, filepath.Join(dir, n), 0o600)
	}
	dmesg, err := os.ReadFile(filepath.Join(dir, dumpdir.DmesgFile))
	if err != nil || !strings.Contains(string(dmesg), "[    6.436000] "+testPanic+"\n") {
		t.Errorf("%s: %v\n%s", dumpdir.DmesgFile, err, dmesg)
	}
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Incomplete() {
		t.Errorf("dump format %s incomplete %v, want a complete kdump-compressed file", f.Format, f.Incomplete())
	}
	if f.Kdump.DumpLevel() != 31 {
		t.Errorf("dump level %d, want 31", f.Kdump.DumpLevel())
	}
	back, err := dumpdir.ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Result != dumpdir.Complete || back.PanicLine != testPanic || back.Host != "crashbox" ||
		back.KernelRelease != "6.1.0-56-amd64" || back.Collector == nil || back.Dump != dumpdir.DumpFile ||
		back.DumpBytes == 0 || back.Action != "poweroff" || back.CrashTime.Unix() != 1764132830 ||
		!back.Start.Equal(testTime) || back.PostHookExit == nil || *back.PostHookExit != 0 {
		t.Errorf("status file: %+v", back)
	}
	if fi, _ := os.Stat(filepath.Join(dir, dumpdir.DumpFile)); back.DumpBytes != fi.Size() {
		t.Errorf("status dump_bytes %d, file has %d", back.DumpBytes, fi.Size())
	}
	if strings.Join(tf.hooks.calls, ";") != "/bin/post 0" {
		t.Errorf("hooks ran: %q, want the post hook with 0", tf.hooks.calls)
	}
	if strings.Join(tf.machine.actions, " ") != "poweroff" {
		t.Errorf("actions %q, want final_action poweroff", tf.machine.actions)
	}
	if !tf.target.unmounted {
		t.Error("the target was not unmounted")
	}
	if !strings.Contains(tf.console.String(), "gokdump: "+testPanic) {
		t.Error("the console does not show the panic line")
	}
}

func TestFlowPreHookSkips(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "kdump_pre /bin/pre\nkdump_post /bin/post\nfinal_action halt\nfailure_action poweroff\n")
	tf.hooks.exit["/bin/pre"] = 1
	st := tf.run(t)
	if st.Result != dumpdir.Skipped || st.PreHookExit == nil || *st.PreHookExit != 1 {
		t.Fatalf("result %s, pre exit %v; want skipped after exit 1", st.Result, st.PreHookExit)
	}
	wantFiles(t, st.Dir, dumpdir.StatusFile)
	if strings.Join(tf.hooks.calls, ";") != "/bin/pre" {
		t.Errorf("hooks ran: %q, want only the pre hook", tf.hooks.calls)
	}
	if strings.Join(tf.machine.actions, " ") != "halt" {
		t.Errorf("actions %q, want final_action halt", tf.machine.actions)
	}
	if back, err := dumpdir.ReadStatus(st.Dir); err != nil || back.Result != dumpdir.Skipped {
		t.Errorf("status file: %+v %v", back, err)
	}
}

// fullDisk is a dump file on a disk with room for limit bytes.
type fullDisk struct {
	*os.File
	limit int64
}

func (d *fullDisk) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= d.limit {
		return d.File.WriteAt(p, off)
	}
	n := 0
	if off < d.limit {
		n, _ = d.File.WriteAt(p[:d.limit-off], off)
	}
	return n, &os.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
}

func (d *fullDisk) Write(p []byte) (int, error) {
	return 0, errors.New("sequential write not expected")
}

func TestFlowDiskFull(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "kdump_post /bin/post\nfinal_action poweroff\nfailure_action halt\n")
	tf.CreateDump = func(name string) (DumpWriter, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		return &fullDisk{File: f, limit: 20 << 10}, nil
	}
	st := tf.run(t)
	if st.Result != dumpdir.Incomplete || !strings.Contains(st.Error, "no space left") {
		t.Fatalf("result %s %q, want incomplete with ENOSPC", st.Result, st.Error)
	}
	wantFiles(t, st.Dir, dumpdir.StatusFile, dumpdir.DumpIncompleteFile, dumpdir.DmesgFile)
	wantMode(t, filepath.Join(st.Dir, dumpdir.DumpIncompleteFile), 0o600)
	f, err := vmcore.Open(filepath.Join(st.Dir, dumpdir.DumpIncompleteFile))
	if err != nil {
		t.Fatalf("the incomplete dump does not open: %v", err)
	}
	if !f.Incomplete() {
		t.Error("vmcore-incomplete is not marked incomplete in its header")
	}
	f.Close()
	back, err := dumpdir.ReadStatus(st.Dir)
	if err != nil || back.Result != dumpdir.Incomplete || back.Dump != dumpdir.DumpIncompleteFile || back.Action != "halt" {
		t.Errorf("status file: %+v %v", back, err)
	}
	if strings.Join(tf.hooks.calls, ";") != "/bin/post 1" {
		t.Errorf("hooks ran: %q, want the post hook with 1", tf.hooks.calls)
	}
	if strings.Join(tf.machine.actions, " ") != "halt" {
		t.Errorf("actions %q, want failure_action halt", tf.machine.actions)
	}
}

func TestFlowSizeLimitRetriesNextLevel(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "failure_action halt\n")
	tf.Collector.Levels = []mm.DumpLevel{0, 31}
	tf.Collector.Options.SizeLimit = 1 // nothing fits
	st := tf.run(t)
	if st.Result != dumpdir.Incomplete {
		t.Fatalf("result %s, want incomplete", st.Result)
	}
	if c := tf.console.String(); !strings.Contains(c, "dump level 0 does not fit") || !strings.Contains(c, "retrying with level 31") {
		t.Errorf("console does not show the retry:\n%s", c)
	}
	var stats collector.Stats
	if st.Collector == nil || json.Unmarshal(st.Collector, &stats) != nil || stats.DumpLevel != 31 {
		t.Errorf("collector stats %s, want the level-31 attempt", st.Collector)
	}
}

func TestFlowTargetMissing(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "final_action reboot\nfailure_action poweroff\nkdump_pre /bin/pre\n")
	tf.target.err = errors.New("target: device not found: no LABEL=nothere after 30s")
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "LABEL=nothere") {
		t.Fatalf("result %s %q, want failed naming the device", st.Result, st.Error)
	}
	if len(tf.hooks.calls) != 0 {
		t.Errorf("hooks ran without a target: %q", tf.hooks.calls)
	}
	if strings.Join(tf.machine.actions, " ") != "poweroff" {
		t.Errorf("actions %q, want failure_action poweroff", tf.machine.actions)
	}
	if c := tf.console.String(); !strings.Contains(c, "capture failed") || !strings.Contains(c, "action: poweroff") {
		t.Errorf("console:\n%s", c)
	}
}

func TestFlowNoTarget(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "")
	tf.Target, tf.TargetErr = nil, errors.New("ssh targets are not implemented yet")
	st := tf.run(t)
	if st.Result != dumpdir.Failed || st.Error != tf.TargetErr.Error() {
		t.Errorf("result %s %q", st.Result, st.Error)
	}
	if strings.Join(tf.machine.actions, " ") != "reboot" {
		t.Errorf("actions %q, want the default failure_action reboot", tf.machine.actions)
	}
}

func TestFlowBadVmcore(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "failure_action halt\n")
	tf.Vmcore = filepath.Join(t.TempDir(), "vmcore")
	os.WriteFile(tf.Vmcore, []byte("not a core"), 0o600)
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, tf.Vmcore) || tf.target.mounted {
		t.Errorf("result %s %q mounted %v", st.Result, st.Error, tf.target.mounted)
	}
}

func TestFlowKeepDumps(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /dumps\nkeep_dumps 2\n")
	old := []string{"a-2020-01-01-00:00:00", "b-2021-01-01-00:00:00", "c-2019-06-01-12:00:00"}
	for _, d := range append(old, "lost+found", "notes-2020") {
		if err := os.MkdirAll(filepath.Join(tf.base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	if strings.Join(st.Pruned, " ") != "c-2019-06-01-12:00:00 a-2020-01-01-00:00:00" {
		t.Errorf("pruned %q, want the two oldest", st.Pruned)
	}
	wantFiles(t, tf.base, "b-2021-01-01-00:00:00", "crashbox-2026-11-26-07:08:09", "lost+found", "notes-2020")
}

// TestFlowKeepDumpsNFS: on an nfs export many machines may share, keep_dumps counts
// and removes only this machine's dumps (its host name and machine-id in the status),
// not another machine's or a clone's with the same host name.
func TestFlowKeepDumpsNFS(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "nfs 10.0.0.1:/export\npath /dumps\nkeep_dumps 2\n")
	tf.MachineID = "0123456789abcdef0123456789abcdef"
	for d, id := range map[string]string{
		"crashbox-2020-01-01-00:00:00": tf.MachineID,
		"crashbox-2021-01-01-00:00:00": tf.MachineID,
		"crashbox-2019-01-01-00:00:00": "fedcba9876543210fedcba9876543210",
		"otherbox-2018-01-01-00:00:00": "fedcba9876543210fedcba9876543210",
		"crashbox-2017-01-01-00:00:00": "",
	} {
		os.MkdirAll(filepath.Join(tf.base, d), 0o700)
		b, _ := json.Marshal(dumpdir.Status{Result: dumpdir.Complete, Host: "crashbox", MachineID: id})
		os.WriteFile(filepath.Join(tf.base, d, dumpdir.StatusFile), b, 0o600)
	}
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	if strings.Join(st.Pruned, " ") != "crashbox-2020-01-01-00:00:00" {
		t.Errorf("pruned %q, want only this machine's oldest", st.Pruned)
	}
	wantFiles(t, tf.base, "crashbox-2017-01-01-00:00:00", "crashbox-2019-01-01-00:00:00", "crashbox-2021-01-01-00:00:00",
		"crashbox-2026-11-26-07:08:09", "otherbox-2018-01-01-00:00:00")
}

// TestFlowKeepDumpsSparesNotUploaded: with uploads set up (gokdump upload), keep_dumps
// removes uploaded dumps and never one still waiting for its upload, which it names
// in a warning.
func TestFlowKeepDumpsSparesNotUploaded(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /dumps\nkeep_dumps 2\ns3_endpoint https://s3.example.invalid\ns3_bucket crashes\ns3_credentials /etc/gokdump/s3.cred\n")
	old := []string{"a-2020-01-01-00:00:00", "b-2021-01-01-00:00:00", "c-2019-06-01-12:00:00"}
	for _, d := range old {
		if err := os.MkdirAll(filepath.Join(tf.base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest (c) is not uploaded; a and b are.
	for _, d := range old[:2] {
		if err := os.WriteFile(filepath.Join(tf.base, d, dumpdir.UploadedFile), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
	if strings.Join(st.Pruned, " ") != "a-2020-01-01-00:00:00 b-2021-01-01-00:00:00" {
		t.Errorf("pruned %q, want the two uploaded ones", st.Pruned)
	}
	if w := strings.Join(st.Warnings, "\n"); !strings.Contains(w, "kept c-2019-06-01-12:00:00: not yet uploaded") {
		t.Errorf("warnings %q do not name the dump kept for its upload", w)
	}
	wantFiles(t, tf.base, "c-2019-06-01-12:00:00", "crashbox-2026-11-26-07:08:09")
}

func TestFlowFailureActions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ action, want, console string }{
		{"dump_to_rootfs", "reboot", "records no root file system"},
		{"shell", "reboot", "not in this initramfs"},
		{"halt", "halt", "action: halt"},
	} {
		t.Run(c.action, func(t *testing.T) {
			tf := newTestFlow(t, "ext4 LABEL=test\nfailure_action "+c.action+"\n")
			tf.target.err = errors.New("no disk")
			tf.Shell = filepath.Join(t.TempDir(), "sh")
			tf.run(t)
			if strings.Join(tf.machine.actions, " ") != c.want || !strings.Contains(tf.console.String(), c.console) {
				t.Errorf("actions %q, console:\n%s", tf.machine.actions, tf.console.String())
			}
		})
	}
}

// TestExecHook runs real hooks: the path is executed directly, $1 is the argument, and
// the exit status comes back.
func TestExecHook(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Fatalf("the test hook is a /bin/sh script: %v", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hook := filepath.Join(dir, "hook with space")
	script := fmt.Sprintf("#!/bin/sh\necho \"args:$#:$1\" > '%s'\nexit 3\n", out)
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &Flow{Console: &strings.Builder{}}
	code, err := f.execHook(context.Background(), hook, "1")
	if err != nil || code != 3 {
		t.Fatalf("execHook = %d, %v; want 3", code, err)
	}
	if got, _ := os.ReadFile(out); string(got) != "args:1:1\n" {
		t.Errorf("the hook saw %q", got)
	}
	if _, err := f.execHook(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing hook gave no error")
	}
	// A hook that hangs is killed when its time is up.
	slow := filepath.Join(dir, "slow")
	os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755)
	f = &Flow{Console: &strings.Builder{}, Timeouts: Timeouts{Hook: 300 * time.Millisecond}}
	f.defaults()
	start := time.Now()
	if _, err := f.hook(context.Background(), "kdump_pre", slow); err == nil {
		t.Error("a hook past its time limit gave no error")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the hung hook held the flow for %s", time.Since(start))
	}
}

func TestPanicWriter(t *testing.T) {
	p := &panicWriter{}
	for _, chunk := range []string{"[ 1.0] hello\n[ 2.0] Kernel pa", "nic - not syncing: Fatal exception\n[ 3.0] Kernel panic - not syncing: second\n"} {
		p.Write([]byte(chunk))
	}
	if p.found != "Kernel panic - not syncing: Fatal exception" {
		t.Errorf("found %q", p.found)
	}
	long := &panicWriter{}
	long.Write([]byte(strings.Repeat("x", 200<<10) + "\nKernel panic - not syncing: after a long line\n"))
	if long.found != "Kernel panic - not syncing: after a long line" || cap(long.line) > 2*maxLogLine {
		t.Errorf("after a long line: found %q, buffer %d", long.found, cap(long.line))
	}
}

func TestProgressLines(t *testing.T) {
	var b strings.Builder
	now := testTime
	p := &progressLines{w: &b, every: 10 * time.Second, now: func() time.Time { return now }}
	for i := 0; i <= 100; i += 10 {
		fmt.Fprintf(p, "\rCopying data : [%5.1f %%]", float64(i))
		now = now.Add(3 * time.Second)
	}
	fmt.Fprintln(p)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) < 3 || len(lines) > 5 || lines[len(lines)-1] != "gokdump: Copying data : [100.0 %]" {
		t.Errorf("progress lines:\n%s", b.String())
	}
}

func TestFlowLoadsModulesFirst(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "")
	var loaded []string
	tf.Modules = []string{"/lib/modules/r/virtio_blk.ko", "/lib/modules/r/ext4.ko"}
	tf.LoadModule = func(path string) error {
		if tf.target.mounted {
			t.Errorf("module %s loaded after the target was mounted", path)
		}
		loaded = append(loaded, path)
		if strings.HasSuffix(path, "virtio_blk.ko") {
			return errors.New("exec format error")
		}
		return nil
	}
	st := tf.run(t)
	if st.Result != dumpdir.Complete || strings.Join(loaded, ",") != strings.Join(tf.Modules, ",") {
		t.Errorf("result %s, loaded %q", st.Result, loaded)
	}
	if len(st.Warnings) == 0 || !strings.Contains(st.Warnings[0], "virtio_blk.ko: exec format error") {
		t.Errorf("warnings %q lack the failed module", st.Warnings)
	}
}

// TestFlowSameSecond: two captures in one second (a crash loop) keep both dumps.
func TestFlowSameSecond(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "final_action halt\n")
	first := tf.run(t)
	tf.target.mounted = false
	second := tf.run(t)
	if first.Result != dumpdir.Complete || second.Result != dumpdir.Complete || first.Dir == second.Dir {
		t.Fatalf("results %s %s in %s and %s", first.Result, second.Result, first.Dir, second.Dir)
	}
	if filepath.Base(second.Dir) != "crashbox-2026-11-26-07:08:09.1" {
		t.Errorf("second dump in %s", second.Dir)
	}
	ds, err := dumpdir.List(tf.base)
	if err != nil || len(ds) != 2 || ds[1].Dir != second.Dir {
		t.Errorf("List: %+v %v", ds, err)
	}
}

// A path on a file system the first kernel mounted below "/" (path /var/crash on a
// separate /var): the capture kernel mounts that file system at its root, and the
// builder's Dir says where the dumps go there.
func TestFlowDirOnTarget(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /var/crash\nfinal_action poweroff\n")
	tf.Dir = "/crash"
	st := tf.run(t)
	if st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q, want complete", st.Result, st.Error)
	}
	want := filepath.Join(tf.target.dir, "crash", "crashbox-2026-11-26-07:08:09")
	if st.Dir != want {
		t.Errorf("dump dir %s, want %s", st.Dir, want)
	}
	wantFiles(t, want, dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile)
	if _, err := os.Stat(filepath.Join(tf.target.dir, "var")); !os.IsNotExist(err) {
		t.Errorf("the configured path was created on the target too: %v", err)
	}
}

// TestFlowWarningsOnce: a collector warning (the synthetic kernel's struct pages cannot
// be classified) is in the status file's warnings, and only there: not again in the
// collector's statistics.
func TestFlowWarningsOnce(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "final_action halt\n")
	st := tf.run(t)
	data, err := os.ReadFile(filepath.Join(st.Dir, dumpdir.StatusFile))
	if err != nil {
		t.Fatal(err)
	}
	back, err := dumpdir.ReadStatus(st.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var warning string
	for _, w := range back.Warnings {
		if strings.Contains(w, "cannot classify pages") {
			warning = w
		}
	}
	if warning == "" {
		t.Fatalf("status warnings %q lack the collector's", back.Warnings)
	}
	quoted, _ := json.Marshal(warning)
	if n := strings.Count(string(data), string(quoted)); n != 1 {
		t.Errorf("%s holds %s %d times, want once:\n%s", dumpdir.StatusFile, quoted, n, data)
	}
	var stats collector.Stats
	if err := json.Unmarshal(back.Collector, &stats); err != nil || stats.DumpLevel != 31 || len(stats.Warnings) != 0 {
		t.Errorf("collector stats %s (%v), want level 31 without warnings", back.Collector, err)
	}
}

// TestFlowDmesgTimeout: when reading the kernel log takes longer than its bound, the
// capture goes on without it, and the reader left behind touches nothing the capture
// goes on with: go test -race saw it set the status's panic line while the status
// was being written.
func TestFlowDmesgTimeout(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "final_action halt\n")
	tf.Timeouts.Dmesg = time.Nanosecond
	// The dump waits for the reader left behind to finish and then fails, so the
	// status is written right after the reader is done, with nothing between them
	// that go test -race takes for an order.
	tf.CreateDump = func(name string) (DumpWriter, error) {
		left := filepath.Join(filepath.Dir(name), dumpdir.DmesgIncompleteFile)
		for i := 0; i < 200; i++ {
			if b, _ := os.ReadFile(left); strings.Contains(string(b), testPanic) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		return nil, errors.New("no room for the dump")
	}
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "no room for the dump") {
		t.Errorf("result %s %q, want the dump's failure", st.Result, st.Error)
	}
	if !strings.Contains(strings.Join(st.Warnings, "\n"), "kernel log: gave up after") {
		t.Errorf("warnings %q lack the kernel log's time limit", st.Warnings)
	}
	back, err := dumpdir.ReadStatus(st.Dir)
	if err != nil || back.Dmesg != "" || back.PanicLine != "" {
		t.Errorf("status file: dmesg %q, panic %q (%v); want neither from a log given up on", back.Dmesg, back.PanicLine, err)
	}
}

// rootfsFlow is a test flow with failure_action dump_to_rootfs and a root file system
// (a directory) beside the target.
func rootfsFlow(t *testing.T, conf string) (*testFlow, *dirTarget) {
	t.Helper()
	tf := newTestFlow(t, "ext4 LABEL=dumps\npath /var/crash\nfailure_action dump_to_rootfs\n"+conf)
	root := &dirTarget{dir: t.TempDir()}
	tf.Rootfs = root
	return tf, root
}

func TestFlowDumpToRootfsTargetMissing(t *testing.T) {
	t.Parallel()
	tf, root := rootfsFlow(t, "final_action poweroff\nkdump_pre /bin/pre\nkdump_post /bin/post\n")
	tf.target.err = errors.New("target: device not found: no LABEL=dumps after 30s")
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Fallback == nil {
		t.Fatalf("result %s %q fallback %+v, want a complete dump saved by dump_to_rootfs", st.Result, st.Error, st.Fallback)
	}
	dir := filepath.Join(root.dir, "var/crash", "crashbox-2026-11-26-07:08:09")
	if st.Dir != dir {
		t.Errorf("dump dir %s, want %s", st.Dir, dir)
	}
	wantFiles(t, dir, dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile)
	wantMode(t, filepath.Join(root.dir, "var/crash"), 0o700)
	wantMode(t, filepath.Join(dir, dumpdir.DumpFile), 0o600)
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Incomplete() {
		t.Error("the dump on the root file system is marked incomplete")
	}
	f.Close()
	back, err := dumpdir.ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Result != dumpdir.Complete || back.Action != "poweroff" || back.Fallback == nil ||
		back.Fallback.Action != "dump_to_rootfs" || back.Fallback.Target != "ext4 LABEL=test" ||
		!strings.Contains(back.Fallback.Error, "no LABEL=dumps") || back.Fallback.Dir != "" ||
		back.Host != "crashbox" || back.KernelRelease != "6.1.0-56-amd64" || back.PanicLine != testPanic {
		t.Errorf("status file: %+v fallback %+v", back, back.Fallback)
	}
	// The hooks belong to the configured target's save: the target never mounted, so
	// neither ran, and the root file system's save runs none.
	if len(tf.hooks.calls) != 0 {
		t.Errorf("hooks ran: %q", tf.hooks.calls)
	}
	if !root.mounted || !root.unmounted {
		t.Errorf("root file system mounted %v unmounted %v", root.mounted, root.unmounted)
	}
	if strings.Join(tf.machine.actions, " ") != "poweroff" {
		t.Errorf("actions %q, want final_action poweroff after the rootfs save", tf.machine.actions)
	}
	c := tf.console.String()
	for _, want := range []string{"saving to ext4 LABEL=test failed", "saving to the root file system instead", "saved on the root file system in " + dir, "action: poweroff"} {
		if !strings.Contains(c, want) {
			t.Errorf("console lacks %q", want)
		}
	}
}

// TestFlowDumpToRootfsDiskFull: the target fills up; its incomplete dump stays there,
// marked so, and a complete one is saved on the root file system.
func TestFlowDumpToRootfsDiskFull(t *testing.T) {
	t.Parallel()
	tf, root := rootfsFlow(t, "final_action halt\nkdump_post /bin/post\n")
	tf.CreateDump = func(name string) (DumpWriter, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil || strings.HasPrefix(name, root.dir) {
			return f, err
		}
		return &fullDisk{File: f, limit: 20 << 10}, nil
	}
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Fallback == nil || !strings.Contains(st.Fallback.Error, "no space left") {
		t.Fatalf("result %s %q fallback %+v", st.Result, st.Error, st.Fallback)
	}
	first := filepath.Join(tf.base, "crashbox-2026-11-26-07:08:09")
	if st.Fallback.Dir != first {
		t.Errorf("fallback dir %q, want %s", st.Fallback.Dir, first)
	}
	wantFiles(t, first, dumpdir.StatusFile, dumpdir.DumpIncompleteFile, dumpdir.DmesgFile)
	f, err := vmcore.Open(filepath.Join(first, dumpdir.DumpIncompleteFile))
	if err != nil || !f.Incomplete() {
		t.Errorf("the target's dump: %v, want one that opens and is marked incomplete", err)
	}
	if f != nil {
		f.Close()
	}
	if back, err := dumpdir.ReadStatus(first); err != nil || back.Result != dumpdir.Incomplete || back.Action != "dump_to_rootfs" {
		t.Errorf("the target's status: %+v %v", back, err)
	}
	wantFiles(t, st.Dir, dumpdir.StatusFile, dumpdir.DumpFile, dumpdir.DmesgFile)
	if !strings.HasPrefix(st.Dir, root.dir) {
		t.Errorf("second dump in %s, not on the root file system %s", st.Dir, root.dir)
	}
	if strings.Join(tf.hooks.calls, ";") != "/bin/post 1" {
		t.Errorf("hooks ran: %q, want the post hook once, for the target's save", tf.hooks.calls)
	}
	if strings.Join(tf.machine.actions, " ") != "halt" {
		t.Errorf("actions %q, want final_action halt", tf.machine.actions)
	}
}

func TestFlowDumpToRootfsFailsToo(t *testing.T) {
	t.Parallel()
	tf, root := rootfsFlow(t, "final_action poweroff\n")
	tf.target.err = errors.New("no LABEL=dumps")
	root.err = errors.New("target: UUID=1234 holds xfs, not ext4")
	st := tf.run(t)
	if st.Result != dumpdir.Failed || st.Fallback == nil || !strings.Contains(st.Error, "holds xfs") || st.Action != "reboot" {
		t.Fatalf("status %+v", st)
	}
	if strings.Join(tf.machine.actions, " ") != "reboot" {
		t.Errorf("actions %q, want reboot after both saves failed", tf.machine.actions)
	}
	if c := tf.console.String(); !strings.Contains(c, "saving to the root file system failed too") || !strings.Contains(c, "action: reboot") {
		t.Errorf("console:\n%s", c)
	}

	// No root file system recorded in the image: the same.
	tf, _ = rootfsFlow(t, "final_action halt\n")
	tf.target.err = errors.New("no LABEL=dumps")
	tf.Rootfs, tf.RootfsErr = nil, errors.New("the image records no root file system")
	st = tf.run(t)
	if st.Result != dumpdir.Failed || !strings.Contains(st.Error, "dump_to_rootfs: the image records no root file system") {
		t.Errorf("status %+v", st)
	}
	if strings.Join(tf.machine.actions, " ") != "reboot" {
		t.Errorf("actions %q, want reboot", tf.machine.actions)
	}
}

func TestFlowDumpToRootfsNotNeeded(t *testing.T) {
	t.Parallel()
	tf, root := rootfsFlow(t, "final_action halt\n")
	st := tf.run(t)
	if st.Result != dumpdir.Complete || st.Fallback != nil || !strings.HasPrefix(st.Dir, tf.base) {
		t.Fatalf("status %+v", st)
	}
	if root.mounted {
		t.Error("the root file system was mounted after a good save")
	}
	if strings.Join(tf.machine.actions, " ") != "halt" {
		t.Errorf("actions %q, want final_action halt", tf.machine.actions)
	}
}

// TestFlowDumpToRootfsNotForSource: failures the root file system would not change
// (core_collector's size limit, an unreadable vmcore) do not lead to it.
func TestFlowDumpToRootfsNotForSource(t *testing.T) {
	t.Parallel()
	tf, root := rootfsFlow(t, "final_action halt\n")
	tf.Collector.Options.SizeLimit = 1
	st := tf.run(t)
	if st.Result != dumpdir.Incomplete || st.Fallback != nil || root.mounted || st.Action != "reboot" {
		t.Errorf("status %+v, rootfs mounted %v", st, root.mounted)
	}
	if !strings.Contains(tf.console.String(), "dump_to_rootfs: not tried") {
		t.Errorf("console:\n%s", tf.console.String())
	}

	tf, root = rootfsFlow(t, "final_action halt\n")
	tf.Vmcore = filepath.Join(t.TempDir(), "vmcore")
	os.WriteFile(tf.Vmcore, []byte("not a core"), 0o600)
	st = tf.run(t)
	if st.Result != dumpdir.Failed || root.mounted || tf.target.mounted || strings.Join(tf.machine.actions, " ") != "reboot" {
		t.Errorf("status %+v, actions %q", st, tf.machine.actions)
	}
}

// TestFlowDumpToRootfsStacks: the target's LV changed since arming (nothing is written
// to it); dump_to_rootfs brings up the root file system's own LVM stack and saves
// there.
func TestFlowDumpToRootfsStacks(t *testing.T) {
	t.Parallel()
	tf, root := rootfsFlow(t, "final_action poweroff\n")
	rootStack := &volume.Stack{LV: &volume.MappedLV{VGName: "sys", Name: "root", ID: "RootId"}}
	tf.Stack, tf.RootfsStack, tf.DevDir = testStack, rootStack, t.TempDir()
	var activated []*volume.Stack
	tf.Activate = func(ctx context.Context, s *volume.Stack, wait time.Duration) (string, error) {
		activated = append(activated, s)
		if s == testStack {
			return "", &volume.LayoutChangedError{Volume: "vg-0/crash", Changes: []string{"LV size 16384 sectors, recorded 8192"}}
		}
		if root.mounted {
			t.Error("the root file system was mounted before its stack came up")
		}
		return "/dev/mapper/sys-root", nil
	}
	st := tf.run(t)
	if len(activated) != 2 || activated[0] != testStack || activated[1] != rootStack {
		t.Fatalf("activated %v, want the target's stack, then the root's", activated)
	}
	if tf.target.mounted {
		t.Error("the target was mounted after its layout changed")
	}
	if st.Result != dumpdir.Complete || st.Fallback == nil || !strings.Contains(st.Fallback.Error, "LV size 16384") || !strings.HasPrefix(st.Dir, root.dir) {
		t.Errorf("status %+v fallback %+v", st, st.Fallback)
	}
	if strings.Join(tf.machine.actions, " ") != "poweroff" {
		t.Errorf("actions %q", tf.machine.actions)
	}
	if l, err := os.Readlink(filepath.Join(tf.DevDir, "sys/root")); err != nil || l != "../mapper/sys-root" {
		t.Errorf("/dev/sys/root -> %q %v", l, err)
	}
}
