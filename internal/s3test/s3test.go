// Package s3test runs a real S3-compatible server for tests: SeaweedFS's weed, built
// from the Go module proxy into the repository's cache (.cache/s3test, or
// $GOKDUMP_CACHE/s3test) the first time, and started on 127.0.0.1 with its own data
// directory, an identities file (so credentials are checked) and one bucket. It is
// test-only: nothing in the product imports it.
//
//	srv := s3test.Start(t)
//	st, _ := fleet.NewS3(srv.Config())
//	srv.Kill()    // the server dies mid-way
//	srv.Restart() // and comes back with the same data
package s3test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/kernelpkg"
)

// The SeaweedFS version built (served by the module proxy; weed has a replace
// directive in its go.mod, so it is built inside its module directory, not with go
// install).
const (
	WeedModule  = "github.com/seaweedfs/seaweedfs"
	WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"
)

// Credentials the server accepts (its identities file) and a pair it does not.
const (
	AccessKey    = "gokdumptestkey"
	SecretKey    = "gokdump-test-secret-0123456789"
	BadSecretKey = "not-the-secret-0123456789"
	Bucket       = "crashes"
)

// CacheDir is $GOKDUMP_CACHE/s3test, else .cache/s3test in the repository.
func CacheDir() (string, error) {
	if c := os.Getenv("GOKDUMP_CACHE"); c != "" {
		return filepath.Join(c, "s3test"), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := kernelpkg.RepoRoot(wd)
	if err != nil {
		return "", fmt.Errorf("%w (set GOKDUMP_CACHE to use a cache elsewhere)", err)
	}
	return filepath.Join(root, ".cache", "s3test"), nil
}

var weedOnce struct {
	sync.Mutex
	path string
}

// Weed returns the weed binary, building it the first time (about 8 CPU-minutes).
func Weed(t testing.TB) string {
	t.Helper()
	weedOnce.Lock()
	defer weedOnce.Unlock()
	if weedOnce.path != "" {
		return weedOnce.path
	}
	p, err := buildWeed(t.Logf)
	if err != nil {
		t.Fatalf("building SeaweedFS's weed (%s@%s) for the S3 tests: %v", WeedModule, WeedVersion, err)
	}
	weedOnce.path = p
	return p
}

func buildWeed(logf func(string, ...any)) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, WeedVersion)
	bin := filepath.Join(dir, "weed")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// One build at a time across test processes.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	logf("building weed %s into %s (about 8 CPU-minutes the first time)", WeedVersion, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", WeedModule+"@"+WeedVersion).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download: %w", err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download: %s %v", mod.Error, err)
	}
	src := filepath.Join(dir, "src")
	os.RemoveAll(src)
	if out, err := exec.CommandContext(ctx, "cp", "-r", mod.Dir, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying %s: %v: %s", mod.Dir, err, out)
	}
	if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chmod: %v: %s", err, out)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+".tmp", "./weed")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./weed: %v\n%s", err, out)
	}
	os.RemoveAll(src)
	return bin, os.Rename(bin+".tmp", bin)
}

// Server is a running weed server with S3 on 127.0.0.1.
type Server struct {
	t        testing.TB
	bin, dir string
	ports    [4]int // master, volume, filer, s3
	cmd      *exec.Cmd
	done     chan struct{}
	log      *os.File
}

