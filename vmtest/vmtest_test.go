package vmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/internal/cpio"
	"github.com/gokdump/gokdump/service"
)

func TestVMCmdline(t *testing.T) {
	for _, c := range []struct {
		in   string
		tcg  bool
		want string
	}{
		{"root=/dev/sda1 console=tty0 console=ttyS1,115200 irqpoll", true, "root=/dev/sda1 irqpoll console=ttyS0 no_timer_check"},
		{"irqpoll no_timer_check", true, "irqpoll no_timer_check console=ttyS0"},
		{"irqpoll", false, "irqpoll console=ttyS0"},
		{"a b -- init-arg --x", false, "a b console=ttyS0 -- init-arg --x"},
		{"", false, "console=ttyS0"},
	} {
		if got := VMCmdline(c.in, c.tcg); got != c.want {
			t.Errorf("VMCmdline(%q, %v) = %q, want %q", c.in, c.tcg, got, c.want)
		}
	}
	if got := FirstCmdline(256<<20, true); got != "console=ttyS0 crashkernel=256M panic=1 rdinit=/init gokdump.vmtest=1 no_timer_check" {
		t.Errorf("FirstCmdline = %q", got)
	}
}

func mustParse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse(strings.NewReader(text), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRewriteConfig(t *testing.T) {
	for _, c := range []struct {
		conf  string
		notes []string
	}{
		{"ext4 UUID=0b5c2a4e-3f6e-4d2a-9f1e-1a2b3c4d5e6f\nfinal_action poweroff\nfailure_action poweroff\n",
			[]string{"the target ext4 UUID=0b5c2a4e-3f6e-4d2a-9f1e-1a2b3c4d5e6f is replaced by an ext4 scratch disk"}},
		{"path /srv/crash\nfailure_action dump_to_rootfs\nxfs LABEL=dumps\n",
			[]string{"the target xfs LABEL=dumps is replaced by an ext4 scratch disk: saving to a xfs target is not exercised",
				"failure_action dump_to_rootfs is replaced by poweroff", "final_action reboot is replaced by poweroff"}},
		{"path /var/crash\nfinal_action halt\n",
			[]string{"the root file system (path /var/crash) is replaced by an ext4 scratch disk",
				"failure_action reboot is replaced by poweroff", "final_action halt is replaced by poweroff"}},
		{"ssh kdump@10.0.0.1\nsshkey /root/.ssh/kdump_id\nfinal_action poweroff\nfailure_action poweroff\n",
			[]string{"the target ssh kdump@10.0.0.1 is replaced by an ext4 scratch disk: saving to a ssh target is not exercised"}},
		// s3_capture refuses any target: the rewritten config would not parse with it.
		{"s3_endpoint https://s3.example.net\ns3_bucket crashes\ns3_credentials /etc/gokdump/s3.cred\ns3_capture yes\nfinal_action poweroff\nfailure_action poweroff\n",
			[]string{"the root file system (path /var/crash) is replaced by an ext4 scratch disk",
				"s3_capture: the dump goes to the scratch disk; the upload to the bucket is not exercised"}},
	} {
		orig := mustParse(t, c.conf)
		saved := *orig
		got, notes := RewriteConfig(orig)
		if strings.Join(notes, "|") != strings.Join(c.notes, "|") {
			t.Errorf("%q: notes %q, want %q", c.conf, notes, c.notes)
		}
		if got.Target.Kind != config.TargetExt4 || got.Target.Spec != "LABEL="+ScratchLabel || got.FailureAction != config.ActionPoweroff ||
			got.FinalAction != config.ActionPoweroff || got.SSHKey != "" || got.Path != orig.Path || got.Collector.String() != orig.Collector.String() {
			t.Errorf("%q: rewritten %+v", c.conf, got)
		}
		if orig.Target != saved.Target || orig.FinalAction != saved.FinalAction {
			t.Errorf("%q: the original was changed", c.conf)
		}
		// What the capture reads back parses to the same.
		var b bytes.Buffer
		if err := got.Format(&b); err != nil {
			t.Fatal(err)
		}
		back := mustParse(t, b.String())
		if back.Target.Label != ScratchLabel || back.FinalAction != config.ActionPoweroff || back.Path != orig.Path {
			t.Errorf("%q: the written configuration reads back as %+v:\n%s", c.conf, back, b.String())
		}
	}
}

func TestRewriteInfo(t *testing.T) {
	in := &service.CaptureInfo{
		Release: "6.1.0-57-amd64",
		Modules: []string{"/lib/modules/r/kernel/fs/ext4/ext4.ko", "/lib/modules/r/kernel/drivers/nvme/host/nvme.ko"},
		Device:  service.DumpDevice{FSType: "xfs", Name: "nvme0n1p3", Spec: "LABEL=dumps", Dir: "/crash"},
		Rootfs:  &service.DumpDevice{FSType: "ext4", Spec: "UUID=x"},
		Remote:  &service.RemoteTarget{},
	}
	got := RewriteInfo(in, []string{"/lib/modules/r/kernel/drivers/block/virtio_blk.ko", "/lib/modules/r/kernel/fs/ext4/ext4.ko"})
	want := []string{in.Modules[0], in.Modules[1], "/lib/modules/r/kernel/drivers/block/virtio_blk.ko"}
	if strings.Join(got.Modules, " ") != strings.Join(want, " ") {
		t.Errorf("modules %q, want %q", got.Modules, want)
	}
	if got.Device != (service.DumpDevice{FSType: "ext4", Spec: "LABEL=" + ScratchLabel}) || got.Rootfs != nil || got.Remote != nil || got.Release != in.Release {
		t.Errorf("rewritten %+v", got)
	}
	if in.Device.Name != "nvme0n1p3" || len(in.Modules) != 2 || in.Rootfs == nil {
		t.Error("the original was changed")
	}
}

// writeImage writes a capture initramfs as service builds one (compressed), with a
// configuration and a CaptureInfo.
func writeImage(t *testing.T, file string, c initramfs.Compression, info *service.CaptureInfo, conf string) {
	t.Helper()
	a := initramfs.New()
	data, _ := json.Marshal(info)
	for _, err := range []error{
		a.AddFile("init", 0o755, []byte("#!gokdump\n")),
		a.AddFile(service.ConfigPath, 0o600, []byte(conf)),
		a.AddFile(service.CaptureInfoPath, 0o644, data),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.WriteFile(file, c); err != nil {
		t.Fatal(err)
	}
}

func TestReadImage(t *testing.T) {
	dir := t.TempDir()
	info := &service.CaptureInfo{Release: "6.12.0", Modules: []string{"/lib/modules/6.12.0/kernel/fs/ext4/ext4.ko"}}
	for _, c := range []initramfs.Compression{initramfs.Zstd, initramfs.Gzip, initramfs.None} {
		p := filepath.Join(dir, c.String())
		writeImage(t, p, c, info, "ext4 LABEL=x\n")
		img, err := ReadImage(p)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if img.Info.Release != "6.12.0" || len(img.Info.Modules) != 1 || string(img.Config) != "ext4 LABEL=x\n" {
			t.Errorf("%s: %+v %q", c, img.Info, img.Config)
		}
	}
	// Not a capture image: said so, with the file's name.
	p := filepath.Join(dir, "other")
	a := initramfs.New()
	a.AddFile("init", 0o755, []byte("x"))
	a.WriteFile(p, initramfs.Gzip)
	if _, err := ReadImage(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a capture initramfs") {
		t.Errorf("an image without capture.json: %v", err)
	}
	os.WriteFile(p, []byte("garbage that is no image"), 0o600)
	if _, err := ReadImage(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("garbage: %v", err)
	}
}

// TestOverlays builds the capture and first-kernel initrds as Run does and reads them
// as the kernel does: the base image's stream, zero padding to 4 bytes, then a newc
// archive whose files replace the base's.
func TestOverlays(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.img")
	info := &service.CaptureInfo{Release: "r", Modules: []string{"/lib/modules/r/kernel/fs/ext4/ext4.ko"}}
	writeImage(t, base, initramfs.Zstd, info, "xfs LABEL=dumps\n")
	mod := filepath.Join(dir, "virtio_blk.ko")
	os.WriteFile(mod, []byte("module bytes"), 0o644)
	cfg, _ := RewriteConfig(mustParse(t, "xfs LABEL=dumps\n"))
	guestMod := "/lib/modules/r/kernel/drivers/block/virtio_blk.ko"
	ti := RewriteInfo(info, []string{guestMod})
	ov, err := CaptureOverlay(cfg, ti, []string{mod}, []string{guestMod})
	if err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(dir, "capture.img")
	if err := Concat(capture, base, ov); err != nil {
		t.Fatal(err)
	}
	kernel := filepath.Join(dir, "vmlinuz")
	os.WriteFile(kernel, []byte("bzImage"), 0o644)
	first, err := FirstOverlay(Spec{Cmdline: "irqpoll console=ttyS0"}, kernel, capture)
	if err != nil {
		t.Fatal(err)
	}
	firstImg := filepath.Join(dir, "first.img")
	if err := Concat(firstImg, capture, first); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{capture, firstImg} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}
	baseData, _ := os.ReadFile(base)
	capData, _ := os.ReadFile(capture)
	firstData, _ := os.ReadFile(firstImg)
	if !bytes.HasPrefix(capData, baseData) || !bytes.HasPrefix(firstData, capData) {
		t.Fatal("an initrd does not start with the exact image it extends")
	}
	if len(baseData)%4 == 0 {
		t.Log("the zstd image happens to end on a 4-byte boundary: no padding exercised")
	}
	files := archiveFiles(t, capData[len(baseData):], len(baseData))
	var gotInfo service.CaptureInfo
	if err := json.Unmarshal(files[service.CaptureInfoPath], &gotInfo); err != nil {
		t.Fatal(err)
	}
	if gotInfo.Device.Spec != "LABEL="+ScratchLabel || len(gotInfo.Modules) != 2 || gotInfo.Modules[1] != guestMod {
		t.Errorf("the overlay's CaptureInfo %+v", gotInfo)
	}
	if c := mustParse(t, string(files[service.ConfigPath])); c.Target.Label != ScratchLabel || c.Target.Kind != config.TargetExt4 {
		t.Errorf("the overlay's kdump.conf:\n%s", files[service.ConfigPath])
	}
	if string(files[strings.TrimPrefix(guestMod, "/")]) != "module bytes" || !strings.Contains(string(files[service.ModuleListPath]), guestMod) {
		t.Errorf("the overlay's module files: %q", files[service.ModuleListPath])
	}
	ff := archiveFiles(t, firstData[len(capData):], len(capData))
	var spec Spec
	if err := json.Unmarshal(ff[SpecPath], &spec); err != nil || spec.Version != specVersion || spec.Cmdline != "irqpoll console=ttyS0" {
		t.Errorf("spec %+v %v", spec, err)
	}
	if string(ff[KernelPath]) != "bzImage" || !bytes.Equal(ff[InitrdPath], capData) {
		t.Error("the first overlay's kernel or capture initrd differs from the files")
	}
}

// archiveFiles reads what follows an image as the kernel does: zero bytes up to a
// 4-byte boundary, then a newc archive; it returns the regular files.
func archiveFiles(t *testing.T, rest []byte, at int) map[string][]byte {
	t.Helper()
	i := 0
	for i < len(rest) && rest[i] == 0 {
		i++
	}
	if i > 3 || (at+i)%4 != 0 || !bytes.HasPrefix(rest[i:], []byte("070701")) {
		t.Fatalf("after the image: %d zero bytes, then % x", i, rest[i:min(len(rest), i+8)])
	}
	r := cpio.NewReader(bytes.NewReader(rest[i:]))
	out := map[string][]byte{}
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Type() == cpio.TypeReg {
			out[h.Name], _ = io.ReadAll(r)
		}
	}
}
