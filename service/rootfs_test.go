package service

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/volume"
)

// ext4Superblock is the start of an ext4 file system with uuid (16 bytes) as far as
// target.Probe reads it.
func ext4Superblock(uuid [16]byte) string {
	b := make([]byte, 2048)
	sb := b[1024:]
	binary.LittleEndian.PutUint16(sb[0x38:], 0xEF53)
	binary.LittleEndian.PutUint32(sb[0x60:], 0x40) // extents: ext4
	copy(sb[0x68:], uuid[:])
	return string(b)
}

// TestPlanRootfs: failure_action dump_to_rootfs records the root file system ("/" in
// the mount table, not the target's nor the one holding path) by its UUID, with the
// modules that mount it.
func TestPlanRootfs(t *testing.T) {
	m := newFakeMachine(t)
	m.write("dev/vda1", ext4Superblock([16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}))
	cfg := mustConfig(t, "xfs /dev/sda\npath /var/crash\nfailure_action dump_to_rootfs\n")
	p, err := m.Plan(BuildOptions{Config: cfg, Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	want := DumpDevice{FSType: "ext4", Name: "vda1", Spec: "UUID=12345678-9abc-def0-0102-030405060708"}
	if p.Info.Rootfs == nil || *p.Info.Rootfs != want {
		t.Fatalf("rootfs %+v, want %+v", p.Info.Rootfs, want)
	}
	if p.Info.Device.Name != "sda" {
		t.Errorf("the dump device became %+v", p.Info.Device)
	}
	got := strings.Join(moduleNames(p.Info.Modules), " ")
	for _, mod := range []string{"xfs", "ahci", "ext4", "jbd2", "virtio_blk", "virtio_pci"} {
		if !strings.Contains(" "+got+" ", " "+mod+" ") {
			t.Errorf("modules %q lack %s", got, mod)
		}
	}
	if len(p.Info.Notes) != 0 {
		t.Errorf("notes %q", p.Info.Notes)
	}

	// Without dump_to_rootfs, nothing of the root file system goes in.
	p, err = m.Plan(BuildOptions{Config: mustConfig(t, "xfs /dev/sda\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Info.Rootfs != nil || strings.Contains(strings.Join(moduleNames(p.Info.Modules), " "), "ext4") {
		t.Errorf("rootfs %+v modules %q without dump_to_rootfs", p.Info.Rootfs, moduleNames(p.Info.Modules))
	}
}

// TestPlanRootfsRebuild: the image is rebuilt when the root file system changes.
func TestPlanRootfsRebuild(t *testing.T) {
	m := newFakeMachine(t)
	cfg := mustConfig(t, "xfs /dev/sda\nfailure_action dump_to_rootfs\n")
	manifest := func() *Manifest {
		p, err := m.Plan(BuildOptions{Config: cfg, Self: m.path("usr/sbin/gokdump")})
		if err != nil {
			t.Fatal(err)
		}
		mf, err := p.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		return mf
	}
	before := manifest()
	m.write("dev/vda1", ext4Superblock([16]byte{1}))
	if r := RebuildReason(cfg, true, before, manifest()); !strings.Contains(r, "dump device") {
		t.Errorf("rebuild reason %q after the root file system's UUID changed", r)
	}
}

func TestPlanRootfsPlaces(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo string
		dir             string // want Rootfs.Dir
		note            string
	}{
		{"btrfs subvolume as /", "21 1 0:30 /@ / rw - btrfs /dev/vda1 rw,subvol=/@\n", "/@/var/crash", ""},
		{"separate /var", "21 1 253:1 / / rw - ext4 /dev/vda1 rw\n22 21 8:0 / /var rw - xfs /dev/sda rw\n", "",
			"saves to /var/crash on the root file system (/dev/vda1), under the mount point /var"},
		{"root mounted twice, the upper one counts", "20 1 0:2 / / rw - rootfs rootfs rw\n21 20 253:1 / / rw - ext4 /dev/vda1 rw\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMachine(t)
			m.write("proc/self/mountinfo", tc.mountinfo)
			p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n"), Self: m.path("usr/sbin/gokdump")})
			if err != nil {
				t.Fatal(err)
			}
			if r := p.Info.Rootfs; r == nil || r.Name != "vda1" || r.Dir != tc.dir || r.Spec != "/dev/vda1" {
				t.Errorf("rootfs %+v, want vda1 with dir %q", r, tc.dir)
			}
			notes := strings.Join(p.Info.Notes, "\n")
			if (tc.note == "") != (notes == "") || !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
		})
	}
}

// TestPlanRootfsRefused: a root file system the capture cannot save to refuses
// failure_action dump_to_rootfs at start, on its line, saying why.
func TestPlanRootfsRefused(t *testing.T) {
	for _, tc := range []struct{ name, mountinfo, want string }{
		{"tmpfs", "2 1 0:2 / / rw - tmpfs none rw\n", "the root file system is tmpfs"},
		{"initramfs", "1 1 0:2 / / rw - rootfs rootfs rw\n", "the root file system is rootfs"},
		{"nfs", "21 1 0:40 / / rw - nfs4 server:/export/root rw\n", "the root file system is nfs4 (server:/export/root)"},
		{"overlay", "21 1 0:41 / / rw - overlay overlay rw,lowerdir=/a,upperdir=/b\n", "the root file system is overlay"},
		{"squashfs", "21 1 7:0 / / ro - squashfs /dev/loop0 ro\n", "the root file system is squashfs"},
		{"no /", "24 1 8:0 / /srv rw - xfs /dev/sda rw\n", "lists no mount on /"},
		{"vanished device", "21 1 253:99 / / rw - ext4 /dev/vdz1 rw\n", "the root file system: the device of /"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMachine(t)
			m.write("proc/self/mountinfo", tc.mountinfo)
			_, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb\n\nfailure_action dump_to_rootfs\n"), Self: m.path("usr/sbin/gokdump")})
			if err == nil || !strings.Contains(err.Error(), "kdump.conf:3: failure_action dump_to_rootfs: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one on line 3 saying %q", err, tc.want)
			}
		})
	}
}

