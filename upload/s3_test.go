package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/s3test"
	"github.com/gokdump/gokdump/vmcore"
)

// s3Config writes a credentials file and returns the kdump.conf of srv's bucket.
func s3Config(t *testing.T, srv *s3test.Server, secret string, fullDumps int) *config.Config {
	cred := filepath.Join(t.TempDir(), "s3.cred")
	if err := os.WriteFile(cred, []byte("access_key="+s3test.AccessKey+"\nsecret_key="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("s3_endpoint %s\ns3_bucket %s\ns3_credentials %s\ns3_prefix fleet\ns3_full_dumps %d\n",
		srv.Endpoint(), s3test.Bucket, cred, fullDumps)
	cfg, err := config.Parse(strings.NewReader(text), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestUploadS3 runs gokdump upload's logic against a real S3 server: two crashes of
// one signature with s3_full_dumps 1 give one whole dump (which opens with gokdump's
// reader and has the same signature) and one sampled; with the server down, a new
// dump stays pending without an error and goes up once the server is back; wrong
// credentials and a credentials file others can read are refused.
func TestUploadS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real S3 server (SeaweedFS); not in -short")
	}
	srv := s3test.Start(t)
	ctx := context.Background()
	cfg := s3Config(t, srv, s3test.SecretKey, 1)
	st, err := StoreOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dumps := t.TempDir()
	saveDump(t, dumps, 1764132830, dumpdir.Fedora)
	saveDump(t, dumps, 1764136430, dumpdir.Debian)
	opts := OptionsOf(cfg, st)
	opts.Host, opts.Logf = &testHost, t.Logf
	res, err := Run(ctx, dumps, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(fleet.DumpComplete) != 1 || res.Count(fleet.DumpSampled) != 1 {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	full := res.Outcomes[0]
	rec, err := fleet.ReadRecord(ctx, st, fleet.Key("fleet", full.ID, fleet.MetaObject))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Dump.State != fleet.DumpComplete || rec.Host.MachineID != testHost.MachineID {
		t.Fatalf("record %+v", rec)
	}
	// The dump in the bucket opens with gokdump's reader and says the same.
	rc, err := st.Get(ctx, rec.Dump.Key)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "vmcore")
	f, _ := os.Create(local)
	n, err := io.Copy(f, rc)
	rc.Close()
	f.Close()
	if err != nil || n != rec.Dump.Size {
		t.Fatalf("download: %d bytes, %v (want %d)", n, err, rec.Dump.Size)
	}
	vf, err := vmcore.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	info, err := crashinfo.Describe(vf, crashinfo.Options{})
	vf.Close()
	if err != nil || info.Crash == nil || info.Crash.Signature != rec.Signature() {
		t.Fatalf("downloaded dump: %v, %+v", err, info)
	}
	sampled, err := fleet.ReadRecord(ctx, st, fleet.Key("fleet", res.Outcomes[1].ID, fleet.MetaObject))
	if err != nil || sampled.Dump.State != fleet.DumpSampled || sampled.Signature() != rec.Signature() {
		t.Fatalf("sampled record: %v %+v", err, sampled)
	}
	if _, err := st.Stat(ctx, fleet.Key("fleet", sampled.ID, fleet.DumpObject)); !errors.Is(err, fleet.ErrNotExist) {
		t.Errorf("a sampled crash's dump is in the bucket: %v", err)
	}

	// The server is down: not an error, the new dump stays pending.
	saveDump(t, dumps, 1764140030, dumpdir.Fedora)
	srv.Kill()
	opts.Attempts, opts.Backoff = 2, 10*time.Millisecond
	res, err = Run(ctx, dumps, opts)
	if err != nil || !res.Unreachable || res.Pending() != 1 {
		t.Fatalf("server down: %v, unreachable %v, pending %d", err, res.Unreachable, res.Pending())
	}
	srv.Restart()
	res, err = Run(ctx, dumps, opts)
	if err != nil || res.Count(fleet.DumpSampled) != 1 || res.Count("already") != 2 {
		t.Fatalf("server back: %v %+v", err, res.Outcomes)
	}

	// Wrong credentials: an error (exit 1), not "unreachable".
	saveDump(t, dumps, 1764143630, dumpdir.Fedora)
	bad, err := StoreOf(s3Config(t, srv, s3test.BadSecretKey, 1))
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = bad
	res, err = Run(ctx, dumps, opts)
	if err == nil || res.Unreachable || res.Pending() != 1 {
		t.Errorf("wrong credentials: %v, unreachable %v, pending %d", err, res.Unreachable, res.Pending())
	}
}

// TestStoreOfCredentialsMode: a credentials file others can read is refused with
// the kdump.conf line and the file's name, before anything is sent.
func TestStoreOfCredentialsMode(t *testing.T) {
	cred := filepath.Join(t.TempDir(), "s3.cred")
	os.WriteFile(cred, []byte("access_key=a\nsecret_key=b\n"), 0o644)
	cfg, err := config.Parse(strings.NewReader("s3_endpoint http://127.0.0.1:1\ns3_bucket crashes\ns3_credentials "+cred+"\n"), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = StoreOf(cfg)
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:3: s3_credentials") || !strings.Contains(err.Error(), cred) ||
		!errors.Is(err, fleet.ErrCredentialsMode) {
		t.Errorf("got %v", err)
	}
}
