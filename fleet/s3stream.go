package fleet

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// Stream is an object written in order as a multipart upload, for a writer that
// cannot seek (the capture kernel's flattened dump): it holds one part in memory
// (PartSize bytes), sends each full part with its MD5 and SHA-256 (checked by the
// server), retrying a part a bounded number of times, and completes the object on
// Close, checking the completed object's ETag against the parts' MD5s (or, where the
// server's ETags are not MD5s, under SSE-KMS, its size: S3.opaqueETags). The size is
// not known in advance and S3 allows MaxParts parts, so the part size doubles every
// streamGrowEvery parts up to streamMaxPart (with 8 MiB parts: 16 GB in 8 MiB
// parts, then 32 GB in 16 MiB parts, ...; 368 GB in all, the memory held growing
// only for dumps that large).
type Stream struct {
	s        *S3
	ctx      context.Context
	key, id  string
	buf      []byte
	parts    []minio.CompletePart
	md5s     [][]byte
	sha      hash.Hash
	size     int64
	err      error
	finished bool
}

// NewStream starts the multipart upload of key.
func (s *S3) NewStream(ctx context.Context, key string) (*Stream, error) {
	id, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return nil, s.wrap(key, err)
	}
	return &Stream{s: s, ctx: ctx, key: key, id: id, buf: make([]byte, 0, s.cfg.PartSize), sha: sha256.New()}, nil
}

func (w *Stream) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// A Stream's part size doubles every streamGrowEvery parts, up to streamMaxPart.
const (
	streamGrowEvery = 2000
	streamMaxPart   = 64 << 20
)

// StreamPartSize is the first part size of the capture kernel's Stream (s3_capture):
// smaller than DefaultPartSize, since the capture holds a part in its little memory.
const StreamPartSize = 8 << 20

// StreamBuffer is the part size a Stream whose parts began at base bytes has reached
// once size bytes went through it (the doubling of Stream's doc): the memory it holds
// then, for the crashkernel= estimate of s3_capture.
func StreamBuffer(base, size int64) int64 {
	part := base
	for part < streamMaxPart && size >= part*streamGrowEvery {
		size -= part * streamGrowEvery
		part *= 2
	}
	return part
}

func (w *Stream) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if len(w.parts) >= MaxParts {
		w.err = fmt.Errorf("%s: %s: more than %d parts", w.s, w.key, MaxParts)
		return w.err
	}
	n := len(w.parts) + 1
	if n%streamGrowEvery == 0 && cap(w.buf) < streamMaxPart {
		defer func() { w.buf = make([]byte, 0, 2*cap(w.buf)) }()
	}
	md := md5.Sum(w.buf)
	sh := sha256.Sum256(w.buf)
	var etag string
	err := Retry(w.ctx, DefaultBackoff, func() error {
		p, err := w.s.core.PutObjectPart(w.ctx, w.s.cfg.Bucket, w.key, w.id, n, bytesReader(w.buf), int64(len(w.buf)), minio.PutObjectPartOptions{
			Md5Base64: base64.StdEncoding.EncodeToString(md[:]),
			Sha256Hex: hex.EncodeToString(sh[:]),
		})
		if err == nil {
			etag = strings.Trim(p.ETag, `"`)
			if etag != hex.EncodeToString(md[:]) && w.s.etagIsMD5(w.key) {
				err = fmt.Errorf("part %d: ETag %s, want %x: %w", n, etag, md, ErrChecksum)
			}
		}
		return err
	})
	if err != nil {
		w.err = w.s.wrap(w.key, fmt.Errorf("part %d: %w", n, err))
		return w.err
	}
	w.sha.Write(w.buf)
	w.size += int64(len(w.buf))
	w.parts = append(w.parts, minio.CompletePart{PartNumber: n, ETag: etag})
	w.md5s = append(w.md5s, md[:])
	w.buf = w.buf[:0]
	return nil
}

// Close sends the last part and completes the object; on an error the upload is
// aborted.
func (w *Stream) Close() error { return w.Finish(w.ctx) }

// Finish is Close under ctx instead of the stream's own context: a dump cut short by
// its deadline is still kept, completed within a new, short one.
func (w *Stream) Finish(ctx context.Context) error {
	if w.finished {
		return w.err
	}
	w.finished = true
	w.ctx = ctx
	if w.err == nil {
		w.flushLast()
	}
	if w.err != nil {
		w.abort()
		return w.err
	}
	info, err := w.s.core.CompleteMultipartUpload(w.ctx, w.s.cfg.Bucket, w.key, w.id, w.parts, minio.PutObjectOptions{})
	if err != nil {
		w.err = w.s.wrap(w.key, fmt.Errorf("completing upload: %w", err))
		w.abort()
		return w.err
	}
	if got, want := strings.Trim(info.ETag, `"`), multipartETag(w.md5s); got != want && !w.s.opaqueETag(w.ctx, w.key) {
		_ = w.s.Delete(w.ctx, w.key)
		w.err = fmt.Errorf("%s: %s: completed object's ETag %s, want %s: %w", w.s, w.key, got, want, ErrChecksum)
	} else if got != want {
		oi, err := w.s.Stat(w.ctx, w.key)
		switch {
		case err != nil:
			w.err = err
		case oi.Size != w.size:
			_ = w.s.Delete(w.ctx, w.key)
			w.err = fmt.Errorf("%s: %s: completed object has %d bytes, want %d: %w", w.s, w.key, oi.Size, w.size, ErrChecksum)
		}
	}
	return w.err
}

// flushLast sends what is buffered as the last part (it may be short, or empty for
// an empty object).
func (w *Stream) flushLast() {
	if len(w.buf) == 0 && len(w.parts) > 0 {
		return
	}
	if len(w.buf) == 0 {
		w.err = errors.New("an empty stream")
		return
	}
	w.flush()
}

// Abort gives the upload up: the object is not created.
func (w *Stream) Abort(err error) error {
	if !w.finished {
		w.finished = true
		if w.err == nil {
			w.err = err
		}
		w.abort()
	}
	return nil
}

func (w *Stream) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w.s.core.AbortMultipartUpload(ctx, w.s.cfg.Bucket, w.key, w.id)
}

// Err is the error that stopped the stream (a part that could not be sent), or nil.
func (w *Stream) Err() error { return w.err }

// Size is the bytes written so far; SHA256 their SHA-256 (hex), once closed.
func (w *Stream) Size() int64 { return w.size }

func (w *Stream) SHA256() string { return hex.EncodeToString(w.sha.Sum(nil)) }