// TestPlanRootfsStack: a root file system on an LV over md has its stack recorded like
// the target's, with the modules that bring it up; one the capture cannot bring up
// refuses dump_to_rootfs.
func TestPlanRootfsStack(t *testing.T) {
	m := newFakeMachine(t)
	asked := m.addStack(t, &testStack, nil)
	m.write("proc/self/mountinfo", "21 1 254:0 / / rw - ext4 /dev/mapper/vg0-crash rw\n")
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Info.Rootfs; r == nil || r.Name != "dm-0" || r.Stack == nil || r.Stack.LV == nil || r.Stack.LV.Name != "crash" || len(r.Stack.Arrays) != 1 {
		t.Fatalf("rootfs %+v", p.Info.Rootfs)
	}
	if strings.Join(*asked, " ") != "dm-0" {
		t.Errorf("stacks described: %q", *asked)
	}
	got := " " + strings.Join(moduleNames(p.Info.Modules), " ") + " "
	for _, mod := range []string{"md_mod", "raid1", "dm_mod", "ext4"} {
		if !strings.Contains(got, " "+mod+" ") {
			t.Errorf("modules %q lack %s", got, mod)
		}
	}

	m = newFakeMachine(t)
	m.addStack(t, nil, errors.New("vg0/crash is a thin volume: "+volume.ErrUnsupported.Error()))
	m.write("proc/self/mountinfo", "21 1 254:0 / / rw - ext4 /dev/mapper/vg0-crash rw\n")
	_, err = m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n"), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:2: failure_action dump_to_rootfs: the root file system's device /dev/mapper/vg0-crash (dm-0): vg0/crash is a thin volume") {
		t.Errorf("error %v", err)
	}
	m = newFakeMachine(t)
	m.addStack(t, nil, volume.ErrUnsupported)
	m.write("proc/self/mountinfo", "21 1 254:0 / / rw - ext4 /dev/mapper/vg0-crash rw\n")
	_, err = m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n"), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "the capture kernel cannot bring it up") {
		t.Errorf("error %v", err)
	}
}

