package service

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/internal/progdeps"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/netconf"
	"github.com/gokdump/gokdump/volume"
)

// System names the parts of the machine the service reads and writes. Host returns
// the real paths; tests use directories of their own.
type System struct {
	ProcRoot   string // /proc
	SysRoot    string // /sys
	DevRoot    string // /dev
	BootDir    string // /boot: vmlinuz-RELEASE, config-RELEASE
	ModulesDir string // /lib/modules: a directory per kernel release
	StateDir   string // /var/lib/gokdump: capture initramfs images and their manifests
	// LibDirs are the directories shared libraries are looked for in, in order
	// (the dynamic loader's default directories on Debian and Fedora).
	LibDirs []string
	// Kexec loads the capture kernel (nil: kexec_file_load).
	Kexec Kexec
	// Net is how the way to an ssh or nfs server is found (the zero value: the
	// running kernel's netlink, the system resolver, SysRoot).
	Net netconf.Options
	// KnownHosts are the files the ssh server's host key is looked up in (nil:
	// DefaultKnownHosts).
	KnownHosts []string
	// DescribeStack returns the LVM/md stack under a dm or md block device, by its
	// kernel name (nil: volume.DescribeDevice on its node under DevRoot).
	DescribeStack func(name string) (*volume.Stack, error)
	// FreeBytes returns the bytes free for files in the file system holding dir
	// (nil: statfs).
	FreeBytes func(dir string) (int64, error)
	// HookDir is kdump-utils' /etc/kdump, whose pre.d and post.d programs the
	// capture runs before and after the dump ("" : none are put in the image).
	HookDir string
}

// DefaultHookDir holds the pre.d and post.d hook directories.
const DefaultHookDir = "/etc/kdump"

// DefaultStateDir is where the capture initramfs images are kept.
const DefaultStateDir = "/var/lib/gokdump"

// DefaultLibDirs are the standard shared library directories of x86_64 Linux
// distributions: Debian's multiarch ones first, then Fedora's lib64 ones.
var DefaultLibDirs = progdeps.DefaultLibDirs

// Host returns the System of the running machine.
func Host() *System {
	return &System{
		ProcRoot:   "/proc",
		SysRoot:    "/sys",
		DevRoot:    "/dev",
		BootDir:    "/boot",
		ModulesDir: "/lib/modules",
		StateDir:   DefaultStateDir,
		LibDirs:    append([]string(nil), DefaultLibDirs...),
		HookDir:    DefaultHookDir,
	}
}

// maxSmallFile bounds the /proc and /sys files read whole here (cmdline, stat,
// mountinfo): all are far smaller.
const maxSmallFile = 4 << 20

// Release returns the running kernel's release (uname -r), from
// /proc/sys/kernel/osrelease.
func (s *System) Release() (string, error) {
	data, err := smallfile.Read(filepath.Join(s.ProcRoot, "sys/kernel/osrelease"), 256)
	if err != nil {
		return "", fmt.Errorf("kernel release: %w", err)
	}
	r := strings.TrimSpace(string(data))
	if !validRelease(r) {
		return "", fmt.Errorf("kernel release %q read from %s is not a release name", r, s.ProcRoot)
	}
	return r, nil
}

// validRelease accepts what can name a directory of /lib/modules.
func validRelease(r string) bool {
	if r == "" || r == "." || r == ".." || len(r) > 128 {
		return false
	}
	for _, c := range r {
		if c <= ' ' || c == '/' || c > '~' {
			return false
		}
	}
	return true
}

// Cmdline returns the running kernel's command line.
func (s *System) Cmdline() (string, error) {
	data, err := smallfile.Read(filepath.Join(s.ProcRoot, "cmdline"), 64<<10)
	if err != nil {
		return "", fmt.Errorf("kernel command line: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// BootTime returns when the running kernel booted (btime in /proc/stat).
func (s *System) BootTime() (time.Time, error) {
	p := filepath.Join(s.ProcRoot, "stat")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	return parseBtime(bytes.NewReader(data), p)
}

// parseBtime finds the "btime SECONDS" line of /proc/stat.
func parseBtime(r io.Reader, name string) (time.Time, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		rest, ok := strings.CutPrefix(sc.Text(), "btime ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%s:%d: btime %q is not a number of seconds", name, line, rest)
		}
		return time.Unix(n, 0), nil
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	return time.Time{}, fmt.Errorf("%s: no btime line", name)
}

// ModuleDir returns the module tree of release.
func (s *System) ModuleDir(release string) string {
	return filepath.Join(s.ModulesDir, release)
}

// KernelImage returns the kernel image of release: /boot/vmlinuz-RELEASE (Debian,
// Fedora) or /lib/modules/RELEASE/vmlinuz (Fedora and Arch keep a copy there).
func (s *System) KernelImage(release string) (string, error) {
	candidates := []string{
		filepath.Join(s.BootDir, "vmlinuz-"+release),
		filepath.Join(s.ModuleDir(release), "vmlinuz"),
	}
	for _, c := range candidates {
		st, err := os.Stat(c)
		if err == nil && st.Mode().IsRegular() {
			return c, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no kernel image for %s: looked for %s (give one with --kernel)",
		release, strings.Join(candidates, " and "))
}

// ImagePath is where the capture initramfs of release is kept.
func (s *System) ImagePath(release string) string {
	return filepath.Join(s.StateDir, "initramfs-"+release+".img")
}

// ManifestPath is where the manifest of the image at image is kept: beside it.
func ManifestPath(image string) string { return image + ".json" }
