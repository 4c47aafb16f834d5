package fleet_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/s3test"
)

// opaqueETagProxy stands between the client and the real server (SeaweedFS, whose
// ETags are always MD5s) and gives the client the ETags Amazon S3 gives for a bucket
// encrypted with SSE-KMS: not the MD5 of the data. Every ETag the server sends (the
// ETag header, the <ETag> elements of XML answers) reaches the client as another hex
// string of the same length, and the ETags the client sends back to complete a
// multipart upload are turned into the server's again (the request is then signed
// again, with the test's credentials). The successful answers that sse picks also
// carry x-amz-server-side-encryption: aws:kms, as Amazon S3's do for such a bucket
// (writes, HEAD and GET of its objects; not listings). The data itself passes
// through untouched: the real server stores it.
type opaqueETagProxy struct {
	target string // the real server's host:port
	sse    func(*http.Request) bool

	mu   sync.Mutex
	real map[string]string // opaque ETag -> the server's
}

var etagElement = regexp.MustCompile(`(<ETag>(?:&#34;|&quot;|")?)([0-9a-f]{32})((?:-[0-9]+)?(?:&#34;|&quot;|")?</ETag>)`)

// opaque is the ETag the client sees for the server's MD5 hex m.
func (p *opaqueETagProxy) opaque(m string) string {
	h := sha256.Sum256([]byte("sse-kms:" + m))
	o := hex.EncodeToString(h[:16])
	p.mu.Lock()
	p.real[o] = m
	p.mu.Unlock()
	return o
}

func (p *opaqueETagProxy) serverETag(o string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.real[o]
	return m, ok
}

// awsSSE picks the answers Amazon S3 gives x-amz-server-side-encryption for objects
// of a bucket encrypted with SSE-KMS: the writes (PUT of an object or a part, the
// multipart POSTs) and HEAD and GET of an object, not the listings (of the bucket,
// or of an upload's parts).
func awsSSE(r *http.Request) bool {
	q := r.URL.Query()
	object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		return object
	case http.MethodGet, http.MethodHead:
		return object && !q.Has("uploadId")
	}
	return false
}

func startOpaqueETagProxy(t *testing.T, srv *s3test.Server, sse func(*http.Request) bool) string {
	p := &opaqueETagProxy{target: strings.TrimPrefix(srv.Endpoint(), "http://"), sse: sse, real: map[string]string{}}
	hs := httptest.NewServer(p) // on 127.0.0.1
	t.Cleanup(hs.Close)
	return hs.URL
}

func (p *opaqueETagProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // the client signed its request for the proxy's address
	out.ContentLength = int64(len(body))
	if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
		// CompleteMultipartUpload: the client names its parts by the ETags it was
		// given; the server knows them by its own. A part named by any other ETag
		// (its MD5, say) is refused, as Amazon S3 refuses it.
		unknown := ""
		body = etagElement.ReplaceAllFunc(body, func(m []byte) []byte {
			s := etagElement.FindSubmatch(m)
			real, ok := p.serverETag(string(s[2]))
			if !ok {
				unknown = string(s[2])
			}
			return []byte(string(s[1]) + real + string(s[3]))
		})
		if unknown != "" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidPart</Code><Message>One or more of the specified parts could not be found: ETag `+unknown+`</Message></Error>`)
			return
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		out.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		out.Header.Del("Authorization")
		out = signer.SignV4(*out, s3test.AccessKey, s3test.SecretKey, "", "us-east-1")
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		// Same length: Content-Length stays right.
		rb = etagElement.ReplaceAllFunc(rb, func(m []byte) []byte {
			s := etagElement.FindSubmatch(m)
			return []byte(string(s[1]) + p.opaque(string(s[2])) + string(s[3]))
		})
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if e := resp.Header.Get("ETag"); e != "" {
		m := strings.Trim(e, `"`)
		suffix := ""
		if i := strings.IndexByte(m, '-'); i >= 0 {
			m, suffix = m[:i], m[i:]
		}
		w.Header().Set("ETag", `"`+p.opaque(m)+suffix+`"`)
	}
	if resp.StatusCode < 300 && p.sse != nil && p.sse(r) {
		w.Header().Set("X-Amz-Server-Side-Encryption", "aws:kms")
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(rb)
}

