package target

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/testenv"
)

var testUUID = []byte{0x0e, 0x1d, 0x2c, 0x3b, 0x4a, 0x59, 0x68, 0x77, 0x86, 0x95, 0xa4, 0xb3, 0xc2, 0xd1, 0xe0, 0xff}

const testUUIDText = "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0ff"

// extImage is a device whose ext superblock has the given features.
func extImage(label string, compat, incompat, roCompat uint32) []byte {
	img := make([]byte, 8<<10)
	sb := img[extSuperOffset:]
	binary.LittleEndian.PutUint16(sb[extMagicOff:], extMagic)
	binary.LittleEndian.PutUint32(sb[extCompatOff:], compat)
	binary.LittleEndian.PutUint32(sb[extIncompatOff:], incompat)
	binary.LittleEndian.PutUint32(sb[extROCompatOff:], roCompat)
	copy(sb[extUUIDOff:], testUUID)
	copy(sb[extLabelOff:extLabelOff+extLabelLen], label)
	return img
}

func xfsImage(label string) []byte {
	img := make([]byte, 8<<10)
	copy(img, xfsMagic)
	binary.BigEndian.PutUint32(img[4:], 4096) // sb_blocksize
	copy(img[xfsUUIDOff:], testUUID)
	copy(img[xfsLabelOff:xfsLabelOff+xfsLabelLen], label)
	return img
}

func btrfsImage(label string) []byte {
	img := make([]byte, 128<<10)
	sb := img[btrfsSuperOffset:]
	copy(sb[btrfsFSIDOff:], testUUID)
	binary.LittleEndian.PutUint64(sb[48:], btrfsSuperOffset) // bytenr
	copy(sb[btrfsMagicOff:], btrfsMagic)
	copy(sb[btrfsLabelOff:btrfsLabelOff+btrfsLabelLen], label)
	return img
}

func TestProbeSynthetic(t *testing.T) {
	long := strings.Repeat("x", 255)
	cases := []struct {
		name string
		img  []byte
		want Superblock
	}{
		{"ext2", extImage("plain", 0, 0x2, 0x1), Superblock{"ext2", "plain", testUUIDText}},
		{"ext3", extImage("journal", extCompatHasJournal, 0x2, 0x1), Superblock{"ext3", "journal", testUUIDText}},
		{"ext4-extents", extImage("gokdump-dumps", extCompatHasJournal, 0x2|0x40, 0), Superblock{"ext4", "gokdump-dumps", testUUIDText}},
		{"ext4-metadata_csum", extImage("", 0, 0x2, 0x400), Superblock{"ext4", "", testUUIDText}},
		{"ext4-full-label", extImage("sixteen-chars-ab", 0, 0x40, 0), Superblock{"ext4", "sixteen-chars-ab", testUUIDText}},
		{"xfs", xfsImage("dumps"), Superblock{"xfs", "dumps", testUUIDText}},
		{"xfs-full-label", xfsImage("twelve-chars"), Superblock{"xfs", "twelve-chars", testUUIDText}},
		{"btrfs", btrfsImage("crash"), Superblock{"btrfs", "crash", testUUIDText}},
		{"btrfs-long-label", btrfsImage(long), Superblock{"btrfs", long, testUUIDText}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sb, err := Probe(bytes.NewReader(c.img), c.name)
			if err != nil {
				t.Fatal(err)
			}
			if *sb != c.want {
				t.Errorf("Probe = %+v, want %+v", *sb, c.want)
			}
		})
	}
}

func TestProbeUnknown(t *testing.T) {
	for name, img := range map[string][]byte{
		"empty":       nil,
		"short":       make([]byte, 1000),
		"zeros":       make([]byte, 256<<10),
		"xfs-short":   []byte("XFSB"),
		"btrfs-short": btrfsImage("x")[:btrfsSuperOffset+btrfsLabelOff],
	} {
		_, err := Probe(bytes.NewReader(img), name)
		if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want ErrUnknown naming the device", name, err)
		}
	}
}

// errReader fails every read, like a device with no medium.
type errReader struct{}

func (errReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("no medium") }

func TestProbeReadError(t *testing.T) {
	_, err := Probe(errReader{}, "/dev/sr0")
	if err == nil || errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "/dev/sr0") || !strings.Contains(err.Error(), "offset 1024") {
		t.Errorf("err = %v, want a read error naming the device and offset", err)
	}
}

// TestProbeMkfsExt4 checks the ext4 offsets against a file system made by mkfs.ext4.
func TestProbeMkfsExt4(t *testing.T) {
	mkfs := testenv.NeedTool(t, "mkfs.ext4", "e2fsprogs")
	img := filepath.Join(t.TempDir(), "ext4.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mkfs, "-q", "-F", "-L", "gokdump-dumps", "-U", testUUIDText, img).CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	sb, err := ProbeFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Superblock{"ext4", "gokdump-dumps", testUUIDText}); *sb != want {
		t.Errorf("ProbeFile = %+v, want %+v", *sb, want)
	}
}

