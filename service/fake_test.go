package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/netconf"
)

const testRelease = "6.1.0-test-amd64"

// fakeMachine is a System over a temporary tree shaped like a small virtio
// machine: /dev/vda1 the root file system (ext4), /dev/vdb a second virtio disk,
// /dev/sda on AHCI, a module tree with modules.dep, a kernel image and its config.
type fakeMachine struct {
	*System
	root string
}

func newFakeMachine(t *testing.T) *fakeMachine {
	t.Helper()
	root := t.TempDir()
	m := &fakeMachine{root: root, System: &System{
		ProcRoot:   filepath.Join(root, "proc"),
		SysRoot:    filepath.Join(root, "sys"),
		DevRoot:    filepath.Join(root, "dev"),
		BootDir:    filepath.Join(root, "boot"),
		ModulesDir: filepath.Join(root, "lib/modules"),
		StateDir:   filepath.Join(root, "var/lib/gokdump"),
		LibDirs:    []string{filepath.Join(root, "lib/x86_64-linux-gnu")},
	}}
	m.write("proc/sys/kernel/osrelease", testRelease+"\n")
	m.write("proc/cmdline", "BOOT_IMAGE=/vmlinuz-"+testRelease+" root=UUID=1234 ro quiet crashkernel=256M\n")
	m.write("proc/stat", "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n")
	m.write("proc/self/mountinfo", strings.Join([]string{
		"21 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
		"22 21 0:5 / /dev rw - devtmpfs udev rw",
		"23 21 0:21 / /tmp rw - tmpfs tmpfs rw",
		"24 21 8:0 / /srv/my\\040dumps rw - xfs /dev/sda rw",
	}, "\n")+"\n")

	// sysfs: two virtio disks behind virtio-pci, a SATA disk behind ahci.
	for _, d := range []struct{ pci, virtio, disk string }{
		{"0000:00:04.0", "virtio1", "vda"},
		{"0000:00:05.0", "virtio2", "vdb"},
	} {
		dev := "devices/pci0000:00/" + d.pci + "/" + d.virtio
		m.mkdir("sys/" + dev + "/block/" + d.disk)
		m.symlink("sys/class/block/"+d.disk, "../../"+dev+"/block/"+d.disk)
		m.symlink("sys/"+dev+"/driver", "../../../../bus/virtio/drivers/virtio_blk")
		m.symlink("sys/devices/pci0000:00/"+d.pci+"/driver", "../../../bus/pci/drivers/virtio-pci")
	}
	m.mkdir("sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1")
	m.write("sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1/partition", "1\n")
	m.symlink("sys/class/block/vda1", "../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1")
	sata := "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0"
	m.mkdir("sys/" + sata + "/block/sda")
	m.symlink("sys/class/block/sda", "../../"+sata+"/block/sda")
	m.symlink("sys/"+sata+"/driver", "../../../../../../../bus/scsi/drivers/sd")
	m.symlink("sys/devices/pci0000:00/0000:00:1f.2/driver", "../../../bus/pci/drivers/ahci")
	for drv, mod := range map[string]string{
		"virtio/drivers/virtio_blk": "virtio_blk", "pci/drivers/virtio-pci": "virtio_pci",
		"scsi/drivers/sd": "sd_mod", "pci/drivers/ahci": "ahci",
	} {
		m.mkdir("sys/module/" + mod)
		m.symlink("sys/bus/"+drv+"/module", "../../../../module/"+mod)
	}
	for name, majMin := range map[string]string{"vda": "253:0", "vda1": "253:1", "vdb": "253:16", "sda": "8:0"} {
		target, _ := os.Readlink(filepath.Join(root, "sys/class/block", name))
		m.symlink("sys/dev/block/"+majMin, "../../class/block/"+filepath.Base(target))
		_ = target
	}
	// /dev: plain files stand in for the nodes (probing them finds no superblock).
	for _, n := range []string{"vda", "vda1", "vdb", "sda"} {
		m.write("dev/"+n, "")
	}
	m.mkdir("dev/disk/by-label")
	m.symlink("dev/disk/by-label/crash\\x20dumps", "../../vdb")

	// Modules, with modules.dep and one built-in.
	mods := map[string]string{
		"kernel/fs/ext4/ext4.ko":                    "kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko",
		"kernel/fs/jbd2/jbd2.ko":                    "",
		"kernel/fs/mbcache.ko":                      "",
		"kernel/lib/crc16.ko":                       "",
		"kernel/fs/xfs/xfs.ko.xz":                   "kernel/lib/libcrc32c.ko",
		"kernel/lib/libcrc32c.ko":                   "",
		"kernel/drivers/block/virtio_blk.ko.zst":    "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/virtio/virtio_ring.ko":      "",
		"kernel/drivers/virtio/virtio_pci.ko":       "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/scsi/sd_mod.ko":             "",
		"kernel/drivers/ata/ahci.ko":                "kernel/drivers/ata/libahci.ko",
		"kernel/drivers/ata/libahci.ko":             "",
		"kernel/drivers/net/virtio_net.ko":          "kernel/drivers/virtio/virtio_ring.ko",
		"kernel/drivers/nvme/host/nvme.ko":          "",
		"kernel/fs/btrfs/btrfs.ko":                  "",
		"kernel/drivers/md/dm-mod.ko":               "",
		"kernel/drivers/scsi/virtio_scsi.ko":        "",
		"kernel/drivers/usb/storage/usb-storage.ko": "",
	}
	var dep strings.Builder
	for path, deps := range mods {
		m.write("lib/modules/"+testRelease+"/"+path, "module "+path)
		dep.WriteString(path + ": " + deps + "\n")
	}
	m.write("lib/modules/"+testRelease+"/modules.dep", dep.String())
	m.write("lib/modules/"+testRelease+"/modules.builtin", "kernel/drivers/virtio/virtio.ko\n")
	m.write("boot/vmlinuz-"+testRelease, strings.Repeat("K", 12<<10))
	m.write("boot/config-"+testRelease, "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n")
	m.write("usr/sbin/gokdump", "pretend gokdump binary")
	// No test resolves names through the machine's resolver or reads its
	// known_hosts: the network is a fake with no route anywhere (remote_test.go
	// adds one), names resolve only to what the fake says.
	m.Net = netconf.Options{Netlink: &fakeNet{}, Resolve: fakeResolve}
	m.KnownHosts = []string{m.path("root/.ssh/known_hosts")}
	return m
}

func (m *fakeMachine) path(rel string) string { return filepath.Join(m.root, rel) }

func (m *fakeMachine) write(rel, data string) {
	p := m.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		panic(err)
	}
}

func (m *fakeMachine) mkdir(rel string) {
	if err := os.MkdirAll(m.path(rel), 0o755); err != nil {
		panic(err)
	}
}

func (m *fakeMachine) symlink(rel, target string) {
	p := m.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		panic(err)
	}
	if err := os.Symlink(target, p); err != nil {
		panic(err)
	}
}
