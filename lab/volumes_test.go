package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

// The host-side read-back of guest volumes, checked on real metadata: the first MiB
// of disks a lab guest set up with Debian's lvm2 and mdadm (testdata/volumes; the
// rest of each 256 MiB disk was empty), and volumes the host's lvm2 makes on loop
// devices with --driverloaded n. Where the data should be is taken from the tools'
// own reports, not from our readers.

// guestDisk rebuilds a 256 MiB sparse disk from a saved first MiB.
func guestDisk(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "volumes", name+"-head.img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	head, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".img")
	if err := os.WriteFile(p, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 256<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

// tagBlocks writes "disk:offset" at the start of every 64 KiB block of [from, to).
func tagBlocks(t *testing.T, path, disk string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off := from; off < to; off += 64 << 10 {
		if _, err := fmt.Fprintf(io.NewOffsetWriter(f, off), "%s:%d\n", disk, off); err != nil {
			t.Fatal(err)
		}
	}
}

func readTag(t *testing.T, f *os.File, off int64) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// TestLVImageGuestLVM reads the VG a guest made: vgcreate vg0 over two PVs (pv1 =
// /dev/vdb, pv2 = /dev/vdc), lvcreate -L 64M -n lin, lvcreate -i 2 -I 64k -L 128M -n
// str. The guest's lvs said: lin on /dev/vdb:0-15, str on /dev/vdb:16-31 and
// /dev/vdc:0-15; 4 MiB extents from pe_start 1 MiB.
func TestLVImageGuestLVM(t *testing.T) {
	pv1, pv2 := guestDisk(t, "pv1"), guestDisk(t, "pv2")
	const peStart, extent = 1 << 20, 4 << 20
	tagBlocks(t, pv1, "pv1", peStart, peStart+32*extent)
	tagBlocks(t, pv2, "pv2", peStart, peStart+16*extent)
	var devs []VolumeImage
	for _, p := range []string{pv1, pv2} {
		v, err := WholeFile(p)
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, v)
	}

	lv, pvs, err := FindLV(devs, "vg0", "lin")
	if err != nil {
		t.Fatal(err)
	}
	img, err := LVImage(lv, pvs, filepath.Join(t.TempDir(), "lin"))
	if err != nil {
		t.Fatal(err)
	}
	if img != (VolumeImage{Path: pv1, Offset: peStart, Size: 64 << 20}) {
		t.Errorf("linear LV: %+v, want 64 MiB at 1 MiB of pv1", img)
	}

	lv, pvs, err = FindLV(devs, "vg0", "str")
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "str")
	img, err = LVImage(lv, pvs, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if img != (VolumeImage{Path: tmp, Size: 128 << 20}) {
		t.Errorf("striped LV: %+v, want 128 MiB in %s", img, tmp)
	}
	f, err := os.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// dm striped with 64 KiB chunks: chunk i is on stripe i%2 (pv1's extents 16..31,
	// then pv2's 0..15), chunk i/2 of it.
	for i := int64(0); i < 128<<20/(64<<10); i++ {
		want := fmt.Sprintf("pv1:%d", peStart+16*extent+(i/2)*(64<<10))
		if i%2 == 1 {
			want = fmt.Sprintf("pv2:%d", peStart+(i/2)*(64<<10))
		}
		if got := readTag(t, f, i*(64<<10)); got != want {
			t.Fatalf("striped LV chunk %d holds %q, want %q", i, got, want)
		}
	}

	if _, _, err := FindLV(devs, "vg0", "none"); err == nil {
		t.Error("an LV that is not there: no error")
	}
	if _, _, err := FindLV(devs[1:], "vg1", "lin"); err == nil || !strings.Contains(err.Error(), `"vg1"`) {
		t.Errorf("a VG that is not there: %v", err)
	}
}

// needRoot fails a test that attaches loop devices when not root (make test runs as
// root).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test attaches loop devices and needs root, as make test runs")
	}
	testenv.NeedPackages(t, map[string]string{"losetup": "mount", "mkfs.ext4": "e2fsprogs", "mdadm": "mdadm"})
}