func TestParseDevice(t *testing.T) {
	good := map[string]Device{
		"/dev/vdb":                          {Path: "/dev/vdb"},
		"/dev/mapper/vg-crash":              {Path: "/dev/mapper/vg-crash"},
		"LABEL=gokdump-dumps":               {Label: "gokdump-dumps"},
		`LABEL="my dumps"`:                  {Label: "my dumps"},
		"label=x":                           {Label: "x"},
		"UUID=" + testUUIDText:              {UUID: testUUIDText},
		"UUID='ABC'":                        {UUID: "ABC"},
		"/dev/disk/by-label/my\\x20dumps":   {Label: "my dumps"},
		"/dev/disk/by-uuid/" + testUUIDText: {UUID: testUUIDText},
	}
	for in, want := range good {
		got, err := ParseDevice(in)
		if err != nil || got != want {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "vdb", "LABEL=", `UUID=""`, "PARTUUID=1234", "/dev/../etc/passwd", "/dev/disk/by-path/pci-0", "/tmp/x"} {
		if d, err := ParseDevice(in); err == nil {
			t.Errorf("ParseDevice(%q) = %+v, want an error", in, d)
		}
	}
	if s := (Device{Label: "a"}).String(); s != "LABEL=a" {
		t.Errorf("String = %q", s)
	}
}

// fakeBlock makes a /sys/class/block and a /dev with image files as device nodes.
func fakeBlock(t *testing.T, devs map[string][]byte) (sys, dev string) {
	t.Helper()
	root := t.TempDir()
	sys, dev = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	for _, d := range []string{sys, dev} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, img := range devs {
		addFakeDevice(t, sys, dev, name, img)
	}
	return sys, dev
}

func addFakeDevice(t *testing.T, sys, dev, name string, img []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(sys, name), 0o755); err != nil {
		t.Fatal(err)
	}
	devName := strings.ReplaceAll(name, "!", "/")
	uevent := "MAJOR=254\nMINOR=16\nDEVNAME=" + devName + "\nDEVTYPE=disk\n"
	if err := os.WriteFile(filepath.Join(sys, name, "uevent"), []byte(uevent), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dev, devName)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, devName), img, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	sys, dev := fakeBlock(t, map[string][]byte{
		"vda":          make([]byte, 64<<10), // no file system
		"vdb":          extImage("gokdump-dumps", 0, 0x40, 0),
		"vdc":          xfsImage("other"),
		"cciss!c0d0":   btrfsImage("raid"),
		"vdd-no-media": nil,
	})
	ctx := context.Background()
	for spec, want := range map[string]string{
		"LABEL=gokdump-dumps": "vdb",
		"LABEL=other":         "vdc",
		"LABEL=raid":          "cciss/c0d0",
		"UUID=" + strings.ToUpper(testUUIDText[:8]) + testUUIDText[8:]: "", // three devices share it
		"/dev/vdc": "vdc",
	} {
		d, err := ParseDevice(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := findIn(ctx, d, time.Second, sys, dev)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "ambiguous") {
				t.Errorf("%s: %q, %v; want an ambiguity error", spec, got, err)
			}
			continue
		}
		if err != nil || got != filepath.Join(dev, want) {
			t.Errorf("%s: %q, %v; want %s", spec, got, err, want)
		}
	}
}

func TestFindWaits(t *testing.T) {
	sys, dev := fakeBlock(t, map[string][]byte{"vda": make([]byte, 4096)})
	go func() {
		time.Sleep(300 * time.Millisecond)
		addFakeDevice(t, sys, dev, "vdb", extImage("late", 0, 0x40, 0))
	}()
	start := time.Now()
	got, err := findIn(context.Background(), Device{Label: "late"}, 10*time.Second, sys, dev)
	if err != nil || got != filepath.Join(dev, "vdb") {
		t.Fatalf("findIn = %q, %v", got, err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("found after %s: did not wait, or waited too long", el)
	}
}

func TestFindMissing(t *testing.T) {
	sys, dev := fakeBlock(t, map[string][]byte{"vda": extImage("a", 0, 0x40, 0)})
	for _, d := range []Device{{Label: "missing"}, {UUID: "00000000-0000-0000-0000-000000000000"}, {Path: "/dev/vdz"}} {
		start := time.Now()
		_, err := findIn(context.Background(), d, 500*time.Millisecond, sys, dev)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), d.String()) {
			t.Errorf("%s: err = %v, want ErrNotFound naming the device", d, err)
		}
		if el := time.Since(start); el < 500*time.Millisecond || el > 3*time.Second {
			t.Errorf("%s: gave up after %s, want about the 500ms wait", d, el)
		}
	}
	// A cancelled context ends the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := findIn(ctx, Device{Label: "missing"}, time.Minute, sys, dev); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelled: err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancelled wait took %s", time.Since(start))
	}
}

func TestCompatible(t *testing.T) {
	for _, c := range []struct {
		want, have string
		ok         bool
	}{
		{"ext4", "ext4", true}, {"ext4", "ext3", true}, {"ext4", "ext2", true},
		{"ext3", "ext4", false}, {"xfs", "ext4", false}, {"btrfs", "btrfs", true}, {"ext4", "xfs", false},
	} {
		if got := compatible(c.want, c.have); got != c.ok {
			t.Errorf("compatible(%s, %s) = %v", c.want, c.have, got)
		}
	}
}

func TestLocalRefusesWrongType(t *testing.T) {
	l := &Local{FSType: "vfat", Device: Device{Label: "x"}, Wait: time.Millisecond, MountPoint: t.TempDir()}
	if _, err := l.Mount(context.Background()); err == nil || !strings.Contains(err.Error(), "vfat") {
		t.Errorf("Mount vfat: %v", err)
	}
}

func FuzzProbe(f *testing.F) {
	f.Add(extImage("gokdump-dumps", 0, 0x40, 0)[:2048])
	f.Add(xfsImage("dumps")[:512])
	f.Add(btrfsImage("crash"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sb, err := Probe(bytes.NewReader(data), "fuzz")
		if err != nil {
			if !errors.Is(err, ErrUnknown) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(sb.UUID) != 36 || sb.Type == "" || len(sb.Label) > btrfsLabelLen {
			t.Fatalf("bad superblock %+v", sb)
		}
	})
}
