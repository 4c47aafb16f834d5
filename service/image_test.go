package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/internal/cpio"
)

func mustConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse(strings.NewReader(text), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// imageEntry is one entry of an image read back.
type imageEntry struct {
	mode uint32
	data string
}

func readImage(t *testing.T, path string) (map[string]imageEntry, initramfs.Compression) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc, comp, err := initramfs.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := cpio.NewReader(rc)
	out := map[string]imageEntry{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = imageEntry{h.Mode, string(data)}
	}
	return out, comp
}

func TestPlanModules(t *testing.T) {
	m := newFakeMachine(t)
	for _, tc := range []struct {
		name, conf string
		device     DumpDevice
		modules    []string // names, in load order
		notes      int
	}{
		{"ext4 on a virtio disk", "ext4 /dev/vdb", DumpDevice{FSType: "ext4", Name: "vdb", Spec: "/dev/vdb"},
			[]string{"jbd2", "mbcache", "crc16", "ext4", "virtio_ring", "virtio_blk", "virtio_pci"}, 0},
		{"root file system", "path /var/crash", DumpDevice{FSType: "ext4", Name: "vda1", Spec: "/dev/vda1"},
			[]string{"jbd2", "mbcache", "crc16", "ext4", "virtio_ring", "virtio_blk", "virtio_pci"}, 0},
		{"missing device", "btrfs /dev/vdz", DumpDevice{FSType: "btrfs", Name: "", Spec: "/dev/vdz"},
			[]string{"btrfs", "sd_mod", "libahci", "ahci", "virtio_ring", "virtio_blk", "virtio_pci"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := m.Plan(BuildOptions{Config: mustConfig(t, tc.conf), Self: m.path("usr/sbin/gokdump")})
			if err != nil {
				t.Fatal(err)
			}
			if p.Info.Device != tc.device {
				t.Errorf("device %+v, want %+v", p.Info.Device, tc.device)
			}
			var names []string
			for _, mod := range p.Info.Modules {
				base := filepath.Base(mod)
				names = append(names, strings.ReplaceAll(base[:strings.Index(base, ".ko")], "-", "_"))
				if !strings.HasPrefix(mod, "/lib/modules/"+testRelease+"/kernel/") {
					t.Errorf("module path %s not under /lib/modules/%s/kernel", mod, testRelease)
				}
			}
			if !reflect.DeepEqual(names, tc.modules) {
				t.Errorf("modules %v, want %v", names, tc.modules)
			}
			if len(p.Info.Notes) != tc.notes {
				t.Errorf("notes %q, want %d", p.Info.Notes, tc.notes)
			}
			if p.Compression != initramfs.Zstd {
				t.Errorf("compression %v with CONFIG_RD_ZSTD=y", p.Compression)
			}
		})
	}
}

// TestPlanRawRefused: a raw target must exist and be a GPT partition at arming
// (package rawdump's tests cover the partitions it accepts).
func TestPlanRawRefused(t *testing.T) {
	m := newFakeMachine(t)
	for _, tc := range []struct{ conf, want string }{
		{"raw /dev/sda", "raw /dev/sda: /dev/sda is not a block device"},
		{"raw /dev/does-not-exist", "raw /dev/does-not-exist: /dev/does-not-exist does not exist"},
		{"raw UUID=0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff", "no partition has the GPT partition GUID (PARTUUID)"},
	} {
		_, err := m.Plan(BuildOptions{Config: mustConfig(t, tc.conf+"\ncore_collector makedumpfile -F -l"), Self: m.path("usr/sbin/gokdump")})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kdump.conf:1: ") {
			t.Errorf("%q: %v, want the line and %q", tc.conf, err, tc.want)
		}
	}
}

