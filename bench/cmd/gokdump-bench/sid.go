package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sidPackages are Debian unstable's makedumpfile and the libraries it loads (with
// sid's glibc, newer than the host's: the program runs through sid's own loader).
var sidPackages = []string{"makedumpfile/sid", "libc6/sid", "libdw1t64/sid", "libelf1t64/sid",
	"liblzo2-2/sid", "libzstd1/sid", "zlib1g/sid", "liblzma5/sid", "libbz2-1.0/sid"}

// sidMakedumpfile returns the argv prefix that runs Debian unstable's makedumpfile
// (1.7.8, zstd built in) without installing anything: the first time, apt-get with a
// private source list and private lists (the host's apt configuration is not touched)
// downloads it and its libraries, and dpkg-deb unpacks them into cache/sid/root.
func sidMakedumpfile(ctx context.Context, stdout io.Writer, cache string) ([]string, error) {
	dir := filepath.Join(cache, "sid")
	root := filepath.Join(dir, "root")
	argv := []string{
		filepath.Join(root, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
		"--library-path", filepath.Join(root, "usr/lib/x86_64-linux-gnu"),
		filepath.Join(root, "usr/bin/makedumpfile"),
	}
	if _, err := os.Stat(argv[len(argv)-1]); err == nil {
		return argv, nil
	}
	fmt.Fprintf(stdout, "fetching Debian unstable's makedumpfile into %s\n", root)
	if err := os.MkdirAll(filepath.Join(dir, "lists", "partial"), 0o755); err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "sources.list")
	if err := os.WriteFile(src, []byte("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n"), 0o644); err != nil {
		return nil, err
	}
	apt := []string{"-q", "-o", "Dir::Etc::sourcelist=" + src, "-o", "Dir::Etc::sourceparts=/nonexistent",
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists")}
	if out, err := exec.CommandContext(ctx, "apt-get", append(apt, "update")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get update (sid): %v\n%s", err, out)
	}
	debs, err := os.MkdirTemp(dir, ".debs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(debs)
	_ = os.Chmod(debs, 0o777) // apt downloads as _apt
	get := exec.CommandContext(ctx, "apt-get", append(append(apt, "download"), sidPackages...)...)
	get.Dir = debs
	if out, err := get.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %s: %v\n%s", strings.Join(sidPackages, " "), err, out)
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != len(sidPackages) {
		return nil, fmt.Errorf("apt-get download left %d .deb files in %s, want %d", len(files), debs, len(sidPackages))
	}
	tmp, err := os.MkdirTemp(dir, ".root-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", f, tmp).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("dpkg-deb -x %s: %v\n%s", f, err, out)
		}
	}
	_ = os.Chmod(tmp, 0o755)
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, argv[0], append(argv[1:], "-v")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s -v: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return argv, nil
}