// TestStartRootfs: start records the root file system in the image it loads, and
// refuses dump_to_rootfs on a root file system the capture cannot save to.
func TestStartRootfs(t *testing.T) {
	m := newFakeMachine(t)
	m.Kexec = &fakeKexec{}
	m.setKexecFiles("new", false, 256<<20)
	conf := "ext4 LABEL=dumps\nfailure_action dump_to_rootfs\n"
	res, err := m.Start(StartOptions{Config: mustConfig(t, conf), ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rootfs == nil || res.Rootfs.Spec != "/dev/vda1" {
		t.Errorf("start result rootfs %+v", res.Rootfs)
	}
	img, _ := readImage(t, res.Image)
	if !strings.Contains(img[CaptureInfoPath].data, `"rootfs": {`) || !strings.Contains(img[CaptureInfoPath].data, `"spec": "/dev/vda1"`) {
		t.Errorf("capture info:\n%s", img[CaptureInfoPath].data)
	}

	m.write("proc/self/mountinfo", "21 1 0:40 / / rw - nfs4 server:/root rw\n")
	conf = "ext4 LABEL=dumps\nfailure_action dump_to_rootfs\nfinal_action halt\n"
	_, err = m.Start(StartOptions{Config: mustConfig(t, conf), ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:2: failure_action dump_to_rootfs: the root file system is nfs4") {
		t.Errorf("start on an nfs root: %v", err)
	}
}

// TestStatusRootfsDumps: the next boot's status lists the dumps dump_to_rootfs saved
// on the root file system too, also when the target is not mounted.
func TestStatusRootfsDumps(t *testing.T) {
	m := newFakeMachine(t)
	m.setKexecFiles("old", true, 256<<20)
	dumps := m.path("var/crash")
	m.write("var/crash/box-2023-11-15-10:00:00/vmcore", "dump")  // after this boot's start: new
	m.write("var/crash/box-2023-11-01-10:00:00/vmcore", "older") // before it
	st, err := m.ReadStatus(mustConfig(t, "ext4 /dev/vdb\npath "+dumps+"\nfailure_action dump_to_rootfs\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st.RootfsDir != dumps || len(st.RootfsNew) != 1 || !strings.HasSuffix(st.RootfsNew[0].Dir, "box-2023-11-15-10:00:00") || st.DumpDir != "" {
		t.Errorf("status %+v", st)
	}
	// Without dump_to_rootfs, the root file system is not the dumps' place.
	if st, err = m.ReadStatus(mustConfig(t, "ext4 /dev/vdb\npath "+dumps+"\n")); err != nil || st.RootfsDir != "" || len(st.RootfsNew) != 0 {
		t.Errorf("status without dump_to_rootfs: %+v %v", st, err)
	}
}

// TestPlanRootfsReleaseDrivers: the root disk's drivers are taken from the release the
// image is for, as the target's are; a driver that release lacks refuses
// dump_to_rootfs. The target (sda, AHCI) is reachable; the root (vda1, virtio) is not.
func TestPlanRootfsReleaseDrivers(t *testing.T) {
	m := newFakeMachine(t)
	if err := os.Remove(m.path("sys/bus/virtio/drivers/virtio_blk/module")); err != nil {
		t.Fatal(err)
	}
	m.otherRelease(t, "6.1.0-mod", func(d, b string) (string, string) { return d, b })
	m.otherRelease(t, "6.1.0-none", func(d, b string) (string, string) {
		return dropLine(d, "kernel/drivers/block/virtio_blk"), b
	})
	conf := "xfs /dev/sda\nfailure_action dump_to_rootfs\n"
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, conf), Release: "6.1.0-mod", Self: m.path("usr/sbin/gokdump")})
	if err != nil || !strings.Contains(" "+strings.Join(moduleNames(p.Info.Modules), " ")+" ", " virtio_blk ") {
		t.Errorf("6.1.0-mod: %v", err)
	}
	_, err = m.Plan(BuildOptions{Config: mustConfig(t, conf), Release: "6.1.0-none", Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:2: failure_action dump_to_rootfs: the root file system's device") || !strings.Contains(err.Error(), "virtio_blk") {
		t.Errorf("6.1.0-none: %v", err)
	}
}

// TestPreflightRootfsRoom: the root file system's room is compared with the dump's
// estimate, as the target's is.
func TestPreflightRootfsRoom(t *testing.T) {
	m := newFakeMachine(t)
	m.write("proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1048576 kB\nBuffers:               0 kB\nCached:          2097152 kB\nAnonPages:       1048576 kB\n")
	m.FreeBytes = func(dir string) (int64, error) { return 1 << 30, nil }
	m.write("sys/kernel/kexec_crash_size", "268435456\n")
	pf, err := m.Preflight(StartOptions{Config: mustConfig(t, "ext4 /dev/vdb\nfailure_action dump_to_rootfs\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, w := range pf.Warnings {
		if strings.HasPrefix(w, "failure_action dump_to_rootfs: the dump target /dev/vda1 (mounted on /) has 1024M free") {
			found++
		}
	}
	if found != 1 {
		t.Errorf("warnings %q, want one about the root file system's room", pf.Warnings)
	}
}
