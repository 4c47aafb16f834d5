package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServeRefuses(t *testing.T) {
	dir := t.TempDir()
	noS3 := dir + "/plain.conf"
	os.WriteFile(noS3, []byte("path /var/crash\n"), 0o600)
	// A credentials file others can read: serve refuses it as upload does.
	cred := dir + "/cred"
	os.WriteFile(cred, []byte("access_key=a\nsecret_key=b\n"), 0o644)
	os.Chmod(cred, 0o644)
	badCred := dir + "/s3.conf"
	os.WriteFile(badCred, []byte("s3_endpoint http://127.0.0.1:9/\ns3_bucket crashes\ns3_credentials "+cred+"\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--store", dir, "--listen", "0.0.0.0:8080"}, "not a loopback address"},
		{[]string{"serve", "--store", dir, "--listen", ":8080"}, "every address is not a loopback address"},
		{[]string{"serve", "--store", dir + "/missing"}, "--store:"},
		{[]string{"serve", "--store", dir, "--poll", "1ms"}, "at least 1s"},
		{[]string{"serve", "--config", noS3}, "names no S3 store"},
		{[]string{"serve", "--config", badCred}, "s3_credentials"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"gokdump"}, c.args...), &out, &errb); code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error saying %q", c.args, code, errb.String(), c.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServeEmptyStore: gokdump serve --store DIR serves an empty store on an ephemeral
// loopback port and stops when its context ends.
func TestServeEmptyStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"gokdump", "serve", "--store", t.TempDir(), "--listen", "127.0.0.1:0"}, &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "http://") {
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed after 10 s; stderr %q", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := strings.TrimSpace(strings.TrimPrefix(out.String(), "gokdump serve: "))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "No crashes in the store yet") {
		t.Errorf("%s: %s %.200q", url, resp.Status, b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the context ended; stderr %q", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still serving 15 s after the context ended")
	}
}
