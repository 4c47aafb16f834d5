package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

// TestCaptureSupport: every directive config accepts is classified, and nothing else.
func TestCaptureSupport(t *testing.T) {
	known := map[string]bool{}
	for _, d := range config.Directives() {
		known[d] = true
		if _, ok := captureSupport[d]; !ok {
			t.Errorf("directive %s: not in captureSupport (does the capture carry it out?)", d)
		}
	}
	for d := range captureSupport {
		if !known[d] {
			t.Errorf("captureSupport lists %s, which config does not accept", d)
		}
	}
}

func TestCheckDirectives(t *testing.T) {
	for _, conf := range []string{"", "raw /dev/vdc\n", "path /x\nssh kdump@h\nsshkey /root/k\nkdump_dhcp 1\n", "nfs h:/export\n", "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n", "failure_action shell\nfinal_action halt\nkeep_dumps 2\n"} {
		if err := CheckDirectives(mustConfig(t, conf)); err != nil {
			t.Errorf("%q: %v", conf, err)
		}
	}
	// A directive nobody classified is refused.
	c := mustConfig(t, "")
	c.Lines["new_thing"] = 4
	if err := CheckDirectives(c); err == nil || !strings.Contains(err.Error(), "kdump.conf:4: new_thing") {
		t.Errorf("unclassified directive: %v", err)
	}
}

// TestCheckDirectivesKdumpUtils: the kdump-utils directives gokdump reads but does
// not carry out are refused, each on its line with what to do instead; the ones it
// does carry out pass.
func TestCheckDirectivesKdumpUtils(t *testing.T) {
	refused := map[string]string{
		"dracut_args --omit-drivers x":  "dracut_args: gokdump builds its own capture initramfs without dracut",
		"fence_kdump_nodes node1 node2": "fence_kdump_nodes: fence_kdump",
		"fence_kdump_args -p 7410":      "fence_kdump_args: fence_kdump",
		"kdump_emergency /usr/bin/e":    "kdump_emergency: the capture has no emergency mode",
		"minix /dev/vdb":                "minix: the capture mounts ext2/3/4, XFS and Btrfs only",
		"virtiofs myfs":                 "virtiofs: the capture has no virtiofs",
	}
	for line, want := range refused {
		err := CheckDirectives(mustConfig(t, "path /var/crash\n"+line+"\n"))
		if err == nil || !strings.Contains(err.Error(), "kdump.conf:2: "+want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
	}
	// A directive from Debian's file is named with its variable, on its line.
	v, err := config.ParseShellVars(strings.NewReader("USE_KDUMP=1\nKDUMP_COREDIR=/var/crash\n"), "kdump-tools")
	if err != nil {
		t.Fatal(err)
	}
	deb, err := config.FromDebian(v)
	if err != nil {
		t.Fatal(err)
	}
	deb.Lines["new_thing"], deb.Origin["new_thing"] = 7, "NEW_VAR"
	if err := CheckDirectives(deb); err == nil || !strings.Contains(err.Error(), "kdump-tools:7: NEW_VAR (new_thing): gokdump does not know") {
		t.Errorf("Debian variable: %v", err)
	}
	ok := "auto_reset_crashkernel no\ndefault halt\next3 /dev/vdb\nkdump_commandline_append console=ttyS0\nkdump_commandline_remove quiet\n" +
		"kdump_commandline ro\nkdump_kernelver 6.1.0-1-amd64\ndump_layout debian\ndump_dmesg 0\n"
	if err := CheckDirectives(mustConfig(t, ok)); err != nil {
		t.Errorf("supported directives refused: %v", err)
	}
}

func TestStartRefusesDirective(t *testing.T) {
	m := newFakeMachine(t)
	m.write("sys/kernel/kexec_crash_size", "268435456\n")
	_, err := m.Start(StartOptions{Config: mustConfig(t, "nfs h:/export\n"), Self: m.path("usr/sbin/gokdump")})
	// The server's name must resolve now (the capture kernel has no resolver).
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:1: nfs h:/export: resolving h") {
		t.Errorf("start with nfs: %v", err)
	}
}