// Start builds (once) and starts a server with a bucket named Bucket, and stops it
// when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Weed(t), dir: t.TempDir()}
	ident := map[string]any{"identities": []any{map[string]any{
		"name":        "gokdump",
		"credentials": []any{map[string]string{"accessKey": AccessKey, "secretKey": SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	b, _ := json.Marshal(ident)
	if err := os.WriteFile(filepath.Join(s.dir, "s3.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	// A port free when chosen can be taken before weed binds it (by another test's
	// server, or as the source port of some connection): weed then exits saying
	// so, and a new set of ports is tried. Three collisions in a row is not luck.
	for attempt := 1; ; attempt++ {
		ports, err := testenv.FreePorts(4, 10000)
		if err != nil {
			t.Fatal(err)
		}
		copy(s.ports[:], ports)
		err = s.start()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatalf("%v; log: %s", err, s.tail())
		}
		t.Logf("s3test: %v; trying other ports", err)
		s.Kill()
		// A fresh log and data: the next attempt's must not be read as this one's.
		os.RemoveAll(filepath.Join(s.dir, "data"))
		os.Remove(filepath.Join(s.dir, "weed.log"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := s.client(SecretKey)
	var lastErr error
	for ctx.Err() == nil {
		if lastErr = cl.MakeBucket(ctx, Bucket, minio.MakeBucketOptions{}); lastErr == nil {
			return s
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("s3test: creating bucket %s: %v (log %s)", Bucket, lastErr, s.log.Name())
	return nil
}

// Endpoint is the server's S3 URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.ports[3]) }

// Port is the S3 port.
func (s *Server) Port() int { return s.ports[3] }

// Config is the fleet.S3Config of the server's bucket with good credentials and the
// smallest part size, so that a few MiB make a multipart upload.
func (s *Server) Config() fleet.S3Config {
	return fleet.S3Config{
		Endpoint:    s.Endpoint(),
		Bucket:      Bucket,
		Credentials: fleet.Credentials{AccessKey: AccessKey, SecretKey: SecretKey},
		PartSize:    fleet.MinPartSize,
		Timeout:     10 * time.Second,
	}
}

func (s *Server) client(secret string) *minio.Client {
	cl, err := minio.New("127.0.0.1:"+strconv.Itoa(s.ports[3]), &minio.Options{
		Creds: credentials.NewStaticV4(AccessKey, secret, ""), Region: "us-east-1", MaxRetries: 1,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return cl
}

// Client is a minio-go client with the good credentials, to look at the bucket.
func (s *Server) Client() *minio.Client { return s.client(SecretKey) }

// Kill stops the server at once (SIGKILL to its process group), as a crash or a
// pulled cable would; its data stays for Restart.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("s3test: weed (pid %d) did not exit after SIGKILL", s.cmd.Process.Pid)
	}
	s.cmd = nil
	if s.log != nil {
		s.log.Close()
	}
}

// Restart starts the server again on the same ports and data and waits until S3
// answers.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// errPortTaken is start's error when weed could not bind one of its ports.
var errPortTaken = errors.New("a port was taken before weed bound it")

// start starts weed on s.ports and waits until S3 answers.
func (s *Server) start() error {
	if s.cmd != nil {
		return errors.New("s3test: start of a running server")
	}
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "weed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.log = log
	p := s.ports
	cmd := exec.Command(s.bin, "server", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port="+strconv.Itoa(p[0]), "-volume.port="+strconv.Itoa(p[1]), "-filer.port="+strconv.Itoa(p[2]),
		"-master.volumeSizeLimitMB=256", "-volume.max=16",
		"-s3", "-s3.port="+strconv.Itoa(p[3]), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.config="+filepath.Join(s.dir, "s3.json"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	// Ready when an authenticated request is answered and, once the bucket exists,
	// when an object can be written (the volume server has joined the master).
	cl := s.client(SecretKey)
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cl.ListBuckets(ctx)
		if err == nil {
			var ok bool
			ok, err = cl.BucketExists(ctx, Bucket)
			if err == nil && ok {
				_, err = cl.PutObject(ctx, Bucket, ".s3test-ready", strings.NewReader("ok"), 2, minio.PutObjectOptions{})
			}
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			tail := s.tail()
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("s3test: weed on ports %v: %w", p, errPortTaken)
			}
			return fmt.Errorf("s3test: weed exited while starting; its log: %s", tail)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("s3test: S3 on port %d not ready after 90 s: %v; log: %s", p[3], err, s.tail())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (s *Server) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
