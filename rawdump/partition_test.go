package rawdump

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/format/gpt"
)

const (
	crashUUID = "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff"
	otherUUID = "11111111-2222-3333-4444-555555555555"
)

// fakeSystem is a /dev, /sys and /proc with one GPT disk vdb: vdb1 "crash" (the raw
// partition, 2 MiB from sector 2048) and vdb2 "other".
func fakeSystem(t *testing.T) Roots {
	root := t.TempDir()
	r := Roots{Dev: filepath.Join(root, "dev"), Sys: filepath.Join(root, "sys"), Proc: filepath.Join(root, "proc")}
	put := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	devs := filepath.Join(r.Sys, "devices/pci0000:00/0000:00:05.0/virtio3/block/vdb")
	put(filepath.Join(devs, "dev"), "254:16\n")
	put(filepath.Join(devs, "queue/logical_block_size"), "512\n")
	link("../../devices/pci0000:00/0000:00:05.0/virtio3/block/vdb", filepath.Join(r.Sys, "class/block/vdb"))
	for i, p := range []struct{ name, start, size string }{{"vdb1", "2048", "4096"}, {"vdb2", "6144", "1024"}} {
		d := filepath.Join(devs, p.name)
		put(filepath.Join(d, "partition"), string(rune('1'+i))+"\n")
		put(filepath.Join(d, "start"), p.start+"\n")
		put(filepath.Join(d, "size"), p.size+"\n")
		put(filepath.Join(d, "dev"), "254:"+string(rune('7'+i))+"\n")
		put(filepath.Join(d, "uevent"), "MAJOR=254\nDEVNAME="+p.name+"\nDEVTYPE=partition\n")
		link("../../devices/pci0000:00/0000:00:05.0/virtio3/block/vdb/"+p.name, filepath.Join(r.Sys, "class/block", p.name))
		put(filepath.Join(r.Dev, p.name), strings.Repeat("\x00", 1<<20)) // the partition's first MiB
	}
	tab := &gpt.Table{DiskGUID: "5a3b9b0e-9c4f-4b7e-8a61-0123456789ab", SectorSize: 512, Partitions: []gpt.Partition{
		{Number: 1, UUID: crashUUID, Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", Name: "crash", First: 2048, Last: 6143},
		{Number: 2, UUID: otherUUID, Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", Name: "other", First: 6144, Last: 7167},
	}}
	f, err := os.Create(filepath.Join(r.Dev, "vdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gpt.Write(f, 8<<20, tab); err != nil {
		t.Fatal(err)
	}
	put(filepath.Join(r.Proc, "self/mountinfo"), "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n")
	put(filepath.Join(r.Proc, "swaps"), "Filename Type Size Used Priority\n")
	return r
}

func confTarget(t *testing.T, line string) config.Target {
	t.Helper()
	c, err := config.Parse(strings.NewReader(line+"\ncore_collector makedumpfile -F -l\n"), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	return c.Target
}

var wantPart = Partition{Name: "vdb1", Disk: "vdb", PartUUID: crashUUID, Number: 1, Start: 2048, Size: 4096 * 512}

func TestResolve(t *testing.T) {
	r := fakeSystem(t)
	for _, spec := range []string{"UUID=" + crashUUID, "UUID=" + strings.ToUpper(crashUUID), "LABEL=crash"} {
		p, err := Resolve(r, confTarget(t, "raw "+spec))
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		want := wantPart
		want.Spec = spec
		if *p != want {
			t.Errorf("%s: %+v, want %+v", spec, *p, want)
		}
	}
	for _, c := range []struct{ spec, want string }{
		{"/dev/does-not-exist", "/dev/does-not-exist does not exist"},
		{"/dev/vdb1", "/dev/vdb1 is not a block device"}, // a regular file here
		{"LABEL=nothere", `no partition has the GPT partition name (PARTLABEL) "nothere"`},
		{"UUID=99999999-2222-3333-4444-555555555555", "no partition has the GPT partition GUID"},
	} {
		if _, err := Resolve(r, confTarget(t, "raw "+c.spec)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.spec, err, c.want)
		}
	}
	// vdb2 (512 KiB) is too small; vdb1 mounted, or holding a file system, is refused.
	if _, err := Resolve(r, confTarget(t, "raw LABEL=other")); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("a 1 MiB partition: %v", err)
	}
	os.WriteFile(filepath.Join(r.Proc, "self/mountinfo"), []byte("22 1 254:7 / /mnt rw - ext4 /dev/vdb1 rw\n"), 0o644)
	if _, err := Resolve(r, confTarget(t, "raw LABEL=crash")); err == nil || !strings.Contains(err.Error(), "mounted on /mnt") {
		t.Errorf("mounted: %v", err)
	}
	os.WriteFile(filepath.Join(r.Proc, "self/mountinfo"), nil, 0o644)
	ext := make([]byte, 1<<20)
	ext[1024+0x38], ext[1024+0x39] = 0x53, 0xef
	os.WriteFile(filepath.Join(r.Dev, "vdb1"), ext, 0o644)
	if _, err := Resolve(r, confTarget(t, "raw LABEL=crash")); err == nil || !strings.Contains(err.Error(), "file system") {
		t.Errorf("holding ext4: %v", err)
	}
}

func TestFind(t *testing.T) {
	r := fakeSystem(t)
	p := wantPart
	dev, err := r.Find(context.Background(), &p, time.Second)
	if err != nil || dev != filepath.Join(r.Dev, "vdb1") {
		t.Errorf("Find: %q, %v", dev, err)
	}
	// The partition grew after arming: refused, not written.
	os.WriteFile(filepath.Join(r.Sys, "class/block/vdb1/size"), []byte("8192\n"), 0o644)
	if _, err := r.Find(context.Background(), &p, time.Second); err == nil || !strings.Contains(err.Error(), "as when kdump was armed") {
		t.Errorf("changed extent: %v", err)
	}
	q := wantPart
	q.PartUUID = "99999999-2222-3333-4444-555555555555"
	start := time.Now()
	if _, err := r.Find(context.Background(), &q, 500*time.Millisecond); !errors.Is(err, ErrNotFound) || time.Since(start) < 400*time.Millisecond {
		t.Errorf("missing: %v after %s, want ErrNotFound after the wait", err, time.Since(start))
	}
}
