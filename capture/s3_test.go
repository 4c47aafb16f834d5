package capture

import (
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/s3test"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/vmcore"
)

// startS3 starts a real S3 server and returns it, a credentials file for it and a
// store to look at its bucket.
func startS3(t *testing.T) (*s3test.Server, string, *fleet.S3) {
	srv := s3test.Start(t)
	cred := filepath.Join(t.TempDir(), "s3.cred")
	if err := os.WriteFile(cred, []byte("access_key="+s3test.AccessKey+"\nsecret_key="+s3test.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := fleet.NewS3(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	return srv, cred, st
}

// TestSaveS3: s3_capture yes writes the crash to a real S3 server in the fleet
// layout, nothing to a disk: the record (complete, with the dump's size and
// SHA-256), the kernel log, the status and the flattened dump, which opens with
// gokdump's reader; with s3_full_dumps 2 the third crash of the signature sends its
// record and log only.
func TestSaveS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real S3 server (SeaweedFS); not in -short")
	}
	srv, cred, st := startS3(t)
	ctx := context.Background()
	var states []string
	for _, mid := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"} {
		tf := newTestFlow(t, "path /var/crash\nfinal_action poweroff\n")
		tf.Target = nil
		tf.S3 = &S3Target{Target: service.S3Target{Endpoint: srv.Endpoint(), Port: srv.Port(), Bucket: s3test.Bucket, Prefix: "cap",
			Credentials: cred, MachineID: mid, FullDumps: 2}, Addr: "127.0.0.1", PartSize: fleet.MinPartSize}
		status := tf.run(t)
		if status.Result != dumpdir.Complete || status.Action != "poweroff" {
			t.Fatalf("status %+v", status)
		}
		if ents, _ := os.ReadDir(tf.base); len(ents) != 0 {
			t.Errorf("the capture wrote to the disk: %v", ents)
		}
		var metas []string
		st.List(ctx, fleet.CrashesPrefix("cap"), func(oi fleet.ObjectInfo) error {
			if strings.HasSuffix(oi.Key, mid+"/"+fleet.MetaObject) {
				metas = append(metas, oi.Key)
			}
			return nil
		})
		if len(metas) != 1 {
			t.Fatalf("records of %s: %v", mid, metas)
		}
		rec, err := fleet.ReadRecord(ctx, st, metas[0])
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, rec.Dump.State)
		var rs dumpdir.Status
		json.Unmarshal(rec.Status, &rs)
		if rec.Dmesg == nil || rec.Signature() == "" || rs.Result != dumpdir.Complete {
			t.Errorf("record %+v status %s", rec, rec.Status)
		}
		if _, err := st.Stat(ctx, fleet.Key("cap", rec.ID, fleet.StatusObject)); err != nil {
			t.Error(err)
		}
		// The kernel log object is what the record says, byte for byte.
		if rc, err := st.Get(ctx, rec.Dmesg.Key); err != nil {
			t.Error(err)
		} else {
			b, _ := io.ReadAll(rc)
			rc.Close()
			sum := sha256.Sum256(b)
			if int64(len(b)) != rec.Dmesg.Size || hex.EncodeToString(sum[:]) != rec.Dmesg.SHA256 {
				t.Errorf("kernel log object: %d bytes sha256 %x; record says %+v", len(b), sum, rec.Dmesg)
			}
		}
		if rec.Dump.State != fleet.DumpComplete {
			continue
		}
		vf := openDumpObject(t, st, rec)
		if vf.Format != vmcore.FormatKdump || vf.Kdump.DumpLevel() != 31 {
			t.Errorf("uploaded dump: %s level %d", vf.Format, vf.Kdump.DumpLevel())
		}
		vf.Close()
	}
	if strings.Join(states, " ") != "complete complete sampled" {
		t.Errorf("dump states %v, want complete complete sampled", states)
	}
}

