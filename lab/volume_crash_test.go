package lab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
)

// Crashes onto volumes an installer would make. Each guest makes its volumes in the
// first kernel with the real lvm2/mdadm/mkfs (Setup), leaves a file on the file system
// (keep.txt), arms with the real "gokdump start" against a kdump.conf naming the
// volume, and crashes; the capture kernel's gokdump brings the stack up itself (package
// volume: no lvm2 or mdadm in the capture image) and saves the dump. The host then
// finds the volume's bytes on the disk images from the on-disk metadata (VolumeImage),
// attaches them to a read-only loop device and checks: the dump directory and status,
// the dump opens with gokdump info and libkdumpfile, fsck passes, keep.txt is as it was.
//
// Cost, one guest per test (VM wall time under TCG on a loaded 2-core host): linear LV
// 65 s, striped LV (6.12) 78 s, RAID1 86 s, degraded RAID1 80-110 s (the capture waits
// 30 s for the missing member), LVM over RAID1 85 s, layout changed 53 s, refusals
// (boot only, thin and LUKS in one guest) 25 s.

// keepText is what Setup writes to keep.txt on each volume's file system.
const keepText = "gokdump lab: this file predates the crash\n"

// crashConf is the kdump.conf of a volume crash: final_action and failure_action
// differ, so the console tells which one ran.
func crashConf(target string) string {
	return target + "\npath /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\nfinal_action poweroff\nfailure_action reboot\n"
}

// lvmCmd is an lvm2 command in the guest (lvm's own argv[1] form: no pvcreate links).
func lvmCmd(args ...string) plan.Command {
	return plan.Cmd(append([]string{"/sbin/lvm", args[0], "--config", plan.LVMConfig}, args[1:]...)...)
}

// keepFile mounts the file system on dev, writes keep.txt and unmounts it.
func keepFile(dev, fstype string) []plan.Command {
	return []plan.Command{
		plan.Cmd(plan.BuiltinMount, dev, "/mnt", fstype),
		plan.Cmd(plan.BuiltinWrite, "/mnt/keep.txt", keepText),
		plan.Cmd(plan.BuiltinUmount, "/mnt"),
	}
}

// mdRAID1 creates /dev/md0 over two disks as an installer does and waits for the
// initial resync (mdadm --wait exits 1 when there was none left to wait for).
func mdRAID1(m1, m2 string) []plan.Command {
	return []plan.Command{
		plan.Cmd("/sbin/mdadm", "--create", "/dev/md0", "--run", "--metadata=1.2", "--level=1", "--raid-devices=2",
			plan.DiskRef(m1), plan.DiskRef(m2)),
		{Argv: []string{"/sbin/mdadm", "--wait", "/dev/md0"}, TimeoutSeconds: 900, MayFail: true},
		plan.Cmd("/sbin/mdadm", "--detail", "/dev/md0"),
	}
}

func concat(parts ...[]plan.Command) []plan.Command {
	var out []plan.Command
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func diskImage(t *testing.T, r *volumeRun, serial string) VolumeImage {
	t.Helper()
	v, err := WholeFile(r.disks[serial])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// attachRO attaches v to a read-only loop device until the test ends.
func attachRO(t *testing.T, v VolumeImage) string {
	t.Helper()
	dev, detach, err := AttachLoop(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := detach(); err != nil {
			t.Error(err)
		}
	})
	return dev
}

// checkDumpReaders opens the dump with gokdump info and libkdumpfile (a spread of the
// pages it keeps, compared with what our reader returns for them).
func checkDumpReaders(t *testing.T, dump, release string) {
	t.Helper()
	out, err := exec.Command(guestGokdump(t), "info", dump).CombinedOutput()
	if err != nil || !strings.Contains(string(out), release) || !strings.Contains(string(out), sysrqPanic) {
		t.Errorf("gokdump info %s: %v\n%s", dump, err, out)
	}
	d := openDump(t, dump)
	libkdumpfileAgrees(t, needLibkdumpfile(t), d, dump, release, d)
}

// checkExt4Volume checks an ext4 volume (a loop device) after a capture that saved.
func (r *volumeRun) checkExt4Volume(t *testing.T, dev, release string) {
	t.Helper()
	dump := checkSavedDump(t, r.serviceRun(dev), release)
	checkDumpReaders(t, dump, release)
	r.checkExt4Intact(t, dev)
}

// checkExt4Intact: e2fsck finds nothing to fix and keep.txt is unchanged.
func (r *volumeRun) checkExt4Intact(t *testing.T, dev string) {
	t.Helper()
	if out, err := exec.Command("e2fsck", "-fn", dev).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the volume: %v\n%s", err, out)
	}
	if keep, err := debugfs(context.Background(), dev, "cat /keep.txt"); err != nil || keep != keepText {
		t.Errorf("keep.txt now reads %q (%v)", keep, err)
	}
}

