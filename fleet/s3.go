package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/gokdump/gokdump/config"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says how to reach a bucket.
type S3Config struct {
	// Endpoint is "host[:port]" (HTTPS) or a URL "https://host[:port]" or
	// "http://host[:port]". Plain HTTP is refused unless the host is a loopback
	// address or AllowHTTP is set.
	Endpoint  string
	AllowHTTP bool
	Bucket    string
	// Region is sent in signatures; "" : us-east-1 (what most S3-compatible servers
	// accept whatever their own name).
	Region      string
	Credentials Credentials
	// CAFile is a PEM file of CAs to trust instead of the system's ("" : the system's).
	CAFile string
	// PartSize is the multipart part size of PutFile (0 : DefaultPartSize; at least
	// MinPartSize, S3's minimum for every part but the last).
	PartSize int64
	// Timeout bounds each request's connection and response headers (0 : 30 s).
	Timeout time.Duration
	// DialAddr, when set, is the "ip:port" every connection goes to instead of
	// resolving Endpoint's host (the capture kernel has no resolver: start records
	// the address); requests still name Endpoint's host (Host header, TLS name).
	DialAddr string
}

const (
	MinPartSize     = 5 << 20
	DefaultPartSize = 16 << 20
	// MaxParts is S3's limit on the parts of one multipart upload.
	MaxParts = 10000
)

// S3 is a Store in an S3-compatible bucket (minio-go underneath). Keys are full
// object keys: callers put the prefix in with Key.
type S3 struct {
	cfg    S3Config
	core   minio.Core
	scheme string
	// opaqueETags holds the keys (as string) whose responses said the server encrypts
	// them with SSE-KMS, DSSE-KMS or SSE-C (sseWatch): their ETags are then not the
	// MD5s of the data (Amazon S3's documented behaviour), so their uploads check the
	// parts by Content-MD5 and the signed SHA-256, which the server verifies itself,
	// and the stored object by its size and SHA-256 instead of by ETag. Per key: what
	// another object says (an old one, from before the bucket's encryption changed)
	// does not turn an upload's checks off.
	opaqueETags sync.Map
}

// sseWatch is the client's transport, noting from each response whether the server
// encrypts with a key that makes ETags opaque.
type sseWatch struct {
	rt http.RoundTripper
	s  *S3
}

func (w sseWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.rt.RoundTrip(req)
	if err == nil && opaqueETagHeaders(resp.Header) {
		// Path-style requests (BucketLookupPath): /bucket/key.
		if key, ok := strings.CutPrefix(req.URL.Path, "/"+w.s.cfg.Bucket+"/"); ok && key != "" {
			w.s.opaqueETags.Store(key, true)
		}
	}
	return resp, err
}

// opaqueETagHeaders reports whether a response's headers say its object is encrypted
// in a way that makes the ETag something other than an MD5 of the data: SSE-KMS
// ("aws:kms"), DSSE-KMS ("aws:kms:dsse") or SSE-C (a customer algorithm given).
func opaqueETagHeaders(h http.Header) bool {
	sse := h.Get("X-Amz-Server-Side-Encryption")
	return strings.HasPrefix(sse, "aws:kms") || h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != ""
}

// etagIsMD5 says whether key's ETags can be checked against MD5s: true until the
// server says otherwise in a response about key (opaqueETags).
func (s *S3) etagIsMD5(key string) bool {
	_, opaque := s.opaqueETags.Load(key)
	return !opaque
}

// opaqueETag says whether key's ETag, found not to be the MD5 wanted, may be so
// because of its encryption: a response about key said so already, or the object's
// headers say so now. A resumed upload whose parts were all sent by an earlier run
// may have had no other response that tells.
func (s *S3) opaqueETag(ctx context.Context, key string) bool {
	if s.etagIsMD5(key) {
		_, _ = s.Stat(ctx, key) // sseWatch notes what its headers say
	}
	return !s.etagIsMD5(key)
}

// ParseEndpoint splits an s3_endpoint value into host:port and whether it is HTTPS,
// refusing plain HTTP to a host that is not loopback unless allowHTTP.
func ParseEndpoint(ep string, allowHTTP bool) (host string, secure bool, err error) {
	e, err := config.ParseS3Endpoint(ep)
	if err != nil {
		return "", false, fmt.Errorf("endpoint: %w", err)
	}
	if e.Plain && !allowHTTP && !config.IsLoopbackHost(e.Host) {
		return "", false, fmt.Errorf("endpoint %q: plain http to a host that is not loopback sends the dumps unencrypted; use https, or allow it explicitly (s3_allow_http yes)", ep)
	}
	return e.HostPort, !e.Plain, nil
}