// TestSaveS3Incomplete: a dump the collector cuts short (here: over its size limit)
// is kept in the bucket, not aborted, as the disk targets keep vmcore-incomplete: the
// status says incomplete, the record has the object (its size and SHA-256) and says
// the dump is incomplete, and the object opens as a kdump dump marked incomplete.
func TestSaveS3Incomplete(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real S3 server (SeaweedFS); not in -short")
	}
	srv, cred, st := startS3(t)
	ctx := context.Background()
	tf := newTestFlow(t, "path /var/crash\nfailure_action halt\n")
	tf.Target = nil
	tf.Collector.Options.SizeLimit = 64 << 10
	tf.S3 = &S3Target{Target: service.S3Target{Endpoint: srv.Endpoint(), Port: srv.Port(), Bucket: s3test.Bucket, Prefix: "inc",
		Credentials: cred, MachineID: "dddddddddddd"}, Addr: "127.0.0.1", PartSize: fleet.MinPartSize}
	status := tf.run(t)
	if status.Result != dumpdir.Incomplete || status.Dump != fleet.DumpObject || status.DumpBytes == 0 || status.Action != "halt" {
		t.Fatalf("status %+v, want incomplete with the dump kept and failure_action halt", status)
	}
	if !strings.Contains(tf.console.String(), "the incomplete dump is kept") {
		t.Errorf("console does not say the dump is kept:\n%s", tf.console.String())
	}
	var metas []string
	st.List(ctx, fleet.CrashesPrefix("inc"), func(oi fleet.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, "/"+fleet.MetaObject) {
			metas = append(metas, oi.Key)
		}
		return nil
	})
	if len(metas) != 1 {
		t.Fatalf("records: %v", metas)
	}
	rec, err := fleet.ReadRecord(ctx, st, metas[0])
	if err != nil {
		t.Fatal(err)
	}
	var rs dumpdir.Status
	json.Unmarshal(rec.Status, &rs)
	if rec.Dump == nil || rec.Dump.State != fleet.DumpComplete || rec.Dump.SHA256 == "" || rec.Dump.Size != status.DumpBytes ||
		rec.Info == nil || !rec.Info.Incomplete || rs.Result != dumpdir.Incomplete {
		t.Fatalf("record dump %+v info %+v status %s", rec.Dump, rec.Info, rec.Status)
	}
	vf := openDumpObject(t, st, rec)
	defer vf.Close()
	if vf.Format != vmcore.FormatKdump || !vf.Incomplete() {
		t.Errorf("kept dump: format %s, incomplete %v; want kdump marked incomplete", vf.Format, vf.Incomplete())
	}
}

// openDumpObject downloads the dump object of rec, checks its size and SHA-256
// against the record, and opens it with gokdump's reader.
func openDumpObject(t *testing.T, st *fleet.S3, rec *fleet.Record) *vmcore.File {
	t.Helper()
	rc, err := st.Get(context.Background(), rec.Dump.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	local := filepath.Join(t.TempDir(), "vmcore")
	f, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != rec.Dump.Size || hex.EncodeToString(h.Sum(nil)) != rec.Dump.SHA256 {
		t.Fatalf("downloaded %d bytes (sha256 %x, %v); record says %+v", n, h.Sum(nil), err, rec.Dump)
	}
	vf, err := vmcore.Open(local)
	if err != nil {
		t.Fatalf("the dump object does not open: %v", err)
	}
	return vf
}

// TestSaveS3DeadlineDuringPart: a dump whose deadline ends while a part is on its way
// to the bucket (a proxy in front of the real server holds each part 3 s; the
// deadline is 2 s) is kept, marked incomplete: the part in flight and the collector's
// last writes go out under the stream's own deadline, not the dump's.
func TestSaveS3DeadlineDuringPart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real S3 server (SeaweedFS); not in -short")
	}
	srv, cred, st := startS3(t)
	u, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" {
			time.Sleep(3 * time.Second)
		}
		rp.ServeHTTP(w, r)
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })

	cfg := synth.Default()
	cfg.Nodename = "crashbox"
	noise := make([]byte, 16<<20) // incompressible: more than one 5 MiB part
	cryptorand.Read(noise)
	cfg.AddImage(0x1800000, func(uint64) ([]byte, []string) { return noise, nil })
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tf := newTestFlow(t, "path /var/crash\nfailure_action halt\n")
	if tf.Vmcore, err = c.WriteFile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	tf.Target = nil
	tf.Timeouts.Dump = 2 * time.Second
	tf.S3 = &S3Target{Target: service.S3Target{Endpoint: srv.Endpoint(), Port: l.Addr().(*net.TCPAddr).Port, Bucket: s3test.Bucket,
		Prefix: "dl", Credentials: cred, MachineID: "eeeeeeeeeeee"}, Addr: "127.0.0.1", PartSize: fleet.MinPartSize}
	status := tf.run(t)
	if status.Result != dumpdir.Incomplete || status.Dump != fleet.DumpObject {
		t.Fatalf("status %s %q dump %q: want incomplete, kept", status.Result, status.Error, status.Dump)
	}
	var rec *fleet.Record
	st.List(context.Background(), fleet.CrashesPrefix("dl"), func(oi fleet.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, "/"+fleet.MetaObject) {
			rec, err = fleet.ReadRecord(context.Background(), st, oi.Key)
		}
		return err
	})
	if rec == nil || rec.Dump == nil || rec.Dump.State != fleet.DumpComplete || rec.Info == nil || !rec.Info.Incomplete {
		t.Fatalf("record %+v (%v)", rec, err)
	}
	vf := openDumpObject(t, st, rec)
	defer vf.Close()
	if !vf.Incomplete() {
		t.Errorf("the kept dump is not marked incomplete")
	}
}