// TestVolumeLinearLV: ext4 on a linear LV (after another LV, as an installer lays out
// root and /var/crash), named by its /dev/mapper path.
func TestVolumeLinearLV(t *testing.T) {
	t.Parallel()
	r := runVolume(t, volumeCase{
		name: "volume-linear", kernel: testenv.Kernel61,
		disks: []volDisk{{"gokdump-pv1", 768}},
		setup: concat([]plan.Command{
			lvmCmd("pvcreate", plan.DiskRef("gokdump-pv1")),
			lvmCmd("vgcreate", "vg0", plan.DiskRef("gokdump-pv1")),
			lvmCmd("lvcreate", "-L", "128M", "-n", "root", "vg0"),
			lvmCmd("lvcreate", "-L", "384M", "-n", "crash", "vg0"),
			plan.Cmd("/sbin/mkfs.ext4", "-q", "-L", "crash", "/dev/vg0/crash"),
		}, keepFile("/dev/vg0/crash", "ext4")),
		conf: crashConf("ext4 /dev/mapper/vg0-crash"),
	})
	r.serviceRun("").wantConsole(t, "gokdump: bringing up LV vg0/crash", "gokdump: saved ", "gokdump: action: poweroff")
	lv, pvs, err := FindLV([]VolumeImage{diskImage(t, r, "gokdump-pv1")}, "vg0", "crash")
	if err != nil {
		t.Fatal(err)
	}
	v, err := LVImage(lv, pvs, filepath.Join(r.dir, "lv.img"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Path != r.disks["gokdump-pv1"] || v.Offset != 1<<20+128<<20 {
		t.Errorf("the LV is at %+v, want after pe_start and the 128 MiB root LV", v)
	}
	r.checkExt4Volume(t, attachRO(t, v), testenv.KernelPackage(t, testenv.Kernel61).Release)
}

// TestVolumeStripedLV: xfs on an LV striped over two disks, named by LABEL=.
func TestVolumeStripedLV(t *testing.T) {
	t.Parallel()
	r := runVolume(t, volumeCase{
		name: "volume-striped", kernel: testenv.Kernel612,
		disks: []volDisk{{"gokdump-pv1", 384}, {"gokdump-pv2", 384}},
		setup: concat([]plan.Command{
			lvmCmd("pvcreate", plan.DiskRef("gokdump-pv1"), plan.DiskRef("gokdump-pv2")),
			lvmCmd("vgcreate", "vg0", plan.DiskRef("gokdump-pv1"), plan.DiskRef("gokdump-pv2")),
			lvmCmd("lvcreate", "-i", "2", "-I", "64k", "-L", "640M", "-n", "crash", "vg0"),
			plan.Cmd("/sbin/mkfs.xfs", "-q", "-L", "lvcrash", "/dev/vg0/crash"),
		}, keepFile("/dev/vg0/crash", "xfs")),
		conf: crashConf("xfs LABEL=lvcrash"),
	})
	r.serviceRun("").wantConsole(t, "gokdump: bringing up LV vg0/crash", "gokdump: saved ", "gokdump: action: poweroff")
	lv, pvs, err := FindLV([]VolumeImage{diskImage(t, r, "gokdump-pv1"), diskImage(t, r, "gokdump-pv2")}, "vg0", "crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Table) != 1 || lv.Table[0].Type != "striped" || len(lv.Table[0].Stripes) != 2 || lv.Table[0].ChunkSectors != 128 {
		t.Fatalf("the LV's table: %+v", lv.Table)
	}
	v, err := LVImage(lv, pvs, filepath.Join(r.dir, "lv.img"))
	if err != nil {
		t.Fatal(err)
	}
	dev := attachRO(t, v)
	if out, err := exec.Command("xfs_repair", "-n", dev).CombinedOutput(); err != nil {
		t.Errorf("xfs_repair -n on the volume: %v\n%s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "xfs", "-o", "ro,norecovery", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -o ro,norecovery %s: %v\n%s", dev, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	if keep, err := os.ReadFile(filepath.Join(mnt, "keep.txt")); err != nil || string(keep) != keepText {
		t.Errorf("keep.txt now reads %q (%v)", keep, err)
	}
	dirs, err := os.ReadDir(filepath.Join(mnt, "var", "crash"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("/var/crash on the volume: %v %v", dirs, err)
	}
	dir := filepath.Join(mnt, "var", "crash", dirs[0].Name())
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dump directory: %v %v", st, err)
	}
	host, _, ok := dumpdir.ParseDirName(dirs[0].Name())
	if !ok || host != plan.ServiceHostname {
		t.Errorf("dump directory %q", dirs[0].Name())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]Ext4Entry{}
	for _, e := range ents {
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a regular file with mode 0600", e.Name(), st.Mode())
		}
		files[e.Name()] = Ext4Entry{Name: e.Name(), Mode: 0o100000 | uint32(st.Mode().Perm()), Size: st.Size()}
	}
	release := testenv.KernelPackage(t, testenv.Kernel612).Release
	dump := checkDumpDir(t, dir, files, release)
	checkDumpReaders(t, dump, release)
}

// mdUUID is the file system UUID the md cases give mkfs.ext4, so kdump.conf can
// name the target by UUID=.
const mdUUID = "6f0b3c0e-8f5e-4a57-9d3b-1c2a5e7f9a11"

// TestVolumeRAID1: ext4 on md RAID1 (metadata 1.2), named by UUID=; afterwards both
// members hold the same file system with the dump.
func TestVolumeRAID1(t *testing.T) {
	t.Parallel()
	r := runVolume(t, volumeCase{
		name: "volume-raid1", kernel: testenv.Kernel61,
		disks: []volDisk{{"gokdump-m1", 384}, {"gokdump-m2", 384}},
		setup: concat(mdRAID1("gokdump-m1", "gokdump-m2"), []plan.Command{
			plan.Cmd("/sbin/mkfs.ext4", "-q", "-U", mdUUID, "/dev/md0"),
		}, keepFile("/dev/md0", "ext4")),
		conf: crashConf("ext4 UUID=" + mdUUID),
	})
	r.serviceRun("").wantConsole(t, "gokdump: bringing up md array", "gokdump: saved ", "gokdump: action: poweroff")
	release := testenv.KernelPackage(t, testenv.Kernel61).Release
	for i, m := range []string{"gokdump-m1", "gokdump-m2"} {
		v, sb, err := MDMemberData(diskImage(t, r, m))
		if err != nil {
			t.Fatal(err)
		}
		if sb.RaidDisks != 2 || sb.Role() != uint16(i) {
			t.Errorf("%s: %d disks, role %d", m, sb.RaidDisks, sb.Role())
		}
		dev := attachRO(t, v)
		if i == 0 {
			r.checkExt4Volume(t, dev, release)
			continue
		}
		// The mirror: the same file system, the same dump.
		r.checkExt4Intact(t, dev)
		sr := r.serviceRun(dev)
		sr.out = filepath.Join(r.dir, "out-m2")
		dir, _ := sr.dumpDir(t)
		a, err1 := os.ReadFile(filepath.Join(r.dir, "out", filepath.Base(dir), dumpdir.DumpFile))
		b, err2 := os.ReadFile(filepath.Join(dir, dumpdir.DumpFile))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("the members' dumps differ (%v, %v)", err1, err2)
		}
	}
}

// TestVolumeRAID1Degraded: the same array with its second member gone at capture
// time (its superblock wiped after arming, as a dead disk no longer shows one): the
// capture starts the array degraded on the first and saves.
func TestVolumeRAID1Degraded(t *testing.T) {
	t.Parallel()
	r := runVolume(t, volumeCase{
		name: "volume-raid1-degraded", kernel: testenv.Kernel61,
		disks: []volDisk{{"gokdump-m1", 384}, {"gokdump-m2", 384}},
		setup: concat(mdRAID1("gokdump-m1", "gokdump-m2"), []plan.Command{
			plan.Cmd("/sbin/mkfs.ext4", "-q", "-U", mdUUID, "/dev/md0"),
		}, keepFile("/dev/md0", "ext4")),
		afterArm: []plan.Command{plan.Cmd(plan.BuiltinWipe, plan.DiskRef("gokdump-m2"), "0", "1048576")},
		conf:     crashConf("ext4 UUID=" + mdUUID),
	})
	// The capture kernel's md says it runs on one mirror of two.
	r.serviceRun("").wantConsole(t, "GOKDUMP-LAB armed", "GOKDUMP-LAB ran after-arm: ok",
		"gokdump: bringing up md array", "md/raid1:md0: active with 1 out of 2 mirrors",
		"gokdump: saved ", "gokdump: action: poweroff")
	if _, _, err := MDMemberData(diskImage(t, r, "gokdump-m2")); err == nil {
		t.Error("the wiped member still has a superblock")
	}
	v, _, err := MDMemberData(diskImage(t, r, "gokdump-m1"))
	if err != nil {
		t.Fatal(err)
	}
	r.checkExt4Volume(t, attachRO(t, v), testenv.KernelPackage(t, testenv.Kernel61).Release)
}

// TestVolumeLVMOverRAID1: ext4 on an LV whose PV is an md RAID1 array, named by its
// /dev/VG/LV path.
func TestVolumeLVMOverRAID1(t *testing.T) {
	t.Parallel()
	r := runVolume(t, volumeCase{
		name: "volume-lvm-over-md", kernel: testenv.Kernel61,
		disks: []volDisk{{"gokdump-m1", 384}, {"gokdump-m2", 384}},
		setup: concat(mdRAID1("gokdump-m1", "gokdump-m2"), []plan.Command{
			lvmCmd("pvcreate", "/dev/md0"),
			lvmCmd("vgcreate", "vgmd", "/dev/md0"),
			lvmCmd("lvcreate", "-L", "300M", "-n", "crash", "vgmd"),
			plan.Cmd("/sbin/mkfs.ext4", "-q", "/dev/vgmd/crash"),
		}, keepFile("/dev/vgmd/crash", "ext4")),
		conf: crashConf("ext4 /dev/vgmd/crash"),
	})
	r.serviceRun("").wantConsole(t, "gokdump: bringing up md array", "LV vgmd/crash", "gokdump: saved ", "gokdump: action: poweroff")
	md, _, err := MDMemberData(diskImage(t, r, "gokdump-m1"))
	if err != nil {
		t.Fatal(err)
	}
	lv, pvs, err := FindLV([]VolumeImage{md}, "vgmd", "crash")
	if err != nil {
		t.Fatal(err)
	}
	v, err := LVImage(lv, pvs, filepath.Join(r.dir, "lv.img"))
	if err != nil {
		t.Fatal(err)
	}
	r.checkExt4Volume(t, attachRO(t, v), testenv.KernelPackage(t, testenv.Kernel61).Release)
}

// TestVolumeLayoutChanged: the LV is extended after arming (lvextend, no re-arm): the
// capture finds the VG's metadata changed, refuses to write, and takes
// failure_action; the file system is as it was.
func TestVolumeLayoutChanged(t *testing.T) {
	t.Parallel()
	r := runVolume(t, volumeCase{
		name: "volume-layout-changed", kernel: testenv.Kernel61,
		disks: []volDisk{{"gokdump-pv1", 512}},
		setup: concat([]plan.Command{
			lvmCmd("pvcreate", plan.DiskRef("gokdump-pv1")),
			lvmCmd("vgcreate", "vg0", plan.DiskRef("gokdump-pv1")),
			lvmCmd("lvcreate", "-L", "256M", "-n", "crash", "vg0"),
			plan.Cmd("/sbin/mkfs.ext4", "-q", "/dev/vg0/crash"),
		}, keepFile("/dev/vg0/crash", "ext4")),
		afterArm: []plan.Command{lvmCmd("lvextend", "-L", "+64M", "vg0/crash")},
		conf:     crashConf("ext4 /dev/mapper/vg0-crash"),
	})
	r.serviceRun("").wantConsole(t, "GOKDUMP-LAB armed", "GOKDUMP-LAB ran after-arm: ok",
		"gokdump: bringing up LV vg0/crash",
		"the volume layout under the dump target changed since gokdump start recorded it; nothing was written",
		"gokdump: action: reboot")
	if strings.Contains(r.con, "gokdump: saved ") {
		t.Error("the capture saved a dump through a stale mapping")
	}
	lv, pvs, err := FindLV([]VolumeImage{diskImage(t, r, "gokdump-pv1")}, "vg0", "crash")
	if err != nil {
		t.Fatal(err)
	}
	if lv.Sectors() != 320<<11 {
		t.Errorf("the LV has %d sectors, want 320 MiB after lvextend", lv.Sectors())
	}
	v, err := LVImage(lv, pvs, filepath.Join(r.dir, "lv.img"))
	if err != nil {
		t.Fatal(err)
	}
	dev := attachRO(t, v)
	r.checkExt4Intact(t, dev)
	ents, err := Ext4List(context.Background(), dev, "/")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if err != nil || strings.Join(names, ",") != "lost+found,keep.txt" {
		t.Errorf("the file system's root holds %q (%v), want only lost+found and keep.txt", names, err)
	}
}

// luksKey is the key file of the LUKS volume in TestVolumeRefusedAtStart.
const luksKey = "gokdump-lab-luks-key"

// TestVolumeRefusedAtStart: a thin LV and a LUKS volume as dump targets are refused by
// "gokdump start" (and "config check") with the kdump.conf line and why, and nothing
// is armed. One boot-only guest makes both with lvm2 and cryptsetup.
func TestVolumeRefusedAtStart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	needVolumeTools(t)
	testenv.NeedPackages(t, map[string]string{"/sbin/cryptsetup": "cryptsetup-bin"})
	b := labBinaries(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	dir := t.TempDir()
	var disks []Disk
	for _, d := range []volDisk{{"gokdump-pv1", 256}, {"gokdump-luks", 64}} {
		p := filepath.Join(dir, d.serial+".img")
		if err := makeDisk(p, int64(d.sizeMiB)<<20); err != nil {
			t.Fatal(err)
		}
		disks = append(disks, Disk{Path: p, Serial: d.serial})
	}
	start := func(conf string) plan.Command {
		return plan.Command{Argv: []string{plan.GokdumpPath, "start", "--config", conf, "--kernel", plan.KernelPath}, MayFail: true}
	}
	check := func(conf string) plan.Command {
		return plan.Command{Argv: []string{plan.GokdumpPath, "config", "check", "--config", conf, "--kernel", plan.KernelPath}, MayFail: true}
	}
	// The guest has no thin_check (thin-provisioning-tools): lvm2 skips the check.
	thinConf := plan.LVMConfig + ` global{thin_check_executable=""}`
	thin := func(args ...string) plan.Command {
		return plan.Cmd(append([]string{"/sbin/lvm", args[0], "--config", thinConf}, args[1:]...)...)
	}
	luks := plan.DiskRef("gokdump-luks")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := Boot(ctx, Config{
		Kernel: k, Binaries: b, Dir: dir, MemoryMiB: 768,
		Modules:    append(append([]string{}, VolumeModules...), "dm_thin_pool", "dm_crypt", "ecb", "xts", "algif_skcipher", "algif_hash"),
		HostFiles:  append(VolumeToolFiles(), "/sbin/cryptsetup", "/bin/cat"),
		ExtraDisks: disks,
		Files: []GuestFile{
			{Path: "/etc/kdump-thin.conf", Mode: 0o600, Data: []byte("ext4 /dev/mapper/vgthin-thin\npath /var/crash\n")},
			{Path: "/etc/kdump-luks.conf", Mode: 0o600, Data: []byte("path /var/crash\next4 /dev/mapper/labcrypt\n")},
			{Path: "/etc/lab-luks.key", Mode: 0o600, Data: []byte(luksKey)},
		},
		Setup: []plan.Command{
			thin("pvcreate", plan.DiskRef("gokdump-pv1")),
			thin("vgcreate", "vgthin", plan.DiskRef("gokdump-pv1")),
			thin("lvcreate", "--type", "thin-pool", "-L", "64M", "-n", "pool", "vgthin"),
			thin("lvcreate", "-V", "128M", "-T", "vgthin/pool", "-n", "thin"),
			plan.Cmd("/sbin/mkfs.ext4", "-q", "/dev/mapper/vgthin-thin"),
			start("/etc/kdump-thin.conf"),
			check("/etc/kdump-thin.conf"),
			// LUKS2 with PBKDF2 at a low count: argon2's memory and time are not
			// what this test is about.
			plan.Cmd("/sbin/cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
				"--pbkdf-force-iterations", "1000", "--key-file", "/etc/lab-luks.key", luks),
			plan.Cmd("/sbin/cryptsetup", "open", "--key-file", "/etc/lab-luks.key", luks, "labcrypt"),
			plan.Cmd("/sbin/mkfs.ext4", "-q", "/dev/mapper/labcrypt"),
			start("/etc/kdump-luks.conf"),
			check("/etc/kdump-luks.conf"),
			plan.Cmd("/bin/cat", "/sys/kernel/kexec_crash_loaded"),
		},
		Timeout: 10 * time.Minute,
	})
	if res != nil {
		t.Logf("volume-refused: VM ran %s; console %s", res.Elapsed.Round(time.Second), res.ConsoleLog)
	}
	if err != nil {
		if res != nil {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
		}
		t.Fatal(err)
	}
	con, err := os.ReadFile(res.ConsoleLog)
	if err != nil {
		t.Fatal(err)
	}
	sr := &serviceRun{res: res, con: string(con)}
	failed := "GOKDUMP-LAB ran setup: failed"
	sr.wantConsole(t,
		"run setup: "+plan.GokdumpPath+" start --config /etc/kdump-thin.conf", "/etc/kdump-thin.conf:1",
		"a thin LV needs its pool's dm-thin metadata activated", failed,
		"run setup: "+plan.GokdumpPath+" config check --config /etc/kdump-thin.conf", "/etc/kdump-thin.conf:1",
		"a thin LV needs", failed,
		"run setup: "+plan.GokdumpPath+" start --config /etc/kdump-luks.conf", "/etc/kdump-luks.conf:2",
		"a dm-crypt (LUKS) volume: its key is not available to the capture kernel; use a remote target", failed,
		"run setup: "+plan.GokdumpPath+" config check --config /etc/kdump-luks.conf", "/etc/kdump-luks.conf:2",
		"LUKS", failed,
		"GOKDUMP-LAB done")
	if !regexp.MustCompile(`run setup: /bin/cat /sys/kernel/kexec_crash_loaded\r?\n0\r?\n`).MatchString(sr.con) {
		t.Error("after the refusals the kernel has a capture kernel loaded (or the console does not say)")
	}
	if strings.Contains(sr.con, "GOKDUMP-LAB armed") {
		t.Error("the guest armed")
	}
}
