package fleet_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/s3test"
)

// These tests run against a real S3 server (SeaweedFS, package s3test) on 127.0.0.1.

func realServer(t *testing.T) *s3test.Server {
	if testing.Short() {
		t.Skip("starts a real S3 server (SeaweedFS); not in -short")
	}
	return s3test.Start(t)
}

func newS3(t *testing.T, cfg fleet.S3Config) *fleet.S3 {
	st, err := fleet.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func randomFile(t *testing.T, size int) (string, []byte) {
	b := make([]byte, size)
	rand.Read(b)
	name := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return name, b
}

func readAll(t *testing.T, st fleet.Store, key string) []byte {
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logTo(t *testing.T, buf *bytes.Buffer) func(string, ...any) {
	return func(f string, a ...any) { fmt.Fprintf(buf, f+"\n", a...); t.Logf(f, a...) }
}

// TestS3 runs every S3 case on one server (it takes ~15 s to start): the Store
// methods, a resumed upload after the server is killed mid-way, a changed local file
// refused and restarted, parts with a wrong checksum refused by the server, and wrong
// credentials refused, uploads to a server whose ETags are not MD5s (SSE-KMS), and a
// server that is down.
func TestS3(t *testing.T) {
	srv := realServer(t)
	ctx := context.Background()
	cfg := srv.Config()
	st := newS3(t, cfg)

	t.Run("Store", func(t *testing.T) {
		if err := st.Put(ctx, "p/crashes/a/meta.json", strings.NewReader(`{"x":1}`), 7); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, "p/crashes/b/meta.json", strings.NewReader(`{}`), -1); err != nil {
			t.Fatal(err)
		}
		if got := string(readAll(t, st, "p/crashes/a/meta.json")); got != `{"x":1}` {
			t.Errorf("Get: %q", got)
		}
		oi, err := st.Stat(ctx, "p/crashes/a/meta.json")
		if err != nil || oi.Size != 7 || oi.ETag == "" {
			t.Errorf("Stat: %+v %v", oi, err)
		}
		if _, err := st.Stat(ctx, "p/nothing"); !errors.Is(err, fleet.ErrNotExist) {
			t.Errorf("Stat of a missing key: %v", err)
		}
		if _, err := st.Get(ctx, "p/nothing"); !errors.Is(err, fleet.ErrNotExist) {
			t.Errorf("Get of a missing key: %v", err)
		}
		var keys []string
		st.List(ctx, "p/crashes/", func(oi fleet.ObjectInfo) error { keys = append(keys, oi.Key); return nil })
		if strings.Join(keys, " ") != "p/crashes/a/meta.json p/crashes/b/meta.json" {
			t.Errorf("List: %v", keys)
		}
		stop := errors.New("stop")
		if err := st.List(ctx, "p/", func(fleet.ObjectInfo) error { return stop }); err != stop {
			t.Errorf("List stopped early: %v", err)
		}
		if err := st.Delete(ctx, "p/crashes/b/meta.json"); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, "p/crashes/b/meta.json"); err != nil {
			t.Errorf("Delete of a missing key: %v", err)
		}
	})

	t.Run("Resume", func(t *testing.T) {
		name, data := randomFile(t, 4*fleet.MinPartSize+3<<20) // 5 parts
		var log bytes.Buffer
		killed := false
		_, err := st.PutFile(ctx, "crashes/r/vmcore", name, fleet.PutFileOptions{Logf: logTo(t, &log), AfterPart: func(n, parts int) {
			if n == 2 && !killed {
				killed = true
				srv.Kill()
			}
		}})
		if err == nil || !fleet.Unreachable(err) {
			t.Fatalf("upload to a killed server: %v (unreachable %v)", err, fleet.Unreachable(err))
		}
		fi, err := os.Stat(fleet.StateFile(name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("state file: %v %v", fi, err)
		}
		srv.Restart()
		sent := 0
		obj, err := st.PutFile(ctx, "crashes/r/vmcore", name, fleet.PutFileOptions{Logf: logTo(t, &log), AfterPart: func(int, int) { sent++ }})
		if err != nil {
			t.Fatal(err)
		}
		if sent != 3 || !strings.Contains(log.String(), "2 of 5 parts already stored") {
			t.Errorf("resumed run sent %d parts, want 3; log:\n%s", sent, log.String())
		}
		sum := sha256.Sum256(data)
		if obj.SHA256 != hex.EncodeToString(sum[:]) || obj.Size != int64(len(data)) {
			t.Errorf("object %+v", obj)
		}
		if !bytes.Equal(readAll(t, st, "crashes/r/vmcore"), data) {
			t.Error("the stored object is not the file")
		}
		if _, err := os.Stat(fleet.StateFile(name)); !os.IsNotExist(err) {
			t.Errorf("state file left after completion: %v", err)
		}
	})

	// CompletedBeforeStateRemoved: a run completed the upload but stopped before
	// removing its state file; the next run finds the upload gone, the object whole,
	// and sends nothing.
	t.Run("CompletedBeforeStateRemoved", func(t *testing.T) {
		name, data := randomFile(t, fleet.MinPartSize+1<<20) // 2 parts
		var state []byte
		if _, err := st.PutFile(ctx, "crashes/s/vmcore", name, fleet.PutFileOptions{AfterPart: func(n, parts int) {
			if n == parts {
				state, _ = os.ReadFile(fleet.StateFile(name))
			}
		}}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fleet.StateFile(name), state, 0o600); err != nil || len(state) == 0 {
			t.Fatalf("state after the last part: %q %v", state, err)
		}
		var log bytes.Buffer
		sent := 0
		obj, err := st.PutFile(ctx, "crashes/s/vmcore", name, fleet.PutFileOptions{Logf: logTo(t, &log), AfterPart: func(int, int) { sent++ }})
		if err != nil || sent != 0 || obj.Size != int64(len(data)) || !strings.Contains(log.String(), "completed by an earlier run") {
			t.Fatalf("second run: %+v %v, sent %d parts; log:\n%s", obj, err, sent, log.String())
		}
		if _, err := os.Stat(fleet.StateFile(name)); !os.IsNotExist(err) {
			t.Errorf("state file left: %v", err)
		}
	})

	t.Run("ChangedFile", func(t *testing.T) {
		name, data := randomFile(t, 2*fleet.MinPartSize+1<<20) // 3 parts
		cctx, cancel := context.WithCancel(ctx)
		_, err := st.PutFile(cctx, "crashes/c/vmcore", name, fleet.PutFileOptions{AfterPart: func(n, _ int) {
			if n == 1 {
				cancel()
			}
		}})
		if err == nil {
			t.Fatal("interrupted upload succeeded")
		}
		state, err := os.ReadFile(fleet.StateFile(name))
		if err != nil {
			t.Fatal(err)
		}
		oldID := string(state[strings.Index(string(state), `"upload_id":"`)+13:])
		oldID = oldID[:strings.IndexByte(oldID, '"')]
		data[len(data)-1] ^= 0xff // the file changes between runs
		os.WriteFile(name, data, 0o600)
		var log bytes.Buffer
		obj, err := st.PutFile(ctx, "crashes/c/vmcore", name, fleet.PutFileOptions{Logf: logTo(t, &log)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), "changed since upload "+oldID) || !strings.Contains(log.String(), fleet.ErrChecksum.Error()) {
			t.Errorf("log does not say the file changed:\n%s", log.String())
		}
		core := minio.Core{Client: st.Client()}
		if _, err := core.ListObjectParts(ctx, s3test.Bucket, "crashes/c/vmcore", oldID, 0, 100); minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			t.Errorf("the stale upload %s was not aborted: %v", oldID, err)
		}
		if !bytes.Equal(readAll(t, st, "crashes/c/vmcore"), data) || obj.Size != int64(len(data)) {
			t.Error("the stored object is not the changed file")
		}
	})

	t.Run("Stream", func(t *testing.T) {
		_, data := randomFile(t, 2*fleet.MinPartSize+12345)
		w, err := st.NewStream(ctx, "crashes/s/vmcore")
		if err != nil {
			t.Fatal(err)
		}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 777777)
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if w.Size() != int64(len(data)) || w.SHA256() != hex.EncodeToString(sum[:]) || !bytes.Equal(readAll(t, st, "crashes/s/vmcore"), data) {
			t.Error("the streamed object is not what was written")
		}
		a, err := st.NewStream(ctx, "crashes/s/aborted")
		if err != nil {
			t.Fatal(err)
		}
		a.Write(data[:fleet.MinPartSize+1])
		a.Abort(errors.New("the dump failed"))
		if _, err := st.Stat(ctx, "crashes/s/aborted"); !errors.Is(err, fleet.ErrNotExist) {
			t.Errorf("an aborted stream left an object: %v", err)
		}
	})

	t.Run("BadPartChecksum", func(t *testing.T) {
		core := minio.Core{Client: st.Client()}
		id, err := core.NewMultipartUpload(ctx, s3test.Bucket, "crashes/x/vmcore", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer core.AbortMultipartUpload(ctx, s3test.Bucket, "crashes/x/vmcore", id)
		part := bytes.Repeat([]byte("a"), 1<<20)
		wrong := md5.Sum([]byte("something else"))
		_, err = core.PutObjectPart(ctx, s3test.Bucket, "crashes/x/vmcore", id, 1, bytes.NewReader(part), int64(len(part)),
			minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(wrong[:])})
		if code := minio.ToErrorResponse(err).Code; code != "BadDigest" && code != "InvalidDigest" {
			t.Errorf("a part with a wrong Content-MD5 was not refused: %v", err)
		}
	})

	t.Run("WrongCredentials", func(t *testing.T) {
		bad := cfg
		bad.Credentials.SecretKey = s3test.BadSecretKey
		err := newS3(t, bad).Put(ctx, "crashes/w/meta.json", strings.NewReader("{}"), 2)
		if err == nil || fleet.Unreachable(err) {
			t.Fatalf("wrong secret: %v (unreachable %v)", err, fleet.Unreachable(err))
		}
		if strings.Contains(err.Error(), s3test.BadSecretKey) {
			t.Errorf("the error shows the secret: %v", err)
		}
		bad.Credentials.AccessKey = "nobody"
		if err := newS3(t, bad).Put(ctx, "crashes/w/meta.json", strings.NewReader("{}"), 2); err == nil {
			t.Error("unknown access key accepted")
		}
	})

	t.Run("OpaqueETags", func(t *testing.T) { testOpaqueETags(t, srv) })

	t.Run("Down", func(t *testing.T) {
		srv.Kill() // the last case: the server stays down
		start := time.Now()
		err := st.Put(ctx, "crashes/d/meta.json", strings.NewReader("{}"), 2)
		if !fleet.Unreachable(err) {
			t.Errorf("server down: %v is not Unreachable", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("noticing the server is down took %s", d)
		}
	})
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		ep, host string
		secure   bool
		allow    bool
		err      string
	}{
		{ep: "s3.example.net", host: "s3.example.net", secure: true},
		{ep: "https://s3.example.net:9000", host: "s3.example.net:9000", secure: true},
		{ep: "http://127.0.0.1:8333", host: "127.0.0.1:8333"},
		{ep: "http://[::1]:8333", host: "[::1]:8333"},
		{ep: "http://s3.example.net", err: "plain http"},
		{ep: "http://s3.example.net", host: "s3.example.net", allow: true},
		{ep: "https://s3.example.net/bucket", err: "the bucket and prefix are separate directives"},
		{ep: "ftp://x", err: "want https"},
	} {
		h, sec, err := fleet.ParseEndpoint(tc.ep, tc.allow)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.ep, err, tc.err)
			}
			continue
		}
		if err != nil || h != tc.host || sec != tc.secure {
			t.Errorf("%s: %s %v %v", tc.ep, h, sec, err)
		}
	}
}
