package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
)

// TestServiceDumpToRootfs: failure_action dump_to_rootfs on an installed machine. The
// guest's root file system is an ext4 disk (the root-on-disk mode: "gokdump start"
// runs chrooted into it and records it in the capture image); the target is ext4
// LABEL=dumps on a second disk, whose superblock is wiped after arming, so the capture
// kernel cannot find it. The capture saves to /var/crash on the root disk instead and
// takes final_action (poweroff, not the fallback's reboot). The host reads the dump
// back from the root disk's image, opens it, and checks the file system with e2fsck.
func TestServiceDumpToRootfs(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedPackages(t, map[string]string{QEMU: "qemu-system-x86", "mkfs.ext4": "e2fsprogs", "debugfs": "e2fsprogs", "e2fsck": "e2fsprogs"})
	b := labBinaries(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	dir := runDir(t, "gokdump-lab-rootfs-")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	modules := []string{"ext4", "crc32c_generic"}
	rootImg := filepath.Join(dir, "root.img")
	if err := MakeRootDisk(ctx, rootImg, RootDisk{Kernel: k, Gokdump: b.Gokdump, Modules: modules, Label: "gokdump-root", SizeMiB: 512}); err != nil {
		t.Fatal(err)
	}
	dumpsImg := filepath.Join(dir, "dumps.img")
	if err := MakeExt4(ctx, dumpsImg, 64, "dumps"); err != nil {
		t.Fatal(err)
	}
	conf := "ext4 LABEL=dumps\npath /var/crash\ncore_collector makedumpfile -l -d 31\nfailure_action dump_to_rootfs\nfinal_action poweroff\n"
	res, err := Crash(ctx, Config{
		Kernel: k, Binaries: b, Dir: dir, CPU: "max", KASLR: true, MemoryMiB: 768,
		Modules:    modules,
		ExtraDisks: []Disk{{Path: rootImg, Serial: "gokdump-root"}, {Path: dumpsImg, Serial: "gokdump-dumps"}},
		Service:    &Service{KdumpConf: conf, Root: &plan.Root{Device: plan.DiskRef("gokdump-root"), FSType: "ext4"}},
		// The target becomes unreachable after arming: its ext4 superblock (1 KiB at
		// byte 1024) is zeroed, so no device has LABEL=dumps any more.
		AfterArm: []plan.Command{plan.Cmd(plan.BuiltinWipe, plan.DiskRef("gokdump-dumps"), "1024", "1024")},
		Timeout:  15 * time.Minute,
	})
	if res != nil {
		t.Logf("dump_to_rootfs: VM ran %s; console %s", res.Elapsed.Round(time.Second), res.ConsoleLog)
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
	r := &serviceRun{res: res, disk: rootImg, out: filepath.Join(dir, "out"), con: string(con)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 60))
		}
	})
	r.wantConsole(t,
		"failure_action dump_to_rootfs: when the target fails, dumps go to /var/crash on the root file system (ext4 UUID=",
		"gokdump: capture failed: target: device not found", "LABEL=dumps",
		"gokdump: failure_action dump_to_rootfs: saving to ext4 LABEL=dumps failed",
		"gokdump: mounting the dump target ext4 UUID=",
		"gokdump: failure_action dump_to_rootfs: the dump is saved on the root file system in /sysroot/var/crash/",
		"gokdump: action: poweroff")

	for _, l := range strings.Split(r.con, "\n") {
		if strings.Contains(l, "dump_to_rootfs") || strings.Contains(l, "capture failed") || strings.Contains(l, "gokdump: action:") {
			t.Logf("console: %s", strings.TrimSpace(l))
		}
	}
	release := k.Release
	dump := checkSavedDump(t, r, release)
	st := readStatus(t, filepath.Dir(dump))
	if fb := st.Fallback; fb == nil || fb.Action != "dump_to_rootfs" || fb.Target != "ext4 LABEL=dumps" ||
		!strings.Contains(fb.Error, "LABEL=dumps") || fb.Dir != "" {
		t.Errorf("status fallback %+v, want dump_to_rootfs after ext4 LABEL=dumps was not found", fb)
	}
	if st.Action != "poweroff" || !strings.HasPrefix(st.Target, "ext4 UUID=") || !strings.HasPrefix(st.Dir, "/sysroot/var/crash/") {
		t.Errorf("status: action %q target %q dir %q", st.Action, st.Target, st.Dir)
	}
	checkDumpReaders(t, dump, release)
	// The root file system is clean after the capture kernel wrote to it.
	if out, err := exec.CommandContext(ctx, "e2fsck", "-fn", rootImg).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the root disk: %v\n%s", err, out)
	}
	// The wiped target was left alone: the capture never found it.
	if ents, err := Ext4List(ctx, dumpsImg, "/"); err == nil {
		t.Errorf("the wiped target's file system reads back (%d entries): was it rewritten?", len(ents))
	}
}
