package kernelpkg

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestImageDependency(t *testing.T) {
	out := []byte("linux-image-6.12-amd64\n  Depends: linux-image-6.12.117+deb12-amd64\n  Depends: foo\n")
	got, ok := imageDependency(out)
	if !ok || got != "linux-image-6.12.117+deb12-amd64" {
		t.Errorf("imageDependency = %q, %v", got, ok)
	}
	if got, ok := imageDependency([]byte("linux-image-6.1.0-56-amd64\n  Depends: kmod\n  Depends: linux-base\n")); ok {
		t.Errorf("imageDependency of a non-meta package = %q, want none", got)
	}
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLayouts(t *testing.T) {
	boot := t.TempDir()
	write(t, filepath.Join(boot, "boot/vmlinuz-6.1.0-9-amd64"))
	write(t, filepath.Join(boot, "lib/modules/6.1.0-9-amd64/modules.order"))
	k, err := Open(boot)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.1.0-9-amd64" || k.Image != filepath.Join(boot, "boot/vmlinuz-6.1.0-9-amd64") ||
		k.ModuleDir != filepath.Join(boot, "lib/modules/6.1.0-9-amd64") {
		t.Errorf("Open(/boot layout) = %+v", k)
	}

	usr := t.TempDir()
	write(t, filepath.Join(usr, "usr/lib/modules/7.0.1-amd64/vmlinuz"))
	k, err = Open(usr)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "7.0.1-amd64" || k.Image != filepath.Join(usr, "usr/lib/modules/7.0.1-amd64/vmlinuz") {
		t.Errorf("Open(/usr/lib layout) = %+v", k)
	}

	none := t.TempDir()
	write(t, filepath.Join(none, "lib/modules/6.1.0-9-amd64/modules.order"))
	if _, err := Open(none); err == nil || !strings.Contains(err.Error(), "vmlinuz") {
		t.Errorf("Open without an image: err = %v, want one naming vmlinuz", err)
	}
	two := t.TempDir()
	write(t, filepath.Join(two, "lib/modules/a/x"))
	write(t, filepath.Join(two, "lib/modules/b/x"))
	if _, err := Open(two); err == nil {
		t.Error("Open with two releases: no error")
	}
}

func TestGetRejectsOddNames(t *testing.T) {
	for _, name := range []string{"", "-o", "../x", "a/b", "Linux"} {
		if _, err := Get(context.Background(), t.TempDir(), name); err == nil {
			t.Errorf("Get(%q): no error", name)
		}
	}
}

// TestGetReal fetches (or reuses) Debian's default kernel and unpacks it into a fresh
// directory, through the same code path the lab uses.
func TestGetReal(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches and unpacks a 70 MB kernel package; not in -short")
	}
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s (Debian): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pkg, err := Resolve(ctx, "linux-image-amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pkg, "linux-image-6.1.") {
		t.Fatalf("Resolve(linux-image-amd64) = %q, want a bookworm 6.1 kernel package", pkg)
	}
	shared, err := DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	// Reuse the shared cache's .deb (no second download) but unpack into a temp dir.
	cache := t.TempDir()
	deb, err := download(ctx, shared, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(deb, filepath.Join(cache, filepath.Base(deb))); err != nil {
		t.Fatal(err)
	}
	k, err := Get(ctx, cache, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(pkg, "linux-image-"); k.Release != want {
		t.Errorf("Release = %q, want %q", k.Release, want)
	}
	if st, err := os.Stat(k.Image); err != nil || st.Size() < 1<<20 {
		t.Errorf("image %s: %v (size %v)", k.Image, err, st)
	}
	if _, err := os.Stat(filepath.Join(k.ModuleDir, "kernel/drivers/block/virtio_blk.ko")); err != nil {
		t.Errorf("virtio_blk module missing: %v", err)
	}
	// A second Get reuses the unpacked tree.
	k2, err := Get(ctx, cache, pkg)
	if err != nil || k2.Dir != k.Dir {
		t.Errorf("second Get = %+v, %v", k2, err)
	}
}
