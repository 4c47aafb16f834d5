package fleet

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
)

// FileUploader is a Store that can upload a large local file resumably. Callers fall
// back to Put for stores without it.
type FileUploader interface {
	PutFile(ctx context.Context, key, file string, opts PutFileOptions) (Object, error)
}

// PutFileOptions tune PutFile.
type PutFileOptions struct {
	// Logf reports progress and decisions (resumed parts, a stale upload aborted).
	Logf func(format string, args ...any)
	// AfterPart is called after each part is stored (tests interrupt uploads here).
	AfterPart func(part, parts int)
}

// UploadState is the state file PutFile keeps beside the file being uploaded
// (<file>.upload, mode 0600), so that a run after an interruption resumes the
// multipart upload instead of restarting it.
type UploadState struct {
	Version  int    `json:"version"`
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	UploadID string `json:"upload_id"`
	Size     int64  `json:"size"`
	PartSize int64  `json:"part_size"`
	SHA256   string `json:"sha256"` // of the whole file when the upload began
	Parts    []Part `json:"parts"`  // parts stored so far (the server's list is checked)
}

// Part is one stored part of a multipart upload.
type Part struct {
	Number int    `json:"n"`
	Size   int64  `json:"size"`
	MD5    string `json:"md5"` // hex: the MD5 of the part's bytes, sent as Content-MD5
	// ETag is the server's ETag for the part, as UploadPart returned it: the part's
	// MD5 on most servers, something else where the bucket encrypts with SSE-KMS or
	// SSE-C. Empty in state files written before it was kept: the MD5 stands for it.
	ETag string `json:"etag,omitempty"`
}

// etag is the ETag the server gave the part.
func (p Part) etag() string {
	if p.ETag != "" {
		return p.ETag
	}
	return p.MD5
}

// StateFile is where PutFile keeps the state of file's upload.
func StateFile(file string) string { return file + ".upload" }

// ShaMetaKey is the user metadata PutFile stores the whole file's SHA-256 under.
const ShaMetaKey = "Gokdump-Sha256"

// ErrChecksum is wrapped by PutFile's errors when the stored object's checksum is
// not the local file's.
var ErrChecksum = errors.New("checksum mismatch")

// fileSums is one pass over the file: its SHA-256 and each part's MD5.
type fileSums struct {
	sha256 string
	md5s   [][]byte
}

func sumFile(f *os.File, size, partSize int64) (fileSums, error) {
	var fs fileSums
	whole := sha256.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += partSize {
		n := min(partSize, size-off)
		h := md5.New()
		if _, err := io.CopyBuffer(io.MultiWriter(h, whole), io.NewSectionReader(f, off, n), buf); err != nil {
			return fs, err
		}
		fs.md5s = append(fs.md5s, h.Sum(nil))
	}
	fs.sha256 = hex.EncodeToString(whole.Sum(nil))
	return fs, nil
}

// multipartETag is the ETag S3 gives an object completed from parts of these MD5s.
func multipartETag(md5s [][]byte) string {
	h := md5.New()
	for _, m := range md5s {
		h.Write(m)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(md5s))
}

