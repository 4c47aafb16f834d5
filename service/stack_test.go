package service

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/volume"
)

// testStack is LVM over md: vg0/crash on the RAID1 array md0, whose members are vdb
// and sda.
var testStack = volume.Stack{
	Arrays: []volume.Array{{UUID: "0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9", Name: "box:0", Level: 1, Members: 2, Minor: 0}},
	LV: &volume.MappedLV{VGName: "vg0", VGID: "Vg0Id", Seqno: 7, Name: "crash", ID: "LvId", PVs: []string{"PvId"},
		Table: []volume.Target{{Start: 0, Length: 8192, Type: "linear", Stripes: []volume.Stripe{{PV: "PvId", Offset: 2048}}}}},
}

// addStack gives the fake machine dm-0 (the LV vg0/crash, /dev/mapper/vg0-crash) on
// md0 (RAID1 of vdb and sda), the modules md_mod and raid1, and a DescribeStack that
// answers with stack and err for dm-0 and md0, recording what it was asked.
func (m *fakeMachine) addStack(t *testing.T, stack *volume.Stack, err error) *[]string {
	t.Helper()
	m.mkdir("sys/devices/virtual/block/md0/md")
	m.write("sys/devices/virtual/block/md0/md/level", "raid1\n")
	m.write("sys/devices/virtual/block/md0/dev", "9:0\n")
	m.symlink("sys/class/block/md0", "../../devices/virtual/block/md0")
	m.symlink("sys/dev/block/9:0", "../../devices/virtual/block/md0")
	m.symlink("sys/devices/virtual/block/md0/slaves/vdb", "../../../../pci0000:00/0000:00:05.0/virtio2/block/vdb")
	m.symlink("sys/devices/virtual/block/md0/slaves/sda", "../../../../pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda")
	m.write("sys/devices/virtual/block/dm-0/dm/uuid", "LVM-Vg0IdLvId\n")
	m.write("sys/devices/virtual/block/dm-0/dev", "254:0\n")
	m.symlink("sys/class/block/dm-0", "../../devices/virtual/block/dm-0")
	m.symlink("sys/dev/block/254:0", "../../devices/virtual/block/dm-0")
	m.symlink("sys/devices/virtual/block/dm-0/slaves/md0", "../../md0")
	m.write("dev/dm-0", "")
	m.write("dev/md0", "")
	m.symlink("dev/mapper/vg0-crash", "../dm-0")
	m.symlink("dev/vg0/crash", "../dm-0")
	dir := "lib/modules/" + testRelease + "/"
	m.write(dir+"kernel/drivers/md/md-mod.ko", "module md-mod")
	m.write(dir+"kernel/drivers/md/raid1.ko", "module raid1")
	dep, _ := readFile(m.path(dir + "modules.dep"))
	m.write(dir+"modules.dep", dep+"kernel/drivers/md/md-mod.ko:\nkernel/drivers/md/raid1.ko: kernel/drivers/md/md-mod.ko\n")
	var asked []string
	m.DescribeStack = func(name string) (*volume.Stack, error) {
		asked = append(asked, name)
		if name != "dm-0" && name != "md0" {
			t.Errorf("DescribeStack asked about %s, which is no dm or md device", name)
		}
		return stack, err
	}
	return &asked
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

func moduleNames(paths []string) []string {
	var names []string
	for _, mod := range paths {
		base := filepath.Base(mod)
		names = append(names, strings.ReplaceAll(base[:strings.Index(base, ".ko")], "-", "_"))
	}
	return names
}

// TestPlanRecordsStack: a target on an LV over md has its stack recorded in the
// image's CaptureInfo, with the modules that bring it up (md first, then dm) and the
// drivers of the disks under it; the same for the root file system on that LV.
func TestPlanRecordsStack(t *testing.T) {
	for _, tc := range []struct{ name, conf, mountinfo string }{
		{"ext4 on /dev/mapper", "ext4 /dev/mapper/vg0-crash\n", ""},
		{"xfs on /dev/VG/LV", "xfs /dev/vg0/crash\n", ""},
		{"btrfs on /dev/dm-0", "btrfs /dev/dm-0\n", ""},
		{"root file system on the LV", "path /var/crash\n", "21 1 254:0 / / rw - ext4 /dev/mapper/vg0-crash rw\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMachine(t)
			asked := m.addStack(t, &testStack, nil)
			if tc.mountinfo != "" {
				m.write("proc/self/mountinfo", tc.mountinfo)
			}
			p, err := m.Plan(BuildOptions{Config: mustConfig(t, tc.conf), Self: m.path("usr/sbin/gokdump")})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(*asked, " ") != "dm-0" {
				t.Errorf("DescribeStack asked about %q, want dm-0", *asked)
			}
			if strings.HasPrefix(p.Info.Device.Spec, "/dev/dm-") {
				t.Errorf("spec %s: the capture kernel numbers dm devices its own way", p.Info.Device.Spec)
			}
			if p.Info.Device.Name != "dm-0" || !reflect.DeepEqual(p.Info.Device.Stack, &testStack) {
				t.Errorf("device %+v, want dm-0 with the stack", p.Info.Device)
			}
			names := moduleNames(p.Info.Modules)
			for _, want := range []string{"md_mod", "raid1", "dm_mod", "virtio_blk", "ahci", "sd_mod"} {
				if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
					t.Errorf("modules %v lack %s", names, want)
				}
			}
			// The stack travels in the image's capture.json and reads back whole.
			a, err := p.Archive()
			if err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(t.TempDir(), "img")
			if err := a.WriteFile(img, p.Compression); err != nil {
				t.Fatal(err)
			}
			files, _ := readImage(t, img)
			var info CaptureInfo
			if err := json.Unmarshal([]byte(files[CaptureInfoPath].data), &info); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(info.Device.Stack, &testStack) {
				t.Errorf("capture.json stack %+v", info.Device.Stack)
			}
		})
	}
}

