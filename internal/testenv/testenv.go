// Package testenv holds what gokdump's tests need from the machine they run on: Debian
// tools (which `make deps` installs) and real Debian kernel packages (fetched into the
// repository's git-ignored cache). A missing tool fails the test with the command that
// fixes it; nothing is skipped silently.
package testenv

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/gokdump/gokdump/lab/kernelpkg"
)

// NeedTool fails the test unless tool is on PATH, naming the Debian package that has it.
func NeedTool(t testing.TB, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("this test needs %s (Debian package %s); `make deps` installs it (or: apt-get install -y %s)",
			tool, debianPackage, debianPackage)
	}
	return p
}

// Well-known kernel packages of the lab. Metapackages are resolved with apt-cache to the
// versioned package they depend on today.
const (
	Kernel61  = "linux-image-amd64"      // bookworm's default kernel (6.1)
	Kernel612 = "linux-image-6.12-amd64" // the newest 6.12 kernel built for bookworm
)

var (
	kernelMu    sync.Mutex
	kernelCache = map[string]*kernelpkg.Kernel{}
)

// KernelPackage returns the Debian kernel package name (a versioned package such as
// linux-image-6.1.0-56-amd64 or a metapackage such as Kernel61) unpacked in the
// repository's cache, fetching it the first time. It fails the test when the package
// cannot be had.
func KernelPackage(t testing.TB, name string) *kernelpkg.Kernel {
	t.Helper()
	kernelMu.Lock()
	defer kernelMu.Unlock()
	if k, ok := kernelCache[name]; ok {
		return k
	}
	NeedTool(t, "dpkg-deb", "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pkg, err := kernelpkg.Resolve(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	k, err := kernelpkg.Get(ctx, dir, pkg)
	if err != nil {
		t.Fatal(err)
	}
	kernelCache[name] = k
	return k
}
