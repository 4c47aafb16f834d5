package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/cpio"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/lab/plan"
)

// fakeKernel is a kernel package tree with no module files: its modules.builtin says
// the virtio drivers are built in, so the lab needs none.
func fakeKernel(t *testing.T) *kernelpkg.Kernel {
	t.Helper()
	dir := t.TempDir()
	k := &kernelpkg.Kernel{Dir: dir, Release: "6.1.0-99-amd64", Image: filepath.Join(dir, "boot", "vmlinuz-6.1.0-99-amd64"),
		ModuleDir: filepath.Join(dir, "lib", "modules", "6.1.0-99-amd64")}
	for p, data := range map[string]string{
		k.Image: "kernel image",
		filepath.Join(k.ModuleDir, "modules.builtin"):   "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\n",
		filepath.Join(k.ModuleDir, "modules.order"):     "kernel/drivers/virtio/virtio_pci.ko\n",
		filepath.Join(dir, "boot", "config-"+k.Release): "CONFIG_RD_GZIP=y\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// readCPIO returns the regular files (name -> data) and the other entries (name ->
// mode) of an uncompressed newc image.
func readCPIO(t *testing.T, file string) (map[string][]byte, map[string]uint32) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, others := map[string][]byte{}, map[string]uint32{}
	r := cpio.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimPrefix(h.Name, "/")
		if h.Type() == cpio.TypeReg {
			data, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = data
		} else {
			others[name] = h.Mode
		}
	}
	return files, others
}

// TestFirstInitramfsPlan: the host files come with their libraries, the commands and
// the root-on-disk mode reach the guest's plan.
func TestFirstInitramfsPlan(t *testing.T) {
	dir := t.TempDir()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	guest := filepath.Join(dir, "labinit")
	os.WriteFile(guest, []byte("guest"), 0o755)
	conf := filepath.Join(dir, "tool.conf")
	os.WriteFile(conf, []byte("x = 1\n"), 0o640)
	setup := []plan.Command{plan.Cmd(sh, "-c", "true"), {Argv: []string{plan.BuiltinMount, plan.DiskRef("dumps"), "/var/crash", "ext4"}, TimeoutSeconds: 30}}
	after := []plan.Command{{Argv: []string{plan.BuiltinWipe, plan.DiskRef("m2"), "4096", "4096"}, MayFail: true}}
	cfg := Config{
		Kernel: fakeKernel(t), Binaries: Binaries{Guest: guest, Gokdump: guest}, Dir: dir,
		HostFiles: []string{sh, conf}, Setup: setup, AfterArm: after,
		Service: &Service{KdumpConf: "ext4 LABEL=root\n", Root: &plan.Root{Device: plan.DiskRef("root"), FSType: "ext4"}},
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Release: cfg.Kernel.Release, Crash: plan.CrashSysrq, Capture: plan.CaptureService,
		KdumpConf: cfg.Service.KdumpConf, Root: cfg.Service.Root, Setup: cfg.Setup, AfterArm: cfg.AfterArm}
	img := filepath.Join(dir, "initrd.img")
	if err := writeFirstInitramfs(img, &cfg, p); err != nil {
		t.Fatal(err)
	}
	files, others := readCPIO(t, img)
	var libc, loader bool
	for name := range files {
		libc = libc || strings.HasSuffix(name, "/libc.so.6")
		loader = loader || strings.HasSuffix(name, "/ld-linux-x86-64.so.2")
	}
	if files[sh] == nil || !libc || !loader || string(files[conf]) != "x = 1\n" {
		t.Errorf("the image lacks %s (%v), libc (%v), the loader (%v) or %s", sh, files[sh] != nil, libc, loader, conf)
	}
	for _, d := range []string{"/run/lock", "/root", "/etc", "/dev"} {
		if others[d]&cpio.TypeMask != cpio.TypeDir {
			t.Errorf("the image has no directory %s", d)
		}
	}
	var got plan.Plan
	if err := json.Unmarshal(files[plan.Path], &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Setup) != 2 || got.Setup[1].Argv[1] != "{disk:dumps}" || len(got.AfterArm) != 1 || !got.AfterArm[0].MayFail ||
		got.Root == nil || got.Root.Device != "{disk:root}" {
		t.Errorf("the guest's plan: %+v", got)
	}

	// A host file that does not exist is an error before any VM starts.
	cfg.HostFiles = []string{filepath.Join(dir, "absent")}
	if err := writeFirstInitramfs(img, &cfg, p); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("absent host file: %v", err)
	}
}

func TestBootOnlyDefaults(t *testing.T) {
	c := Config{Kernel: &kernelpkg.Kernel{}, Binaries: Binaries{Guest: "/l", Gokdump: "/g"}, Dir: "/d", Crash: plan.CrashNone}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.PageCacheMiB != 0 || c.AnonMiB != 0 {
		t.Errorf("a boot-only run has a workload: %+v", c)
	}
}

func TestVolumeToolFiles(t *testing.T) {
	files := VolumeToolFiles()
	if len(files) != len(VolumeTools) || files[0] != "/etc/mke2fs.conf" {
		t.Errorf("VolumeToolFiles() = %q", files)
	}
	for _, f := range files {
		if !filepath.IsAbs(f) || VolumeTools[f] == "" {
			t.Errorf("%s: not absolute or no package", f)
		}
	}
}

func TestMakeRootDisk(t *testing.T) {
	testenv.NeedTool(t, "mkfs.ext4", "e2fsprogs")
	testenv.NeedTool(t, "debugfs", "e2fsprogs")
	dir := t.TempDir()
	gk := filepath.Join(dir, "gokdump")
	os.WriteFile(gk, []byte("gokdump binary"), 0o755)
	k := fakeKernel(t)
	img := filepath.Join(dir, "root.img")
	ctx := context.Background()
	err := MakeRootDisk(ctx, img, RootDisk{Kernel: k, Gokdump: gk, Label: "gokdump-root", SizeMiB: 32,
		Files: []GuestFile{{Path: "/etc/hostname", Mode: 0o644, Data: []byte("lab\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, d := range []string{"/usr/sbin", "/boot", "/lib/modules/" + k.Release, "/etc"} {
		if err := Ext4Extract(ctx, img, d, out); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]string{
		"sbin/gokdump": "gokdump binary", "boot/vmlinuz": "kernel image", "boot/config-" + k.Release: "CONFIG_RD_GZIP=y\n",
		k.Release + "/modules.builtin": "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\n",
		"etc/hostname":                 "lab\n",
	} {
		if got, err := os.ReadFile(filepath.Join(out, p)); err != nil || !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: %q %v, want %q", p, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "sbin/gokdump")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("gokdump's mode: %v %v", st, err)
	}
	ents, err := Ext4List(ctx, img, "/var/crash")
	if err != nil || len(ents) != 0 {
		t.Errorf("/var/crash: %+v %v", ents, err)
	}
	if err := MakeRootDisk(ctx, img, RootDisk{Kernel: k, Gokdump: gk, SizeMiB: 32,
		Files: []GuestFile{{Path: "../escape", Data: []byte("x")}}}); err == nil {
		t.Error("a relative file path: no error")
	}
}