// NewS3 returns the store of cfg. It does not contact the server.
func NewS3(cfg S3Config) (*S3, error) {
	host, secure, err := ParseEndpoint(cfg.Endpoint, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize || cfg.PartSize > 1<<30 {
		return nil, fmt.Errorf("s3: part size %d: want %d to %d bytes", cfg.PartSize, MinPartSize, 1<<30)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 nil, // never through a proxy named by the environment
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: 2 * cfg.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if cfg.DialAddr != "" {
		d := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
		addr := cfg.DialAddr
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3 CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3 CA file %s: no PEM certificate in it", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	c := cfg.Credentials
	s := &S3{cfg: cfg, scheme: "https"}
	if !secure {
		s.scheme = "http"
	}
	cl, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken),
		Secure:       secure,
		Transport:    sseWatch{rt: tr, s: s},
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		// The callers retry with their own bounded back-off; minio-go's own
		// retries stay few so a server that is down is noticed in seconds.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	s.core = minio.Core{Client: cl}
	return s, nil
}

func (s *S3) String() string {
	host, _, _ := ParseEndpoint(s.cfg.Endpoint, true)
	return fmt.Sprintf("s3://%s (%s://%s)", s.cfg.Bucket, s.scheme, host)
}

// Bucket is the store's bucket.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Client is the minio-go client underneath (for tests and tools).
func (s *S3) Client() *minio.Client { return s.core.Client }

// wrap turns minio-go's errors into the store's: a missing key wraps ErrNotExist,
// and every error names the store and key.
func (s *S3) wrap(key string, err error) error {
	if err == nil {
		return nil
	}
	switch errorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: %s: %w", s, key, ErrNotExist)
	}
	return fmt.Errorf("%s: %s: %w", s, key, err)
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, err := s.core.Client.PutObject(ctx, s.cfg.Bucket, key, r, size, minio.PutObjectOptions{
		SendContentMd5: true,
		ContentType:    contentType(key),
	})
	return s.wrap(key, err)
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap(key, err)
	}
	return rc, nil
}

func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := s.core.Client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.wrap(key, err)
	}
	return ObjectInfo{Key: oi.Key, Size: oi.Size, ETag: oi.ETag, Modified: oi.LastModified}, nil
}

// StatMeta is Stat with the object's user metadata (x-amz-meta-*, keys as minio-go
// gives them).
func (s *S3) StatMeta(ctx context.Context, key string) (ObjectInfo, map[string]string, error) {
	oi, err := s.core.Client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, nil, s.wrap(key, err)
	}
	return ObjectInfo{Key: oi.Key, Size: oi.Size, ETag: oi.ETag, Modified: oi.LastModified}, oi.UserMetadata, nil
}

func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine when fn stops early
	for oi := range s.core.Client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return s.wrap(prefix, oi.Err)
		}
		if err := fn(ObjectInfo{Key: oi.Key, Size: oi.Size, ETag: oi.ETag, Modified: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *S3) Delete(ctx context.Context, key string) error {
	err := s.core.Client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	if errorResponse(err).Code == "NoSuchKey" {
		return nil
	}
	return s.wrap(key, err)
}

// Unreachable reports whether err means the store could not be reached at all (no
// route, connection refused, DNS failure, time-out), as opposed to the store
// refusing a request: an upload then waits for its next run.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if er := errorResponse(err); er.Code != "" && er.StatusCode != 0 {
		switch er.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ECONNRESET,
		syscall.ETIMEDOUT, syscall.EPIPE, context.DeadlineExceeded, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	var dns *net.DNSError
	var ne net.Error
	var op *net.OpError
	// Of net.OpError only a failed dial: a TLS alert or a reset mid-request on a
	// connection that was made is the store answering, not it being away.
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") || (errors.As(err, &ne) && ne.Timeout())
}

// errorResponse is the S3 error inside err, however wrapped (minio-go's
// ToErrorResponse only looks at err itself; ours are wrapped by wrap).
func errorResponse(err error) minio.ErrorResponse {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er
	}
	var per *minio.ErrorResponse
	if errors.As(err, &per) && per != nil {
		return *per
	}
	return minio.ToErrorResponse(err)
}