func TestPlanLabelAndMountinfo(t *testing.T) {
	m := newFakeMachine(t)
	// The udev link of a label with a space is \x20-escaped.
	name, err := m.findByFilesystem("crash dumps", "")
	if err != nil || name != "vdb" {
		t.Errorf("findByFilesystem: %q, %v", name, err)
	}
	if _, err := m.findByFilesystem("nolabel", ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing label: %v", err)
	}
	// A mount point with an escaped space, on SATA.
	d, err := m.rootfsDevice("/srv/my dumps/x")
	if err != nil || d != (DumpDevice{FSType: "xfs", Name: "sda", Spec: "/dev/sda", Dir: "/x"}) {
		t.Errorf("rootfsDevice: %+v, %v", d, err)
	}
	// path below a mount point that is not "/": the capture kernel mounts that
	// file system at its root, so the directory is relative to the mount.
	if d, err := m.rootfsDevice("/srv/my dumps"); err != nil || d.Dir != "/" {
		t.Errorf("rootfsDevice of the mount point itself: %+v, %v", d, err)
	}
	if _, err := m.rootfsDevice("/tmp/crash"); err == nil || !strings.Contains(err.Error(), "tmpfs") {
		t.Errorf("dump path on tmpfs: %v", err)
	}
}

func TestPlanErrors(t *testing.T) {
	m := newFakeMachine(t)
	self := m.path("usr/sbin/gokdump")
	for _, tc := range []struct{ conf, want string }{
		{"ssh a@b\ncore_collector makedumpfile -F", "resolving b"},
		{"nfs h:/x", "resolving h"},
		{"ext4 /dev/vdb\nextra_modules nosuchmodule", "nosuchmodule"},
		{"extra_bins /no/such/program", "/no/such/program"},
		{"path /tmp/x", "tmpfs"},
	} {
		_, err := m.Plan(BuildOptions{Config: mustConfig(t, tc.conf), Self: self})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.conf, err, tc.want)
		}
	}
	if _, err := m.Plan(BuildOptions{Config: mustConfig(t, ""), Release: "../x", Self: self}); err == nil {
		t.Error("a release with a slash was accepted")
	}
}

func TestPlanCompression(t *testing.T) {
	m := newFakeMachine(t)
	m.write("boot/config-"+testRelease, "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n")
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Compression != initramfs.Gzip || len(p.Info.Notes) != 0 {
		t.Errorf("without RD_ZSTD: %v %q", p.Compression, p.Info.Notes)
	}
	os.Remove(m.path("boot/config-" + testRelease))
	p, err = m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Compression != initramfs.Gzip || len(p.Info.Notes) != 1 {
		t.Errorf("without a config: %v %q", p.Compression, p.Info.Notes)
	}
}