// TestMDMemberData reads the array data of a RAID1 member a guest's mdadm --create
// --metadata=1.2 --level=1 made, with an ext4 file system made there by the host
// where mdadm --examine says the data starts.
func TestMDMemberData(t *testing.T) {
	needRoot(t)
	m := guestDisk(t, "m1")
	out, err := exec.Command("mdadm", "--examine", m).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Data Offset : 2048 sectors")) || !bytes.Contains(out, []byte("Array Size : 261120 KiB")) {
		t.Fatalf("mdadm --examine: %v\n%s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "md-unit", "-E", "offset=1048576", m, "261120k").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	whole, _ := WholeFile(m)
	data, sb, err := MDMemberData(whole)
	if err != nil {
		t.Fatal(err)
	}
	if data != (VolumeImage{Path: m, Offset: 1 << 20, Size: 261120 << 10}) || sb.Level != 1 || sb.RaidDisks != 2 {
		t.Errorf("MDMemberData = %+v, level %d, %d disks", data, sb.Level, sb.RaidDisks)
	}
	ctx := context.Background()
	dev, detach, err := AttachLoop(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := detach(); err != nil {
			t.Error(err)
		}
	}()
	if out, err := exec.Command("e2fsck", "-fn", dev).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn %s: %v\n%s", dev, err, out)
	}
	if out, _ := exec.Command("e2label", dev).Output(); strings.TrimSpace(string(out)) != "md-unit" {
		t.Errorf("label %q", out)
	}
	if ro, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "ro")); err != nil || string(ro) != "1\n" {
		t.Errorf("%s is not read-only: %q %v", dev, ro, err)
	}

	// A disk that is no member, and a damaged superblock.
	plain, _ := WholeFile(guestDisk(t, "pv1"))
	if _, _, err := MDMemberData(plain); err == nil {
		t.Error("a PV read as an md member")
	}
	f, err := os.OpenFile(m, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	binary.Write(io.NewOffsetWriter(f, 4096+0x20), binary.LittleEndian, uint32(0xdeadbeef))
	f.Close()
	if _, _, err := MDMemberData(whole); err == nil {
		t.Error("a damaged superblock: no error")
	}
}

// TestLVImageHostLVM makes a linear LV with the host's lvm2 (--driverloaded n: no
// device-mapper here) on a loop device, puts an ext4 file system where lvs says the
// LV's extents are, and reads it back through FindLV and LVImage.
func TestLVImageHostLVM(t *testing.T) {
	needRoot(t)
	testenv.NeedPackages(t, map[string]string{"lvm": "lvm2"})
	dir := t.TempDir()
	sys := filepath.Join(dir, "lvm")
	os.MkdirAll(sys, 0o755)
	conf := "devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 }\nactivation { udev_sync = 0 udev_rules = 0 monitoring = 0 }\nbackup { backup = 0 archive = 0 }\nglobal { use_lvmpolld = 0 event_activation = 0 }\n"
	if err := os.WriteFile(filepath.Join(sys, "lvm.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "pv.img")
	if err := makeDisk(img, 96<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	lvm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("lvm", append([]string{args[0], "--driverloaded", "n", "--devices", loop}, args[1:]...)...)
		cmd.Env = append(os.Environ(), "LVM_SYSTEM_DIR="+sys, "LVM_SUPPRESS_FD_WARNINGS=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("lvm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
		}
		return string(out)
	}
	lvm("pvcreate", loop)
	lvm("vgcreate", "-s", "1m", "gokdumpunit", loop)
	lvm("lvcreate", "-an", "-Zn", "-L", "8m", "-n", "pad", "gokdumpunit")
	lvm("lvcreate", "-an", "-Zn", "-L", "40m", "-n", "crash", "gokdumpunit")
	rep := lvm("lvs", "--noheadings", "-o", "seg_pe_ranges", "gokdumpunit/crash")
	var pe, peEnd, peStart int64
	if _, err := fmt.Sscanf(strings.TrimSpace(rep), loop+":%d-%d", &pe, &peEnd); err != nil || peEnd-pe != 39 {
		t.Fatalf("lvs said %q: %v", rep, err)
	}
	rep = lvm("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", loop)
	if _, err := fmt.Sscanf(strings.TrimSpace(rep), "%d", &peStart); err != nil {
		t.Fatalf("pvs said %q: %v", rep, err)
	}
	off := peStart + pe<<20
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "lv-unit", "-E", fmt.Sprintf("offset=%d", off), img, "40m").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	whole, _ := WholeFile(img)
	lv, pvs, err := FindLV([]VolumeImage{whole}, "gokdumpunit", "crash")
	if err != nil {
		t.Fatal(err)
	}
	v, err := LVImage(lv, pvs, filepath.Join(dir, "lv"))
	if err != nil {
		t.Fatal(err)
	}
	if v != (VolumeImage{Path: img, Offset: off, Size: 40 << 20}) {
		t.Errorf("LVImage = %+v, want 40 MiB at %d", v, off)
	}
	dev, detach, err := AttachLoop(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	if out, err := exec.Command("e2fsck", "-fn", dev).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn %s: %v\n%s", dev, err, out)
	}
	if out, _ := exec.Command("e2label", dev).Output(); strings.TrimSpace(string(out)) != "lv-unit" {
		t.Errorf("label %q", out)
	}
}
