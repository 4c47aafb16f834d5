package main

import (
	"bytes"
	"go/format"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGofmt: every Go file of the repository is as gofmt writes it (a file that is not
// slipped through vet, build and tests once). It walks the tree from the module root,
// leaving out hidden directories (.cache holds downloaded sources) and testdata.
func TestGofmt(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not two levels up: %v", err)
	}
	var bad []string
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		out, err := format.Source(src)
		if err != nil {
			bad = append(bad, path+": "+err.Error())
		} else if !bytes.Equal(out, src) {
			bad = append(bad, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("found only %d Go files from %s", n, root)
	}
	if len(bad) > 0 {
		t.Errorf("not gofmt-formatted (run gofmt -w on them):\n%s", strings.Join(bad, "\n"))
	}
}
