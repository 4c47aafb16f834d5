package service

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// TestPlanRealKernel plans an image for an ext4 target on a virtio disk against a
// real Debian kernel's module tree (no modules.dep: kmod reads .modinfo), and
// measures the real bzImage for the estimate.
func TestPlanRealKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Debian kernel package (fetched into the cache); left out of -short runs")
	}
	k := testenv.KernelPackage(t, testenv.Kernel61)
	m := newFakeMachine(t)
	m.ModulesDir = filepath.Dir(k.ModuleDir)
	m.BootDir = filepath.Join(k.Dir, "boot")
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb"), Release: k.Release, Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for i, mod := range p.Info.Modules {
		base := filepath.Base(mod)
		names[strings.ReplaceAll(base[:strings.Index(base, ".ko")], "-", "_")] = i + 1
	}
	// crc32c_generic is ext4's soft dependency (metadata checksums), which the
	// kernel would ask modprobe for.
	for _, want := range []string{"ext4", "jbd2", "mbcache", "virtio_blk", "crc32c_generic"} {
		if names[want] == 0 {
			t.Errorf("%s missing from %q", want, p.Info.Modules)
		}
	}
	if names["jbd2"] > names["ext4"] {
		t.Errorf("jbd2 after ext4: %q", p.Info.Modules)
	}
	kmem, from, err := kernelMemory(k.Image)
	if err != nil || !strings.Contains(from, "init_size") || kmem < 8<<20 || kmem > 256<<20 {
		t.Errorf("kernel memory of %s: %d (%s) %v", k.Image, kmem, from, err)
	}
	if names["crc32c_generic"] > names["ext4"] {
		t.Errorf("crc32c_generic after ext4: %q", p.Info.Modules)
	}
	t.Logf("%s: modules %q, notes %q, compression %v, kernel needs %d MiB", k.Release, p.Info.Modules, p.Info.Notes, p.Compression, kmem>>20)
}
