// Package kernelpkg fetches Debian kernel packages and unpacks them into a cache, so the
// real-crash lab (and any test that needs a real kernel image or real modules) can boot
// or read a distribution kernel without installing it into the machine.
//
// Packages are fetched with `apt-get download` and unpacked once with `dpkg-deb -x`;
// both steps write into a temporary name and rename into place, so two test processes
// that ask for the same kernel at the same time both end up with a complete tree.
//
//	k, err := kernelpkg.Get(ctx, cacheDir, "linux-image-6.1.0-56-amd64")
//	// k.Image is the bzImage, k.ModuleDir is lib/modules/<k.Release>
package kernelpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Kernel is one unpacked kernel package.
type Kernel struct {
	Package   string // Debian package name, e.g. linux-image-6.1.0-56-amd64
	Deb       string // path of the cached .deb
	Dir       string // root of the unpacked package
	Release   string // the kernel's release (uname -r), e.g. 6.1.0-56-amd64
	Image     string // path of the bootable image (vmlinuz)
	ModuleDir string // path of lib/modules/<Release> (or usr/lib/modules/<Release>)
}

// validName is what Debian allows in a package name; it keeps names that go into paths
// and command lines free of separators and options.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// Get returns the kernel package pkg unpacked under cacheDir, downloading the .deb into
// cacheDir and unpacking it into cacheDir/<pkg>/ the first time.
func Get(ctx context.Context, cacheDir, pkg string) (*Kernel, error) {
	if !validName.MatchString(pkg) {
		return nil, fmt.Errorf("kernelpkg: %q is not a Debian package name", pkg)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("kernelpkg: %w", err)
	}
	dir := filepath.Join(cacheDir, pkg)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		deb, err := download(ctx, cacheDir, pkg)
		if err != nil {
			return nil, err
		}
		if err := unpack(ctx, deb, dir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("kernelpkg: %w", err)
	}
	k, err := Open(dir)
	if err != nil {
		return nil, err
	}
	k.Package = pkg
	k.Deb, _ = cachedDeb(cacheDir, pkg)
	return k, nil
}

// Open describes an already unpacked kernel package rooted at dir: it finds the one
// release under lib/modules or usr/lib/modules and the image that goes with it.
func Open(dir string) (*Kernel, error) {
	var modDirs []string
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		ents, err := os.ReadDir(filepath.Join(dir, base))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				modDirs = append(modDirs, filepath.Join(dir, base, e.Name()))
			}
		}
	}
	if len(modDirs) != 1 {
		return nil, fmt.Errorf("kernelpkg: %s: want exactly one lib/modules/<release> directory, found %d", dir, len(modDirs))
	}
	k := &Kernel{Dir: dir, ModuleDir: modDirs[0], Release: filepath.Base(modDirs[0])}
	for _, img := range []string{
		filepath.Join(dir, "boot", "vmlinuz-"+k.Release),
		filepath.Join(k.ModuleDir, "vmlinuz"),
	} {
		if st, err := os.Stat(img); err == nil && st.Mode().IsRegular() {
			k.Image = img
			break
		}
	}
	if k.Image == "" {
		return nil, fmt.Errorf("kernelpkg: %s: no boot/vmlinuz-%s nor %s/vmlinuz", dir, k.Release, k.ModuleDir)
	}
	return k, nil
}

// cachedDeb returns the newest-named .deb of pkg in cacheDir.
func cachedDeb(cacheDir, pkg string) (string, bool) {
	debs, _ := filepath.Glob(filepath.Join(cacheDir, pkg+"_*.deb"))
	if len(debs) == 0 {
		return "", false
	}
	sort.Strings(debs)
	return debs[len(debs)-1], true
}

// download returns the cached .deb of pkg, fetching it with apt-get download into a
// private temporary directory first and renaming it into cacheDir.
func download(ctx context.Context, cacheDir, pkg string) (string, error) {
	if deb, ok := cachedDeb(cacheDir, pkg); ok {
		return deb, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("kernelpkg: downloading %s needs apt-get (Debian): %w", pkg, err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".download-")
	if err != nil {
		return "", fmt.Errorf("kernelpkg: %w", err)
	}
	defer os.RemoveAll(tmp)
	// apt drops privileges to _apt for downloads; a directory it cannot write only earns
	// a warning, but make it writable so the download is sandboxed as apt intends.
	_ = os.Chmod(tmp, 0o777)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kernelpkg: apt-get download %s: %v\n%s(if apt does not know the package, run `apt-get update` or `make deps`)", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("kernelpkg: apt-get download %s left %d matching .deb files, want 1", pkg, len(debs))
	}
	dst := filepath.Join(cacheDir, filepath.Base(debs[0]))
	if err := os.Rename(debs[0], dst); err != nil {
		return "", fmt.Errorf("kernelpkg: %w", err)
	}
	return dst, nil
}

// unpack extracts deb into dir through a temporary sibling directory, so dir exists only
// when complete. If another process finished first, its tree is kept.
func unpack(ctx context.Context, deb, dir string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return fmt.Errorf("kernelpkg: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kernelpkg: dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	_ = os.Chmod(tmp, 0o755)
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // another process unpacked it first
		}
		return fmt.Errorf("kernelpkg: %w", err)
	}
	return nil
}

// Resolve turns a metapackage such as linux-image-amd64 or linux-image-6.12-amd64 into
// the versioned kernel package it currently depends on, as apt-cache sees it. A name
// that already is a kernel image package is returned unchanged.
func Resolve(ctx context.Context, name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("kernelpkg: %q is not a Debian package name", name)
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "--no-recommends",
		"--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", name).Output()
	if err != nil {
		return "", fmt.Errorf("kernelpkg: apt-cache depends %s: %v (run `apt-get update` or `make deps`)", name, err)
	}
	pkg, ok := imageDependency(out)
	if !ok {
		return name, nil
	}
	return pkg, nil
}

// imageDependency picks the first "Depends: linux-image-..." line of apt-cache depends.
func imageDependency(out []byte) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "|")
		dep, ok := strings.CutPrefix(line, "Depends: ")
		if !ok {
			continue
		}
		dep = strings.TrimSpace(dep)
		if strings.HasPrefix(dep, "linux-image-") && validName.MatchString(dep) {
			return dep, true
		}
	}
	return "", false
}

// ModulePath is this module's import path; the repository root is the directory whose
// go.mod declares it.
const ModulePath = "github.com/gokdump/gokdump"

// RepoRoot walks up from dir to the gokdump repository root.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("kernelpkg: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+ModulePath+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("kernelpkg: no go.mod of %s above %s", ModulePath, dir)
		}
	}
}

// DefaultCacheDir is where kernel packages are kept: $GOKDUMP_CACHE/kernels when that is
// set, else .cache/kernels in the repository (git-ignored) found above the working
// directory.
func DefaultCacheDir() (string, error) {
	if c := os.Getenv("GOKDUMP_CACHE"); c != "" {
		return filepath.Join(c, "kernels"), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kernelpkg: %w", err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		return "", fmt.Errorf("%w (set GOKDUMP_CACHE to use a cache elsewhere)", err)
	}
	return filepath.Join(root, ".cache", "kernels"), nil
}
