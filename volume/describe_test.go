package volume

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSys lays out a sysfs and /dev in a temporary directory: block devices with their
// dev, dm/uuid, md/ files and slaves, and device nodes as image files.
type fakeSys struct {
	t        *testing.T
	sys, dev string
}

func newFakeSys(t *testing.T) *fakeSys {
	d := t.TempDir()
	return &fakeSys{t: t, sys: filepath.Join(d, "sys"), dev: filepath.Join(d, "dev")}
}

func (f *fakeSys) block(name, devno string, files map[string]string, slaves []string, image []byte) {
	base := filepath.Join(f.sys, "class", "block", name)
	for _, dir := range []string{base, filepath.Join(base, "slaves"), f.dev} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.t.Fatal(err)
		}
	}
	files["dev"] = devno
	for p, content := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(base, p)), 0o755)
		if err := os.WriteFile(filepath.Join(base, p), []byte(content+"\n"), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, s := range slaves {
		os.MkdirAll(filepath.Join(base, "slaves", s), 0o755)
	}
	if image != nil {
		if err := os.WriteFile(filepath.Join(f.dev, name), image, 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fakeSys) describe(name string) (*Stack, error) {
	v := sysView{sys: f.sys, dev: f.dev, open: func(p string) (ReadAtCloser, error) { return os.Open(p) }}
	return v.describe(name)
}

func nodash(s string) string { return strings.ReplaceAll(s, "-", "") }

func TestDescribeLVMOverMD(t *testing.T) {
	members, want := lvmOverMD(t, 4, 2)
	f := newFakeSys(t)
	pv := members[0][2048*sectorSize:]
	f.block("vda", "253:0", map[string]string{}, nil, members[0])
	f.block("vdb", "253:16", map[string]string{}, nil, members[1])
	f.block("md127", "9:127", map[string]string{"md/metadata_version": "1.2", "md/level": "raid1"}, []string{"vda", "vdb"}, pv)
	f.block("dm-0", "253:1", map[string]string{"dm/uuid": "LVM-" + nodash(testVGID) + nodash(want.LV.ID), "dm/name": "vgmd-root"}, []string{"md127"}, nil)
	got, err := f.describe("dm-0")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stack %+v\nwant  %+v", got, want)
	}
	// The array alone (ext4 on md127).
	got, err = f.describe("md127")
	if err != nil || !reflect.DeepEqual(got.Arrays, want.Arrays) || got.LV != nil {
		t.Errorf("md127: %+v, %v", got, err)
	}
	// A plain partition: nothing to bring up.
	f.block("sda2", "8:2", map[string]string{"partition": "2"}, nil, make([]byte, 4096))
	if got, err := f.describe("sda2"); err != nil || len(got.Arrays) != 0 || got.LV != nil {
		t.Errorf("sda2: %+v, %v", got, err)
	}
}

// TestDescribeRealLVM describes dm devices over the PVs lvm2 made (testdata/lvm): a
// linear LV, and a thin LV on its pool, refused at arming with the reason.
func TestDescribeRealLVM(t *testing.T) {
	f := newFakeSys(t)
	s := loadLVMState(t, "thin")
	var loops []string
	for dev, img := range s.images {
		f.block(dev, "7:"+strings.TrimPrefix(dev, "loop"), map[string]string{}, nil, img)
		loops = append(loops, dev)
	}
	vg, _ := s.check(t)
	id := func(lv string) string { return "LVM-" + nodash(vg.ID) + nodash(vg.LV(lv).ID) }
	f.block("dm-0", "253:0", map[string]string{"dm/uuid": id("lin")}, loops, nil)
	f.block("dm-1", "253:1", map[string]string{"dm/uuid": id("pool_tdata") + "-tdata"}, loops[:1], nil)
	f.block("dm-2", "253:2", map[string]string{"dm/uuid": id("pool_tmeta") + "-tmeta"}, loops[:1], nil)
	f.block("dm-3", "253:3", map[string]string{"dm/uuid": id("pool") + "-tpool"}, []string{"dm-1", "dm-2"}, nil)
	f.block("dm-4", "253:4", map[string]string{"dm/uuid": id("thin")}, []string{"dm-3"}, nil)
	st, err := f.describe("dm-0")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := DescribeLV(vg, "lin")
	if !reflect.DeepEqual(st.LV, want) || len(st.Arrays) != 0 {
		t.Errorf("lin: %+v", st)
	}
	_, err = f.describe("dm-4")
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "thin LV") {
		t.Errorf("thin LV: %v", err)
	}
	if _, err := f.describe("dm-3"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "internal") {
		t.Errorf("thin pool's tpool device: %v", err)
	}
}

func TestDescribeRefusals(t *testing.T) {
	f := newFakeSys(t)
	m := raid1Members(2, nil, 3)
	f.block("vda", "253:0", map[string]string{}, nil, m[0])
	r5 := buildMember(memberSpec{level: 5, raidDisks: 3, roles: []uint16{0, 1, 2}, dataOffset: 2048, dataSize: 8})
	f.block("vdc", "253:32", map[string]string{}, nil, r5)
	f.block("sdz", "8:0", map[string]string{}, nil, make([]byte, 8192))
	f.block("md1", "9:1", map[string]string{"md/metadata_version": "1.0"}, []string{"vda"}, nil)
	f.block("md2", "9:2", map[string]string{"md/metadata_version": "1.2"}, []string{"vdc"}, nil)
	f.block("md3p1", "259:0", map[string]string{"partition": "1"}, nil, nil)
	f.block("dm-5", "253:5", map[string]string{"dm/uuid": "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-luks"}, []string{"sdz"}, nil)
	f.block("dm-6", "253:6", map[string]string{"dm/uuid": "LVM-" + strings.Repeat("a", 64)}, []string{"dm-5"}, nil)
	f.block("dm-7", "253:7", map[string]string{"dm/uuid": "mpath-3600a0b80001"}, []string{"sdz"}, nil)
	for name, says := range map[string]string{
		"md1":   "metadata 1.0",
		"md2":   "RAID level 5",
		"md3p1": "partition of an md array",
		"dm-5":  "LUKS",
		"dm-6":  "LUKS or multipath under LVM",
		"dm-7":  "multipath",
	} {
		_, err := f.describe(name)
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want an UnsupportedError saying %q", name, err, says)
		}
	}
	_ = bytes.NewReader
}