func TestBuildImage(t *testing.T) {
	m := newFakeMachine(t)
	// A hook script whose interpreter is a (fake, non-ELF) shell.
	m.write("usr/local/bin/pre.sh", "#!"+m.path("bin/sh")+" -e\nexit 0\n")
	m.write("bin/sh", "not an ELF shell")
	conf := "ext4 /dev/vdb\nkdump_pre " + m.path("usr/local/bin/pre.sh") + "\nfinal_action poweroff\n"
	cfg := mustConfig(t, conf)
	opts := BuildOptions{Config: cfg, ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")}
	p, err := m.Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	img := m.ImagePath(testRelease)
	man, err := p.Build(img)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(img)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("image mode: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Dir(img)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(ManifestPath(img)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("manifest mode: %v", err)
	}
	ents, comp := readImage(t, img)
	if comp != initramfs.Zstd {
		t.Errorf("image compressed with %v", comp)
	}
	want := map[string]uint32{
		"init":                     cpio.TypeReg | 0o755,
		"etc/kdump.conf":           cpio.TypeReg | 0o600,
		"etc/gokdump/capture.json": cpio.TypeReg | 0o644,
		"dev/console":              cpio.TypeChar | 0o600,
		"dev/null":                 cpio.TypeChar | 0o666,
		"lib/modules/" + testRelease + "/kernel/fs/ext4/ext4.ko":                 cpio.TypeReg | 0o644,
		"lib/modules/" + testRelease + "/kernel/drivers/block/virtio_blk.ko.zst": cpio.TypeReg | 0o644,
		strings.TrimPrefix(m.path("usr/local/bin/pre.sh"), "/"):                  cpio.TypeReg | 0o755,
		strings.TrimPrefix(m.path("bin/sh"), "/"):                                cpio.TypeReg | 0o755,
		"proc": cpio.TypeDir | 0o755,
	}
	for name, mode := range want {
		e, ok := ents[name]
		if !ok {
			t.Errorf("image lacks %s", name)
			continue
		}
		if e.mode != mode {
			t.Errorf("%s: mode %o, want %o", name, e.mode, mode)
		}
	}
	if ents["init"].data != "pretend gokdump binary" || ents["etc/kdump.conf"].data != conf {
		t.Errorf("init or config contents wrong")
	}
	var info CaptureInfo
	if err := json.Unmarshal([]byte(ents["etc/gokdump/capture.json"].data), &info); err != nil {
		t.Fatal(err)
	}
	if info.Release != testRelease || info.Device.Name != "vdb" || len(info.Modules) != 7 ||
		info.Modules[3] != "/lib/modules/"+testRelease+"/kernel/fs/ext4/ext4.ko" {
		t.Errorf("capture info %+v", info)
	}
	if got := ents[ModuleListPath].data; !strings.HasSuffix(got, "\n"+strings.Join(info.Modules, "\n")+"\n") {
		t.Errorf("module list %q", got)
	}
	if _, ok := ents["lib/modules/"+testRelease+"/kernel/drivers/net/virtio_net.ko"]; ok {
		t.Error("a module the target does not need is in the image")
	}

	// Reproducible: a second build (later, other directory) gives the same bytes.
	first, _ := os.ReadFile(img)
	time.Sleep(10 * time.Millisecond)
	img2 := filepath.Join(t.TempDir(), "again.img")
	p2, err := m.Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Build(img2); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(img2)
	if !bytes.Equal(first, second) {
		t.Error("two builds from the same inputs differ")
	}

	// The manifest read back says nothing changed.
	old, err := ReadManifest(ManifestPath(img))
	if err != nil {
		t.Fatal(err)
	}
	now, _ := p2.Manifest()
	if r := RebuildReason(cfg, true, old, now); r != "" {
		t.Errorf("unchanged inputs: rebuild because %s", r)
	}
	if !reflect.DeepEqual(old, man) {
		t.Errorf("manifest read back differs:\n%+v\n%+v", old, man)
	}
}

func TestBuildWithRealLibraries(t *testing.T) {
	// A real dynamically linked program of the machine: its loader and libc must
	// come along.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh on this machine: %v", err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	s := Host()
	files, err := s.programFiles([]string{sh})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(files, " ")
	if files[0] != sh || !strings.Contains(joined, "libc.so.6") || !strings.Contains(joined, "ld-linux-x86-64.so.2") {
		t.Errorf("%s needs %q", sh, files)
	}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			t.Errorf("relative path %s", f)
		}
	}
}

func TestProgramFilesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o755)
		return p
	}
	s := &System{LibDirs: []string{dir}}
	for _, tc := range []struct{ file, want string }{
		{write("noline", "#!"+strings.Repeat("x", 300)), "#! line longer"},
		{write("relative", "#!sh\n"), "no absolute interpreter"},
		{write("badelf", "\x7fELF\x02\x01\x01garbage"), "badelf"},
		{write("loop1", "#!"+filepath.Join(dir, "loop2")+"\n"), ""},
	} {
		if tc.want == "" {
			continue
		}
		_, err := s.programFiles([]string{tc.file})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
	// Scripts whose interpreters name each other: each is taken once, no loop.
	write("loop2", "#!"+filepath.Join(dir, "loop1")+"\n")
	files, err := s.programFiles([]string{filepath.Join(dir, "loop1")})
	if err != nil || len(files) != 2 {
		t.Errorf("interpreter loop: %q %v", files, err)
	}
}

func TestReadCaptureInfo(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "capture.json")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write(`{"release":"6.1.0-t","modules":["/lib/modules/6.1.0-t/ext4.ko"],"device":{"fstype":"xfs","spec":"UUID=x"}}`)
	info, err := ReadCaptureInfo(p)
	if err != nil || info.Release != "6.1.0-t" || len(info.Modules) != 1 || info.Device.FSType != "xfs" {
		t.Errorf("%+v, %v", info, err)
	}
	if _, err := ReadCaptureInfo(write(`{"modules":["ext4.ko"]}`)); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("relative module path: %v", err)
	}
	if _, err := ReadCaptureInfo(write(`{"modules":`)); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("cut JSON: %v", err)
	}
}
