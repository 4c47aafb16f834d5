package testenv

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	debMu    sync.Mutex
	debFiles = map[string][]byte{}
)

// DebianPackageFile returns the file at path (absolute, as installed) inside the
// Debian package pkg, without installing the package (its maintainer scripts may
// change the machine): the .deb is taken from apt's cache, or fetched with apt-get
// download (after an apt-get update when the first try fails), and read with
// dpkg-deb. The test fails, saying why, when that cannot be done.
func DebianPackageFile(t testing.TB, pkg, path string) []byte {
	t.Helper()
	debMu.Lock()
	defer debMu.Unlock()
	key := pkg + "\x00" + path
	if data, ok := debFiles[key]; ok {
		return data
	}
	data, err := debianPackageFile(pkg, path)
	if err != nil {
		t.Fatalf("%s from the Debian package %s: %v (apt-get download %s must work: run apt-get update)", path, pkg, err, pkg)
	}
	debFiles[key] = data
	return data
}

func debianPackageFile(pkg, path string) ([]byte, error) {
	debs, _ := filepath.Glob("/var/cache/apt/archives/" + pkg + "_*.deb")
	if len(debs) == 0 {
		dir, err := os.MkdirTemp("", pkg)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		download := func() ([]byte, error) {
			cmd := exec.Command("apt-get", "download", "-q", pkg)
			cmd.Dir = dir
			return cmd.CombinedOutput()
		}
		if _, err := download(); err != nil {
			if out, err := exec.Command("apt-get", "update", "-q").CombinedOutput(); err != nil {
				return nil, fmt.Errorf("apt-get update: %v\n%s", err, out)
			}
			if out, err := download(); err != nil {
				return nil, fmt.Errorf("apt-get download %s: %v\n%s", pkg, err, out)
			}
		}
		if debs, _ = filepath.Glob(filepath.Join(dir, pkg+"_*.deb")); len(debs) == 0 {
			return nil, fmt.Errorf("apt-get download left no %s_*.deb", pkg)
		}
	}
	out, err := exec.Command("dpkg-deb", "--fsys-tarfile", debs[len(debs)-1]).Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v", debs[len(debs)-1], err)
	}
	want := strings.TrimPrefix(path, "/")
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is not in %s", path, debs[len(debs)-1])
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") == want {
			return io.ReadAll(io.LimitReader(tr, 64<<20))
		}
	}
}
