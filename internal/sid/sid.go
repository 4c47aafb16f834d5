// Package sid runs programs of Debian unstable on this older Debian without installing
// anything: apt-get, with a private source list and private package lists (the host's
// apt configuration is not touched), downloads the packages, dpkg-deb unpacks them
// into a root under a cache directory, and the programs run through that root's own
// dynamic loader with its libraries (sid's glibc is newer than the host's). The bench
// uses it for makedumpfile 1.7.8 and the lab tests for crash 9, which opens 6.12
// vmcores where bookworm's crash 8.0.2 cannot. Test and bench code only: nothing in
// the product imports it.
package sid

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Source is the source list line of Debian unstable.
const Source = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n"

// Root returns dir/root holding packages (names, fetched from sid) unpacked, making it
// the first time (logf says so): check is a program under the root that must then run
// (with its arguments) for the root to count as made. A root already there is used as
// it is.
func Root(ctx context.Context, dir string, packages []string, check []string, logf func(string, ...any)) (string, error) {
	root := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(root, check[0])); err == nil {
		return root, nil
	}
	logf("fetching %s from Debian unstable into %s", strings.Join(packages, " "), root)
	if err := os.MkdirAll(filepath.Join(dir, "lists", "partial"), 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(dir, "sources.list")
	if err := os.WriteFile(src, []byte(Source), 0o644); err != nil {
		return "", err
	}
	apt := []string{"-q", "-o", "Dir::Etc::sourcelist=" + src, "-o", "Dir::Etc::sourceparts=/nonexistent",
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists")}
	if out, err := exec.CommandContext(ctx, "apt-get", append(apt, "update")...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get update (sid): %v\n%s", err, out)
	}
	debs, err := os.MkdirTemp(dir, ".debs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(debs)
	_ = os.Chmod(debs, 0o777) // apt downloads as _apt
	names := make([]string, len(packages))
	for i, p := range packages {
		names[i] = p + "/sid"
	}
	get := exec.CommandContext(ctx, "apt-get", append(append(apt, "download"), names...)...)
	get.Dir = debs
	if out, err := get.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %v\n%s", strings.Join(names, " "), err, out)
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != len(packages) {
		return "", fmt.Errorf("apt-get download left %d .deb files in %s, want %d", len(files), debs, len(packages))
	}
	tmp, err := os.MkdirTemp(dir, ".root-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", f, tmp).CombinedOutput(); err != nil {
			return "", fmt.Errorf("dpkg-deb -x %s: %v\n%s", f, err, out)
		}
	}
	_ = os.Chmod(tmp, 0o755)
	argv := append(Argv(tmp, check[0]), check[1:]...)
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	if err := os.Rename(tmp, root); err != nil {
		return "", err
	}
	return root, nil
}

// Argv is the argument list prefix that runs prog (a path inside root, such as
// "usr/bin/crash") through root's loader and libraries.
func Argv(root, prog string) []string {
	lib := filepath.Join(root, "usr/lib/x86_64-linux-gnu")
	return []string{filepath.Join(lib, "ld-linux-x86-64.so.2"), "--library-path", lib, filepath.Join(root, prog)}
}