// TestPlanRefusesStack: what volume refuses is refused at arming with the kdump.conf
// line, and a LUKS refusal names the remote targets.
func TestPlanRefusesStack(t *testing.T) {
	luks := &volume.UnsupportedError{Volume: "dm-0", Reason: "a dm-crypt (LUKS) volume: its key is not available to the capture kernel"}
	thin := &volume.UnsupportedError{Volume: "vg0/crash", Reason: "a thin LV needs its pool's dm-thin metadata activated"}
	for _, tc := range []struct {
		name, conf string
		err        error
		want       []string
	}{
		{"LUKS", "path /dumps\next4 /dev/mapper/vg0-crash\n", luks, []string{"kdump.conf:2: ext4 /dev/mapper/vg0-crash", "LUKS", "ssh", "nfs"}},
		{"thin LV", "xfs UUID=9b5e4c1e-0d2c-4b8e-9a4f-0f2e8d1c3b5a\n", thin, []string{"kdump.conf:1: xfs UUID=", "thin LV", "dm-0"}},
		{"unreadable metadata", "ext4 /dev/mapper/vg0-crash\n", errors.New("volume: reading PV md0 of dm-0: bad label"), []string{"kdump.conf:1:", "bad label"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMachine(t)
			m.addStack(t, nil, tc.err)
			m.symlink("dev/disk/by-uuid/9b5e4c1e-0d2c-4b8e-9a4f-0f2e8d1c3b5a", "../../dm-0")
			_, err := m.Plan(BuildOptions{Config: mustConfig(t, tc.conf), Self: m.path("usr/sbin/gokdump")})
			if err == nil {
				t.Fatal("armed a stack the capture cannot bring up")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// The root file system: the refusal names the path line.
	m := newFakeMachine(t)
	m.addStack(t, nil, luks)
	m.write("proc/self/mountinfo", "21 1 254:0 / / rw - ext4 /dev/mapper/vg0-crash rw\n")
	_, err := m.Plan(BuildOptions{Config: mustConfig(t, "# dumps\npath /var/crash\n"), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:2: path /var/crash (on the root file system)") || !strings.Contains(err.Error(), "LUKS") {
		t.Errorf("root file system on LUKS: %v", err)
	}
	// A /dev/mapper device that is not there: no layout to record, refused.
	m = newFakeMachine(t)
	_, err = m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/mapper/vg9-gone\n"), Self: m.path("usr/sbin/gokdump")})
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:1:") || !strings.Contains(err.Error(), "not present now") {
		t.Errorf("absent /dev/mapper device: %v", err)
	}
}

// TestPlanPlainDeviceNoStack: a plain partition is not described and has no stack.
func TestPlanPlainDeviceNoStack(t *testing.T) {
	m := newFakeMachine(t)
	asked := m.addStack(t, &testStack, nil)
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "ext4 /dev/vdb\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if len(*asked) != 0 || p.Info.Device.Stack != nil {
		t.Errorf("plain disk: asked %q, stack %+v", *asked, p.Info.Device.Stack)
	}
	if names := strings.Join(moduleNames(p.Info.Modules), " "); strings.Contains(names, "dm_mod") || strings.Contains(names, "raid1") {
		t.Errorf("plain disk brings %s", names)
	}
}

// TestStartRearmsOnLayoutChange: start rebuilds the image when the stack under the
// dump device changed since the last build (what the udev rule's restart relies on),
// and with force_no_rebuild keeps it but warns that the capture will refuse it.
func TestStartRearmsOnLayoutChange(t *testing.T) {
	m := newFakeMachine(t)
	m.Kexec = &fakeKexec{}
	m.setKexecFiles("new", false, 256<<20)
	stack := testStack
	lv := *testStack.LV
	stack.LV = &lv
	m.addStack(t, &stack, nil)
	start := func(conf string) *StartResult {
		t.Helper()
		res, err := m.Start(StartOptions{Config: mustConfig(t, conf), ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	const conf = "ext4 /dev/mapper/vg0-crash\n"
	if res := start(conf); !res.Rebuilt {
		t.Fatal("first start did not build")
	}
	if res := start(conf); res.Rebuilt {
		t.Fatalf("rebuilt without a change: %s", res.RebuildReason)
	}
	lv.Seqno = 8 // lvextend
	lv.Table = append([]volume.Target(nil), lv.Table...)
	lv.Table[0].Length *= 2
	if res := start(conf); !res.Rebuilt || !strings.Contains(res.RebuildReason, "LVM/md layout") {
		t.Fatalf("after lvextend: rebuilt %v (%s)", res.Rebuilt, res.RebuildReason)
	}
	info, err := readCaptureInfoFromImage(t, m.ImagePath(testRelease))
	if err != nil || info.Device.Stack == nil || info.Device.Stack.LV.Seqno != 8 {
		t.Errorf("image after lvextend: %+v %v", info, err)
	}
	// force_no_rebuild: the stale image stays, with a warning.
	const never = conf + "force_no_rebuild 1\n"
	start(never) // the image exists: kept, though the configuration changed
	lv.Seqno = 9
	res := start(never)
	if res.Rebuilt || !strings.Contains(strings.Join(res.Warnings, "\n"), "force_no_rebuild keeps an image") {
		t.Errorf("force_no_rebuild with a changed layout: rebuilt %v, warnings %q", res.Rebuilt, res.Warnings)
	}
}

// readCaptureInfoFromImage reads capture.json out of a built image.
func readCaptureInfoFromImage(t *testing.T, img string) (*CaptureInfo, error) {
	t.Helper()
	files, _ := readImage(t, img)
	var info CaptureInfo
	err := json.Unmarshal([]byte(files[CaptureInfoPath].data), &info)
	return &info, err
}