// testOpaqueETags: through a server whose ETags are not MD5s (SSE-KMS), uploads of
// one part, of several, resumed, and streamed all store the file, checked by size and
// SHA-256; where the server does not say it encrypts, the same ETags are refused as
// checksum errors. Part of TestS3 (one real server).
func testOpaqueETags(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	kms := srv.Config()
	kms.Endpoint = startOpaqueETagProxy(t, srv, awsSSE)
	st := newS3(t, kms)
	direct := newS3(t, srv.Config())

	t.Run("PutFile", func(t *testing.T) {
		if err := st.Put(ctx, "sse/meta.json", strings.NewReader(`{}`), 2); err != nil || string(readAll(t, direct, "sse/meta.json")) != `{}` {
			t.Errorf("Put: %v", err)
		}
		for _, c := range []struct {
			name string
			size int
		}{{"one part", 1 << 20}, {"three parts", 2*fleet.MinPartSize + 1<<20}} {
			name, data := randomFile(t, c.size)
			key := "sse/" + strings.ReplaceAll(c.name, " ", "-") + "/vmcore"
			obj, err := st.PutFile(ctx, key, name, fleet.PutFileOptions{})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			sum := sha256.Sum256(data)
			if obj.Size != int64(len(data)) || obj.SHA256 != hex.EncodeToString(sum[:]) || !bytes.Equal(readAll(t, direct, key), data) {
				t.Errorf("%s: stored object differs from the file (%+v)", c.name, obj)
			}
			oi, err := st.Stat(ctx, key)
			if err != nil || len(strings.Trim(oi.ETag, `"`)) < 32 || strings.HasPrefix(strings.Trim(oi.ETag, `"`), hex.EncodeToString(md5Of(data))) {
				t.Errorf("%s: the proxy did not hide the MD5: ETag %q %v", c.name, oi.ETag, err)
			}
		}
	})

	t.Run("Resume", func(t *testing.T) {
		name, data := randomFile(t, 3*fleet.MinPartSize+1<<20) // 4 parts
		interruptedUpload(t, st, "sse/resumed/vmcore", name, 2)
		// A new process: nothing has told its store about the encryption yet, and
		// listing the parts does not.
		sent, log := resumedUpload(t, newS3(t, kms), "sse/resumed/vmcore", name)
		if sent != 2 || !strings.Contains(log, "2 of 4 parts already stored") {
			t.Errorf("resumed upload sent %d parts (want 2, the 2 the server has kept by their ETags); log:\n%s", sent, log)
		}
		if !bytes.Equal(readAll(t, direct, "sse/resumed/vmcore"), data) {
			t.Error("resumed object differs from the file")
		}
	})

	t.Run("ResumedWhole", func(t *testing.T) {
		// Every part sent by the first run, the completion left to the next, on a
		// server whose completion answer does not say it encrypts: only the object's
		// own headers (HEAD) tell that its ETag is not made of MD5s.
		notOnComplete := srv.Config()
		notOnComplete.Endpoint = startOpaqueETagProxy(t, srv, func(r *http.Request) bool {
			return awsSSE(r) && !(r.Method == http.MethodPost && r.URL.Query().Has("uploadId"))
		})
		name, data := randomFile(t, 2*fleet.MinPartSize+1<<20) // 3 parts
		interruptedUpload(t, newS3(t, notOnComplete), "sse/whole/vmcore", name, 3)
		sent, log := resumedUpload(t, newS3(t, notOnComplete), "sse/whole/vmcore", name)
		if sent != 0 || !strings.Contains(log, "3 of 3 parts already stored") || !bytes.Equal(readAll(t, direct, "sse/whole/vmcore"), data) {
			t.Errorf("sent %d parts again, log:\n%s", sent, log)
		}
	})

	t.Run("OtherObjectSaysNothing", func(t *testing.T) {
		// An object that says it is encrypted does not turn off the checks of
		// another that does not.
		mixed := srv.Config()
		mixed.Endpoint = startOpaqueETagProxy(t, srv, func(r *http.Request) bool {
			return awsSSE(r) && strings.Contains(r.URL.Path, "/sse/")
		})
		ms := newS3(t, mixed)
		if _, err := ms.Stat(ctx, "sse/meta.json"); err != nil {
			t.Fatal(err)
		}
		name, _ := randomFile(t, 2*fleet.MinPartSize)
		if _, err := ms.PutFile(ctx, "plain/vmcore", name, fleet.PutFileOptions{}); !errors.Is(err, fleet.ErrChecksum) {
			t.Errorf("PutFile beside an encrypted object: %v, want a checksum error", err)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		_, data := randomFile(t, 2*fleet.MinPartSize+12345)
		w, err := st.NewStream(ctx, "sse/stream/vmcore")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readAll(t, direct, "sse/stream/vmcore"), data) {
			t.Error("streamed object differs from what was written")
		}
	})

	t.Run("NotSaidRefused", func(t *testing.T) {
		// ETags that are not MD5s from a server that does not say it encrypts:
		// something changed the data or the server is wrong, and nothing is kept.
		quiet := srv.Config()
		quiet.Endpoint = startOpaqueETagProxy(t, srv, nil)
		qs := newS3(t, quiet)
		name, _ := randomFile(t, 2*fleet.MinPartSize)
		if _, err := qs.PutFile(ctx, "sse/quiet/vmcore", name, fleet.PutFileOptions{}); !errors.Is(err, fleet.ErrChecksum) {
			t.Errorf("PutFile: %v, want a checksum error", err)
		}
		w, err := qs.NewStream(ctx, "sse/quiet-stream/vmcore")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, fleet.MinPartSize))
		if err := w.Close(); !errors.Is(err, fleet.ErrChecksum) {
			t.Errorf("Stream: %v, want a checksum error", err)
		}
		if _, err := direct.Stat(ctx, "sse/quiet-stream/vmcore"); !errors.Is(err, fleet.ErrNotExist) {
			t.Errorf("refused stream's object: %v, want none", err)
		}
	})
}

func md5Of(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}

// interruptedUpload starts uploading file to key and cancels it once part after is
// sent; the upload must fail, leaving its state file for a resume.
func interruptedUpload(t *testing.T, st *fleet.S3, key, file string, after int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := st.PutFile(ctx, key, file, fleet.PutFileOptions{AfterPart: func(n, _ int) {
		if n == after {
			cancel()
		}
	}})
	if err == nil {
		t.Fatalf("an upload whose context was cancelled after part %d finished", after)
	}
}

// resumedUpload uploads file to key again and returns how many parts it sent and
// what it logged.
func resumedUpload(t *testing.T, st *fleet.S3, key, file string) (int, string) {
	t.Helper()
	var log bytes.Buffer
	sent := 0
	if _, err := st.PutFile(context.Background(), key, file, fleet.PutFileOptions{Logf: logTo(t, &log), AfterPart: func(int, int) { sent++ }}); err != nil {
		t.Fatal(err)
	}
	return sent, log.String()
}