// PutFile uploads file to key as a multipart upload of cfg.PartSize parts, each sent
// with its MD5 (Content-MD5) and SHA-256 (the signed payload hash), which the server
// checks. Its state file lets a later call resume after an interruption: the parts
// the server lists (ListObjectParts) whose ETag is the one it gave when the part was
// sent, and whose bytes are the file's (the state's MD5), are kept. When the file
// changed since the upload began (its SHA-256 differs), the stale upload is aborted
// and the upload restarts. At completion the object's ETag must be the one the local
// parts' MD5s give (where the server's ETags are MD5s: not under SSE-KMS,
// see S3.opaqueETags), and its size and SHA-256 metadata the file's; else the object
// is removed and ErrChecksum returned. The object carries the file's SHA-256 as user
// metadata (ShaMetaKey). A file of one part is put whole, with the same checks.
func (s *S3) PutFile(ctx context.Context, key, file string, opts PutFileOptions) (Object, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	f, err := os.Open(file)
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	size, ps := fi.Size(), s.cfg.PartSize
	for size > ps*MaxParts {
		ps *= 2
	}
	sums, err := sumFile(f, size, ps)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", file, err)
	}
	obj := Object{Key: key, Size: size, SHA256: sums.sha256}
	meta := map[string]string{ShaMetaKey: sums.sha256}
	if len(sums.md5s) <= 1 {
		sha, md := sha256.New(), md5.New()
		_, err := io.Copy(io.MultiWriter(sha, md), io.NewSectionReader(f, 0, size))
		if err != nil {
			return Object{}, fmt.Errorf("%s: %w", file, err)
		}
		if hex.EncodeToString(sha.Sum(nil)) != sums.sha256 {
			return Object{}, fmt.Errorf("%s: changed while being uploaded", file)
		}
		info, err := s.core.PutObject(ctx, s.cfg.Bucket, key, io.NewSectionReader(f, 0, size), size,
			base64.StdEncoding.EncodeToString(md.Sum(nil)), sums.sha256, minio.PutObjectOptions{UserMetadata: meta})
		if err != nil {
			return Object{}, s.wrap(key, err)
		}
		if got, want := strings.Trim(info.ETag, `"`), hex.EncodeToString(md.Sum(nil)); got != want && !s.opaqueETag(ctx, key) {
			_ = s.Delete(ctx, key)
			return Object{}, fmt.Errorf("%s: %s: ETag %s, want %s: %w", s, key, got, want, ErrChecksum)
		}
		if !s.etagIsMD5(key) {
			if err := s.checkStored(ctx, key, size, sums.sha256); err != nil {
				return Object{}, err
			}
		}
		return obj, nil
	}

	stateFile := StateFile(file)
	st, resumed, err := s.resumeState(ctx, stateFile, key, size, ps, sums, logf)
	if errors.Is(err, errAlreadyStored) {
		return obj, nil
	}
	if err != nil {
		return Object{}, err
	}
	if st == nil {
		id, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, key, minio.PutObjectOptions{UserMetadata: meta})
		if err != nil {
			return Object{}, s.wrap(key, err)
		}
		st = &UploadState{Version: 1, Bucket: s.cfg.Bucket, Key: key, UploadID: id, Size: size, PartSize: ps, SHA256: sums.sha256}
		if err := writeState(stateFile, st); err != nil {
			return Object{}, err
		}
	}
	parts := len(sums.md5s)
	buf := make([]byte, min(ps, size))
	var complete []minio.CompletePart
	st.Parts = st.Parts[:0]
	for i := range parts {
		n := i + 1
		off := int64(i) * ps
		plen := min(ps, size-off)
		want := hex.EncodeToString(sums.md5s[i])
		if p, ok := resumed[n]; ok && p.Size == plen && p.MD5 == want {
			complete = append(complete, minio.CompletePart{PartNumber: n, ETag: p.etag()})
			st.Parts = append(st.Parts, p)
			continue
		}
		b := buf[:plen]
		if _, err := f.ReadAt(b, off); err != nil {
			return Object{}, fmt.Errorf("%s: %w", file, err)
		}
		md := md5.Sum(b)
		if hex.EncodeToString(md[:]) != want {
			return Object{}, fmt.Errorf("%s: changed while being uploaded (part %d)", file, n)
		}
		sh := sha256.Sum256(b)
		p, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, key, st.UploadID, n, bytesReader(b), plen, minio.PutObjectPartOptions{
			Md5Base64: base64.StdEncoding.EncodeToString(md[:]),
			Sha256Hex: hex.EncodeToString(sh[:]),
		})
		if err != nil {
			return Object{}, s.wrap(key, fmt.Errorf("part %d of %d: %w", n, parts, err))
		}
		got := strings.Trim(p.ETag, `"`)
		if got != want && s.etagIsMD5(key) {
			return Object{}, fmt.Errorf("%s: %s: part %d: ETag %s, want %s: %w", s, key, n, got, want, ErrChecksum)
		}
		complete = append(complete, minio.CompletePart{PartNumber: n, ETag: got})
		st.Parts = append(st.Parts, Part{Number: n, Size: plen, MD5: want, ETag: got})
		if err := writeState(stateFile, st); err != nil {
			return Object{}, err
		}
		if opts.AfterPart != nil {
			opts.AfterPart(n, parts)
		}
	}
	info, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, key, st.UploadID, complete, minio.PutObjectOptions{})
	if err != nil {
		return Object{}, s.wrap(key, fmt.Errorf("completing upload: %w", err))
	}
	got, want := strings.Trim(info.ETag, `"`), multipartETag(sums.md5s)
	if got != want && !s.opaqueETag(ctx, key) {
		_ = s.Delete(ctx, key)
		os.Remove(stateFile)
		return Object{}, fmt.Errorf("%s: %s: completed object's ETag %s, want %s (from the local parts): %w", s, key, got, want, ErrChecksum)
	}
	if err := s.checkStored(ctx, key, size, sums.sha256); err != nil {
		if errors.Is(err, ErrChecksum) {
			os.Remove(stateFile)
		}
		return Object{}, err
	}
	if err := os.Remove(stateFile); err != nil && !os.IsNotExist(err) {
		return obj, err
	}
	return obj, nil
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// resumeState reads the state file of an earlier run. It returns the state and the
// parts the server still has when that upload can go on; nil when there is none or it
// cannot (it then aborts the stale upload and removes the state file). A server that
// cannot be reached is an error: the state stays for the next try.
func (s *S3) resumeState(ctx context.Context, stateFile, key string, size, ps int64, sums fileSums, logf func(string, ...any)) (*UploadState, map[int]Part, error) {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		return nil, nil, nil
	}
	var st UploadState
	if err := json.Unmarshal(b, &st); err != nil || st.UploadID == "" {
		logf("%s: unreadable upload state, starting over", stateFile)
		os.Remove(stateFile)
		return nil, nil, nil
	}
	if st.Bucket != s.cfg.Bucket || st.Key != key {
		// Another store's upload: not ours to abort.
		logf("%s: upload state is for s3://%s/%s, starting over", stateFile, st.Bucket, st.Key)
		os.Remove(stateFile)
		return nil, nil, nil
	}
	if st.SHA256 != sums.sha256 || st.Size != size || st.PartSize != ps {
		logf("%s: the file changed since upload %s began (sha256 %s, now %s): %v; aborting the stale upload and starting over",
			stateFile, st.UploadID, short(st.SHA256), short(sums.sha256), ErrChecksum)
		s.abort(ctx, key, st.UploadID, logf)
		os.Remove(stateFile)
		return nil, nil, nil
	}
	have := map[int]Part{}
	marker := 0
	for range MaxParts/1000 + 1 {
		res, err := s.core.ListObjectParts(ctx, s.cfg.Bucket, key, st.UploadID, marker, 1000)
		if err != nil {
			if errorResponse(err).Code == "NoSuchUpload" {
				// Completed by an earlier run that stopped before removing the state
				// file? Then the object is there, whole.
				if oi, umeta, serr := s.StatMeta(ctx, key); serr == nil && oi.Size == size && umeta[ShaMetaKey] == sums.sha256 {
					logf("%s: upload %s was completed by an earlier run", stateFile, st.UploadID)
					os.Remove(stateFile)
					return nil, nil, errAlreadyStored
				}
				logf("%s: upload %s is gone from the server, starting over", stateFile, st.UploadID)
				os.Remove(stateFile)
				return nil, nil, nil
			}
			if Unreachable(err) {
				return nil, nil, s.wrap(key, err)
			}
			logf("%s: listing the parts of upload %s: %v; aborting it and starting over", stateFile, st.UploadID, err)
			s.abort(ctx, key, st.UploadID, logf) // else its parts stay on the server, unreferenced
			os.Remove(stateFile)
			return nil, nil, nil
		}
		for _, p := range res.ObjectParts {
			have[p.PartNumber] = Part{Number: p.PartNumber, Size: p.Size, ETag: strings.Trim(p.ETag, `"`)}
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			break
		}
		marker = res.NextPartNumberMarker
	}
	// A listed part is the file's when its ETag is the one the server gave when the
	// part was sent (kept in the state with the MD5 of the bytes sent) or, where ETags
	// are MD5s, the file part's MD5. Either way the part's MD5 becomes the file's, so
	// that the upload keeps it; any other listed part is sent again.
	sent := map[int]Part{}
	for _, p := range st.Parts {
		sent[p.Number] = p
	}
	kept := 0
	for n, p := range have {
		if n < 1 || n > len(sums.md5s) {
			continue
		}
		md := hex.EncodeToString(sums.md5s[n-1])
		if q, ok := sent[n]; (ok && q.MD5 == md && q.etag() == p.ETag) || p.ETag == md {
			p.MD5 = md
			have[n] = p
			kept++
		}
	}
	logf("resuming upload %s of %s: %d of %d parts already stored", st.UploadID, key, kept, len(sums.md5s))
	return &st, have, nil
}

// errAlreadyStored is resumeState's way of saying the object is already stored whole.
var errAlreadyStored = errors.New("already stored")

func (s *S3) abort(ctx context.Context, key, id string, logf func(string, ...any)) {
	if err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, key, id); err != nil && errorResponse(err).Code != "NoSuchUpload" {
		logf("aborting upload %s of %s: %v", id, key, err)
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// writeState writes st to name atomically, mode 0600.
func writeState(name string, st *UploadState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".upload-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// checkStored checks the object at key as stored: its size and the SHA-256 the upload
// put in its metadata. It removes an object that is not the file's and returns
// ErrChecksum.
func (s *S3) checkStored(ctx context.Context, key string, size int64, sha string) error {
	oi, umeta, err := s.StatMeta(ctx, key)
	if err != nil {
		return err
	}
	if oi.Size != size || umeta[ShaMetaKey] != sha {
		_ = s.Delete(ctx, key)
		return fmt.Errorf("%s: %s: stored object has size %d and sha256 %q, want %d and %s: %w", s, key, oi.Size, umeta[ShaMetaKey], size, sha, ErrChecksum)
	}
	return nil
}