// otherRelease copies the fake machine's module tree to another release, then lets
// edit change its modules.dep and modules.builtin.
func (m *fakeMachine) otherRelease(t *testing.T, name string, edit func(dep, builtin string) (string, string)) {
	t.Helper()
	src, dst := m.path("lib/modules/"+testRelease), m.path("lib/modules/"+name)
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, _ := os.ReadFile(p)
		m.write(filepath.Join("lib/modules", name, rel), string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dep, _ := os.ReadFile(filepath.Join(dst, "modules.dep"))
	builtin, _ := os.ReadFile(filepath.Join(dst, "modules.builtin"))
	d, b := edit(string(dep), string(builtin))
	m.write(filepath.Join("lib/modules", name, "modules.dep"), d)
	m.write(filepath.Join("lib/modules", name, "modules.builtin"), b)
}

func dropLine(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPlanTargetReleaseDrivers: a disk driver built into the running kernel (no module
// link in sysfs) is looked up in the release the image is for: added when a module
// there, left out when built in there too, refused when neither (the 6.1 image built
// on a 6.18 host that lacked virtio_blk).
func TestPlanTargetReleaseDrivers(t *testing.T) {
	m := newFakeMachine(t)
	if err := os.Remove(m.path("sys/bus/virtio/drivers/virtio_blk/module")); err != nil {
		t.Fatal(err)
	}
	m.otherRelease(t, "6.1.0-mod", func(d, b string) (string, string) { return d, b })
	m.otherRelease(t, "6.1.0-builtin", func(d, b string) (string, string) {
		return dropLine(d, "kernel/drivers/block/virtio_blk"), b + "kernel/drivers/block/virtio_blk.ko\n"
	})
	m.otherRelease(t, "6.1.0-none", func(d, b string) (string, string) {
		return dropLine(d, "kernel/drivers/block/virtio_blk"), b
	})
	self := m.path("usr/sbin/gokdump")
	plan := func(conf, release string) ([]string, []string, error) {
		p, err := m.Plan(BuildOptions{Config: mustConfig(t, conf), Release: release, Self: self})
		if err != nil {
			return nil, nil, err
		}
		return moduleNames(p.Info.Modules), p.Info.Notes, nil
	}
	has := func(names []string, n string) bool {
		return strings.Contains(" "+strings.Join(names, " ")+" ", " "+n+" ")
	}
	for _, tc := range []struct {
		release string
		want    bool
	}{{testRelease, false}, {"6.1.0-mod", true}, {"6.1.0-builtin", false}} {
		names, _, err := plan("ext4 /dev/vdb\n", tc.release)
		if err != nil {
			t.Errorf("%s: %v", tc.release, err)
			continue
		}
		if has(names, "virtio_blk") != tc.want || !has(names, "virtio_pci") {
			t.Errorf("%s: modules %v, virtio_blk wanted: %v", tc.release, names, tc.want)
		}
	}
	_, _, err := plan("ext4 /dev/vdb\n", "6.1.0-none")
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:1: ext4 /dev/vdb") || !strings.Contains(err.Error(), "virtio_blk") ||
		!strings.Contains(err.Error(), "6.1.0-none") || !strings.Contains(err.Error(), "vdb") {
		t.Errorf("driver in neither form: %v", err)
	}
	// extra_modules: the user named the module; a note instead.
	if _, notes, err := plan("ext4 /dev/vdb\nextra_modules nvme\n", "6.1.0-none"); err != nil || !strings.Contains(strings.Join(notes, "\n"), "virtio_blk") {
		t.Errorf("with extra_modules: notes %q, %v", notes, err)
	}
	// SCSI disks: the driver "sd" is the module sd_mod.
	if err := os.Remove(m.path("sys/bus/scsi/drivers/sd/module")); err != nil {
		t.Fatal(err)
	}
	m.otherRelease(t, "6.1.0-sd", func(d, b string) (string, string) { return d, b })
	if names, _, err := plan("xfs /dev/sda\n", "6.1.0-sd"); err != nil || !has(names, "sd_mod") {
		t.Errorf("sd: %v %v", names, err)
	}
}

func TestRoomWarning(t *testing.T) {
	m := newFakeMachine(t)
	m.write("dev/sda", "XFSB"+strings.Repeat("\x00", 512)) // an XFS superblock
	m.write("proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1048576 kB\nBuffers:               0 kB\nCached:          2097152 kB\nAnonPages:       1048576 kB\n")
	free := int64(1 << 30)
	var asked string
	m.FreeBytes = func(dir string) (int64, error) { asked = dir; return free, nil }
	m.write("sys/kernel/kexec_crash_size", "268435456\n")
	pf, err := m.Preflight(StartOptions{Config: mustConfig(t, "xfs /dev/sda\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if asked != "/srv/my dumps" || len(pf.Warnings) != 1 {
		t.Fatalf("statfs of %q, warnings %q", asked, pf.Warnings)
	}
	for _, w := range []string{"/dev/sda", "1024M free", "up to 4096M", "dump level 31", "MemTotal 8192M"} {
		if !strings.Contains(pf.Warnings[0], w) {
			t.Errorf("warning %q lacks %q", pf.Warnings[0], w)
		}
	}
	free = 5 << 30
	if pf, err := m.Preflight(StartOptions{Config: mustConfig(t, "xfs /dev/sda\n"), Self: m.path("usr/sbin/gokdump")}); err != nil || len(pf.Warnings) != 0 {
		t.Errorf("enough room: %q %v", pf.Warnings, err)
	}
	// -d 0 keeps everything: 8 GiB.
	free = 5 << 30
	if pf, err := m.Preflight(StartOptions{Config: mustConfig(t, "xfs /dev/sda\ncore_collector makedumpfile -l -d 0\n"), Self: m.path("usr/sbin/gokdump")}); err != nil || len(pf.Warnings) != 1 || !strings.Contains(pf.Warnings[0], "up to 8192M") {
		t.Errorf("level 0: %q %v", pf.Warnings, err)
	}
	// Not mounted here (vdb): nothing to measure, no warning.
	asked = ""
	if pf, err := m.Preflight(StartOptions{Config: mustConfig(t, "ext4 /dev/vdb\n"), Self: m.path("usr/sbin/gokdump")}); err != nil || strings.Contains(strings.Join(pf.Warnings, "\n"), "free") || asked != "" {
		t.Errorf("unmounted target: %q %v (statfs %q)", pf.Warnings, err, asked)
	}
}

func TestDumpLevel(t *testing.T) {
	for _, tc := range []struct {
		args string
		want int
	}{{"-l -d 31", 31}, {"-l --message-level 7 -d 17", 17}, {"-d31", 31}, {"-d 31,0", 31}, {"-l", 0}, {"-d x", 0}} {
		if got := dumpLevel(strings.Fields(tc.args)); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.args, got, tc.want)
		}
	}
}

// TestCaptureSpec: a udev link the capture kernel cannot resolve becomes the file
// system's UUID=; without a file system found it is refused on its line.
func TestCaptureSpec(t *testing.T) {
	m := newFakeMachine(t)
	m.symlink("dev/disk/by-id/virtio-crash", "../../vdb")
	_, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/disk/by-id/virtio-crash\n"), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:1: ext4 /dev/disk/by-id/virtio-crash") || !strings.Contains(err.Error(), "udev") {
		t.Errorf("unresolvable name, no file system: %v", err)
	}
	// An ext4 superblock on vdb: the spec becomes its UUID.
	sb := make([]byte, 2048)
	sb[1024+0x38], sb[1024+0x39] = 0x53, 0xef
	copy(sb[1024+0x68:], []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8})
	m.write("dev/vdb", string(sb))
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/disk/by-id/virtio-crash\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil || p.Info.Device.Spec != "UUID=12345678-9abc-def0-0102-030405060708" {
		t.Errorf("spec %q, %v", p.Info.Device.Spec, err)
	}
}

func TestCheckFilesystem(t *testing.T) {
	m := newFakeMachine(t)
	m.write("sys/kernel/kexec_crash_size", "268435456\n")
	sb := make([]byte, 2048)
	sb[1024+0x38], sb[1024+0x39] = 0x53, 0xef
	sb[1024+0x60] = 0x40 // extents: ext4
	m.write("dev/vdb", string(sb))
	opts := func(conf string) StartOptions {
		return StartOptions{Config: mustConfig(t, conf), Self: m.path("usr/sbin/gokdump")}
	}
	if pf, err := m.Preflight(opts("ext4 /dev/vdb\n")); err != nil || len(pf.Warnings) != 0 {
		t.Errorf("ext4 on ext4: %q %v", pf.Warnings, err)
	}
	if _, err := m.Preflight(opts("xfs /dev/vdb\n")); err == nil || !strings.Contains(err.Error(), "kdump.conf:1: xfs /dev/vdb") || !strings.Contains(err.Error(), "holds a ext4 file system, not xfs") {
		t.Errorf("xfs directive on ext4: %v", err)
	}
	m.write("dev/vdb", "")
	if pf, err := m.Preflight(opts("ext4 /dev/vdb\n")); err != nil || len(pf.Warnings) != 1 || !strings.Contains(pf.Warnings[0], "holds no ext4, XFS or Btrfs") {
		t.Errorf("blank device: %q %v", pf.Warnings, err)
	}
}
