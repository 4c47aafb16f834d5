package fleet

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Dir is a Store in a local directory: the embedded default of "gokdump serve
// --store DIR" and of uploads to a directory. Objects are files (0600) under
// directories (0700): a store holds dumps. Put writes a temporary file, syncs it and
// renames it into place, so a reader never sees a part.
type Dir struct {
	Root string
}

func (d Dir) String() string { return d.Root }

// path maps a key to a file, refusing keys that would leave Root.
func (d Dir) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || !fs.ValidPath(key) {
		return "", fmt.Errorf("%s: %q is not a valid object key", d.Root, key)
	}
	return filepath.Join(d.Root, filepath.FromSlash(key)), nil
}

func (d Dir) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this finds nothing
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("%s: %s: got %d bytes, want %d", d.Root, key, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Get and Stat resolve key inside Root (os.Root): a symbolic link planted in the
// store that points out of it is refused, so a server over the store never hands out
// a file of the machine it runs on.
func (d Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := d.path(key); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(d.Root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(filepath.FromSlash(key))
}

func (d Dir) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if _, err := d.path(key); err != nil {
		return ObjectInfo{}, err
	}
	root, err := os.OpenRoot(d.Root)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer root.Close()
	fi, err := root.Stat(filepath.FromSlash(key))
	if err != nil {
		return ObjectInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%s: %s: not an object: %w", d.Root, key, ErrNotExist)
	}
	return dirInfo(key, fi), nil
}

func dirInfo(key string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime(),
		ETag: strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16)}
}

// List walks Root in lexical order (filepath.WalkDir's), which is key order for keys
// made of one character set; temporary files of Put are not objects.
func (d Dir) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	// Walk from the deepest directory the prefix names.
	start := prefix
	if i := strings.LastIndex(start, "/"); i >= 0 {
		start = start[:i]
	} else {
		start = ""
	}
	root := d.Root
	if start != "" {
		p, err := d.path(start)
		if err != nil {
			return err
		}
		root = p
	}
	var keys []ObjectInfo
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errorsIsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".put-") || !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		keys = append(keys, dirInfo(key, fi))
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (d Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errorsIsNotExist(err) {
		return err
	}
	return nil
}

func errorsIsNotExist(err error) bool { return os.IsNotExist(err) }

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
