package packaging

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// build runs "make package" into a temporary directory and returns the .deb and .rpm.
func build(t *testing.T) (deb, rpm string) {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed (apt-get install make): %v", err)
	}
	dir := t.TempDir()
	if out, err := exec.Command(mk, "-s", "-C", "..", "package", "PKGDIR="+dir, "PKG_VERSION=1.2.3").CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dir, "*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("make package made %q and %q", debs, rpms)
	}
	return debs[0], rpms[0]
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// files are the package's files with their modes as dpkg-deb --contents lists them.
var files = map[string]string{
	"./usr/sbin/gokdump":                                        "-rwxr-xr-x root/root",
	"./lib/systemd/system/gokdump.service":                      "-rw-r--r-- root/root",
	"./lib/systemd/system/gokdump-upload.service":               "-rw-r--r-- root/root",
	"./lib/systemd/system/gokdump-upload.timer":                 "-rw-r--r-- root/root",
	"./lib/udev/rules.d/98-gokdump.rules":                       "-rw-r--r-- root/root",
	"./etc/kdump.conf":                                          "-rw-r--r-- root/root",
	"./usr/lib/kernel/install.d/92-gokdump-crashkernel.install": "-rwxr-xr-x root/root",
	"./etc/kernel/postinst.d/gokdump-crashkernel":               "-rwxr-xr-x root/root",
	"./usr/share/man/man8/gokdump.8.gz":                         "-rw-r--r-- root/root",
}

// TestPackages builds the .deb and the .rpm and checks what they hold, then installs
// the .deb into a scratch root with dpkg --root (its maintainer scripts run with
// DPKG_ROOT) next to a "real" makedumpfile, and removes it again.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and nfpm; left out of -short runs")
	}
	testenv.NeedPackages(t, map[string]string{"dpkg-deb": "dpkg", "rpm": "rpm"})
	deb, rpm := build(t)

	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: gokdump\n", "Version: 1.2.3\n", "Architecture: amd64\n", " postinst ", " prerm ", " conffiles "} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if c := run(t, "dpkg-deb", "--info", deb, "conffiles"); c != "/etc/kdump.conf\n/etc/kernel/postinst.d/gokdump-crashkernel\n" {
		t.Errorf("conffiles: %q", c)
	}
	contents := run(t, "dpkg-deb", "--contents", deb)
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(contents), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || strings.HasSuffix(f[5], "/") {
			continue
		}
		want, ok := files[f[5]]
		if !ok {
			t.Errorf("unexpected file in the .deb: %s", line)
			continue
		}
		if got := f[0] + " " + f[1]; got != want {
			t.Errorf("%s: %s, want %s", f[5], got, want)
		}
		seen++
	}
	if seen != len(files) {
		t.Errorf("the .deb holds %d of the %d files:\n%s", seen, len(files), contents)
	}

	// Install into a scratch root that has a real makedumpfile but no vmcore-dmesg.
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/bin", "usr/sbin"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	realMDF := filepath.Join(root, "usr/bin/makedumpfile")
	os.WriteFile(realMDF, []byte("#!/bin/sh\n"), 0o755)
	dpkg := []string{"--root=" + root, "--force-script-chrootless", "--force-not-root", "--log=/dev/null"}
	out := run(t, "dpkg", append(dpkg, "-i", deb)...)
	if !strings.Contains(out, "gokdump: the real /usr/bin/makedumpfile is installed; makedumpfile is not linked") ||
		!strings.Contains(out, "gokdump: /usr/sbin/vmcore-dmesg -> /usr/sbin/gokdump") {
		t.Errorf("dpkg -i said:\n%s", out)
	}
	if l, err := os.Readlink(filepath.Join(root, "usr/sbin/vmcore-dmesg")); err != nil || l != "/usr/sbin/gokdump" {
		t.Errorf("vmcore-dmesg: %q, %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "usr/sbin/makedumpfile")); err == nil {
		t.Error("makedumpfile linked next to a real one")
	}
	bin := filepath.Join(root, "usr/sbin/gokdump")
	run(t, bin, "config", "check", "--file-only", filepath.Join(root, "etc/kdump.conf"))
	asMDF := exec.Command(bin, "-v")
	asMDF.Args[0] = "makedumpfile"
	if v, err := asMDF.Output(); err != nil || !strings.HasPrefix(string(v), "makedumpfile: version 1.7.2 (released on") {
		t.Errorf("the installed binary as makedumpfile -v: %q, %v", v, err)
	}
	zf, err := os.Open(filepath.Join(root, "usr/share/man/man8/gokdump.8.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	man, _ := io.ReadAll(zr)
	zf.Close()
	for _, want := range []string{".TH GOKDUMP 8", ".SS dump\n", "--split", ".SS config\n"} {
		if !bytes.Contains(man, []byte(want)) {
			t.Errorf("gokdump.8 lacks %q", want)
		}
	}
	if mp, err := exec.LookPath("man"); err == nil {
		cmd := exec.Command(mp, "--warnings", "-l", filepath.Join(root, "usr/share/man/man8/gokdump.8.gz"))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() != 0 {
			t.Errorf("man --warnings: %v\n%s", err, stderr.String())
		}
	}

	run(t, "dpkg", append(dpkg, "-r", "gokdump")...)
	if _, err := os.Lstat(filepath.Join(root, "usr/sbin/vmcore-dmesg")); err == nil {
		t.Error("the vmcore-dmesg link outlived the package")
	}
	if _, err := os.Stat(realMDF); err != nil {
		t.Error("removing the package removed the real makedumpfile")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/kdump.conf")); err != nil {
		t.Error("dpkg -r removed the configuration file (only purge does)")
	}

	list := strings.Fields(run(t, "rpm", "-qlp", rpm))
	for f := range files {
		if !slices.Contains(list, strings.TrimPrefix(f, ".")) {
			t.Errorf("rpm -qlp lacks %s: %q", f, list)
		}
	}
	if c := run(t, "rpm", "-qcp", rpm); c != "/etc/kdump.conf\n/etc/kernel/postinst.d/gokdump-crashkernel\n" {
		t.Errorf("rpm -qcp: %q", c)
	}
	if s := run(t, "rpm", "-qp", "--scripts", rpm); !strings.Contains(s, "postinstall scriptlet") || !strings.Contains(s, "preuninstall scriptlet") {
		t.Errorf("rpm scripts:\n%s", s)
	}
}
