package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/synth"
)

var testHost = fleet.Host{Hostname: "web-7", MachineID: "0123456789abcdef0123456789abcdef", Product: "Standard PC (Q35 + ICH9, 2009)"}

// saveDump writes a dump directory as the capture leaves it: a synthetic dump of a
// crash at crashTime with its kernel log and status file. It returns the directory.
func saveDump(t testing.TB, base string, crashTime int64, layout dumpdir.Layout) string {
	t.Helper()
	cfg := synth.Default()
	cfg.CrashTime = crashTime
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(crashTime+20, 0).UTC()
	dir, names, err := dumpdir.CreateLayout(base, "web-7", start, layout)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, names.Dump), c.Image, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, names.Dmesg), []byte("[   13.813898] Kernel panic - not syncing: sysrq triggered crash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := &dumpdir.Status{Version: 1, Result: dumpdir.Complete, Start: start, End: start.Add(5 * time.Second), Host: "web-7",
		KernelRelease: cfg.Release, CrashTime: time.Unix(crashTime, 0).UTC(), Dump: names.Dump, DumpBytes: int64(len(c.Image))}
	if err := dumpdir.WriteStatus(dir, st, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recorder is a Store that logs the keys put, in order.
type recorder struct {
	fleet.Store
	mu   sync.Mutex
	puts []string
}

func (r *recorder) Put(ctx context.Context, key string, rd io.Reader, size int64) error {
	r.mu.Lock()
	r.puts = append(r.puts, key)
	r.mu.Unlock()
	return r.Store.Put(ctx, key, rd, size)
}

func sha256File(t testing.TB, name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestUploadOrderAndRecord: a saved dump goes to the store as meta.json (uploading),
// the log, the dump, the status and meta.json again (complete, with the dump's size
// and SHA-256); the record holds the report, the status and the host's facts; the
// directory is marked and a second run sends nothing.
func TestUploadOrderAndRecord(t *testing.T) {
	dumps, store := t.TempDir(), t.TempDir()
	dir := saveDump(t, dumps, 1764132830, dumpdir.Fedora)
	rec := &recorder{Store: fleet.Dir{Root: store}}
	res, err := Run(context.Background(), dumps, Options{Store: rec, Prefix: "prod", FullDumps: 3, Host: &testHost})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outcomes) != 1 || res.Outcomes[0].State != fleet.DumpComplete {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	id := fleet.IDFor(time.Unix(1764132830, 0), testHost.MachineID)
	if res.Outcomes[0].ID != id {
		t.Errorf("id %s, want %s", res.Outcomes[0].ID, id)
	}
	r, err := fleet.ReadRecord(context.Background(), fleet.Dir{Root: store}, fleet.Key("prod", id, fleet.MetaObject))
	if err != nil {
		t.Fatal(err)
	}
	sig := r.Signature()
	if sig == "" {
		t.Fatal("record without a signature")
	}
	k := func(n string) string { return fleet.Key("prod", id, n) }
	want := []string{k(fleet.MetaObject), k(fleet.DmesgObject), fleet.SignaturePrefix("prod", sig) + id, k(fleet.DumpObject), k(fleet.StatusObject), k(fleet.MetaObject)}
	if strings.Join(rec.puts, " ") != strings.Join(want, " ") {
		t.Errorf("puts\n%v\nwant\n%v", rec.puts, want)
	}
	local := filepath.Join(dir, "vmcore")
	if r.Dump == nil || r.Dump.State != fleet.DumpComplete || r.Dump.SHA256 != sha256File(t, local) || r.Dump.Key != k(fleet.DumpObject) {
		t.Errorf("dump state %+v", r.Dump)
	}
	if got := sha256File(t, filepath.Join(store, filepath.FromSlash(k(fleet.DumpObject)))); got != r.Dump.SHA256 {
		t.Errorf("stored dump sha256 %s, record says %s", got, r.Dump.SHA256)
	}
	if r.Host.Hostname != "web-7" || r.Host.MachineID != testHost.MachineID || r.Host.Product == "" ||
		r.Host.KernelRelease != "6.1.0-56-amd64" || r.Host.BuildID != synth.Default().BuildID {
		t.Errorf("host %+v", r.Host)
	}
	if r.Info == nil || r.Info.Crash == nil || !strings.Contains(r.Info.Crash.Panic+r.Info.Crash.Reason, "sysrq") {
		t.Errorf("info %+v", r.Info)
	}
	if len(r.Status) == 0 || r.Dmesg == nil || r.Dmesg.Size == 0 {
		t.Errorf("status %q dmesg %+v", r.Status, r.Dmesg)
	}
	fi, err := os.Stat(filepath.Join(dir, MarkerFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("marker: %v %v", fi, err)
	}
	if _, err := os.Stat(local); err != nil {
		t.Errorf("the dump was removed without s3_delete_uploaded: %v", err)
	}
	rec.puts = nil
	res, err = Run(context.Background(), dumps, Options{Store: rec, Prefix: "prod", Host: &testHost})
	if err != nil || len(rec.puts) != 0 || res.Count("already") != 1 {
		t.Errorf("second run: %v, puts %v, %+v", err, rec.puts, res.Outcomes)
	}
}

// TestUploadSampling: of K+1 crashes of one signature, K go whole and one as record
// and log only; DeleteUploaded removes only the dumps that are in the store whole.
func TestUploadSampling(t *testing.T) {
	dumps, store := t.TempDir(), t.TempDir()
	var dirs []string
	for i := range 3 {
		dirs = append(dirs, saveDump(t, dumps, 1764132830+int64(i)*3600, []dumpdir.Layout{dumpdir.Fedora, dumpdir.Debian}[i%2]))
	}
	res, err := Run(context.Background(), dumps, Options{Store: fleet.Dir{Root: store}, FullDumps: 2, DeleteUploaded: true, Host: &testHost})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(fleet.DumpComplete) != 2 || res.Count(fleet.DumpSampled) != 1 {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	st := fleet.Dir{Root: store}
	var dumpsStored, markers int
	var sig string
	st.List(context.Background(), "", func(oi fleet.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, "/"+fleet.DumpObject) {
			dumpsStored++
		}
		if strings.HasPrefix(oi.Key, "signatures/") {
			markers++
			sig = strings.Split(oi.Key, "/")[1]
		}
		return nil
	})
	if dumpsStored != 2 || markers != 2 {
		t.Errorf("%d dumps and %d signature markers stored, want 2 and 2", dumpsStored, markers)
	}
	sampled := res.Outcomes[2]
	r, err := fleet.ReadRecord(context.Background(), st, fleet.Key("", sampled.ID, fleet.MetaObject))
	if err != nil {
		t.Fatal(err)
	}
	if r.Dump.State != fleet.DumpSampled || r.Signature() != sig || r.Dmesg == nil {
		t.Errorf("sampled record: %+v sig %s", r.Dump, r.Signature())
	}
	for i, d := range dirs {
		ld, _ := dumpdir.List(dumps)
		_ = ld
		ents, _ := os.ReadDir(d)
		var hasDump bool
		for _, e := range ents {
			if e.Name() == "vmcore" || strings.HasPrefix(e.Name(), "dump.") {
				hasDump = true
			}
		}
		if want := i == 2; hasDump != want {
			t.Errorf("%s: local dump kept %v, want %v (deleted only once uploaded whole)", d, hasDump, want)
		}
	}
}

// failStore fails every request with err and counts them.
type failStore struct {
	fleet.Dir
	err   error
	calls int
}

func (f *failStore) Put(context.Context, string, io.Reader, int64) error { f.calls++; return f.err }
func (f *failStore) List(context.Context, string, func(fleet.ObjectInfo) error) error {
	f.calls++
	return f.err
}

// TestUploadUnreachable: a store that cannot be reached is not an error: the run
// says so, tries a bounded number of times, and every dump stays pending (no marker).
func TestUploadUnreachable(t *testing.T) {
	dumps := t.TempDir()
	d1 := saveDump(t, dumps, 1764132830, dumpdir.Fedora)
	saveDump(t, dumps, 1764136430, dumpdir.Fedora)
	fs := &failStore{err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	res, err := Run(context.Background(), dumps, Options{Store: fs, Host: &testHost, Attempts: 3, Backoff: time.Millisecond})
	if err != nil {
		t.Fatalf("unreachable store is an error: %v", err)
	}
	if !res.Unreachable || res.Pending() != 2 || fs.calls != 3 {
		t.Errorf("unreachable %v pending %d calls %d (want true, 2, 3)", res.Unreachable, res.Pending(), fs.calls)
	}
	if _, err := os.Stat(filepath.Join(d1, MarkerFile)); err == nil {
		t.Error("a dump not uploaded was marked")
	}
	p, _ := Pending(dumps)
	if len(p) != 2 {
		t.Errorf("Pending lists %d, want 2", len(p))
	}
}

// TestUploadRefused: a store refusing a request (not a network failure) is an error,
// not retried, and leaves the dump pending.
func TestUploadRefused(t *testing.T) {
	dumps := t.TempDir()
	saveDump(t, dumps, 1764132830, dumpdir.Fedora)
	fs := &failStore{err: errors.New("AccessDenied")}
	res, err := Run(context.Background(), dumps, Options{Store: fs, Host: &testHost, Backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") || res.Unreachable || fs.calls != 1 {
		t.Errorf("err %v unreachable %v calls %d", err, res.Unreachable, fs.calls)
	}
	if res.Pending() != 1 {
		t.Errorf("pending %d", res.Pending())
	}
}

// TestUploadOneAtATime: while another uploader holds a dump directory's lock, a second
// run uploads nothing and is not an error; once released, the next run uploads.
func TestUploadOneAtATime(t *testing.T) {
	dumps, store := t.TempDir(), t.TempDir()
	saveDump(t, dumps, 1764132830, dumpdir.Fedora)
	unlock, err := lockDir(dumps)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Store: fleet.Dir{Root: store}}
	res, err := Run(context.Background(), dumps, Options{Store: rec, FullDumps: 3, Host: &testHost})
	if err != nil || len(res.Outcomes) != 0 || len(rec.puts) != 0 {
		t.Fatalf("while locked: %+v %v, puts %v", res, err, rec.puts)
	}
	unlock()
	res, err = Run(context.Background(), dumps, Options{Store: rec, FullDumps: 3, Host: &testHost})
	if err != nil || len(res.Outcomes) != 1 || res.Outcomes[0].State != fleet.DumpComplete {
		t.Fatalf("after the lock: %+v %v", res, err)
	}
}
