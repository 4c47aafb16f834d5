package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

func TestSuperblockFields(t *testing.T) {
	m := raid1Members(2, nil, 17)
	sb, err := ReadSuperblock(bytes.NewReader(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if sb.UUID() != "3a1f2b4c:5d6e7f80:91a2b3c4:d5e6f708" || sb.SetName != "capture:0" || sb.Level != 1 ||
		sb.RaidDisks != 2 || sb.DataOffset != 2048 || sb.DevNumber != 1 || sb.Role() != 1 || sb.Events != 17 {
		t.Errorf("read %+v", sb)
	}
	a, err := DescribeArray(sb, 0)
	if err != nil || a.Members != 2 || a.Level != 1 {
		t.Errorf("DescribeArray = %+v, %v", a, err)
	}
}

// TestSuperblockMdadm holds the hand-built superblock to mdadm --examine: the real
// tool must find the same UUID, name, level, members, data offset, events, role, and
// call our checksum correct (mdadm cannot create arrays here: no md driver).
func TestSuperblockMdadm(t *testing.T) {
	testenv.NeedPackages(t, map[string]string{"mdadm": "mdadm"})
	img := raid1Members(2, nil, 17)[1]
	path := filepath.Join(t.TempDir(), "member.img")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mdadm", "--examine", path).CombinedOutput()
	if err != nil {
		t.Fatalf("mdadm --examine: %v\n%s", err, out)
	}
	sb, err := ReadSuperblock(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + ` : (.*)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("mdadm --examine printed no %q:\n%s", name, out)
		}
		return strings.TrimSpace(string(m[1]))
	}
	for name, want := range map[string]string{
		"Magic":        "a92b4efc",
		"Version":      "1.2",
		"Array UUID":   sb.UUID(),
		"Name":         sb.SetName,
		"Raid Level":   "raid1",
		"Raid Devices": "2",
		"Data Offset":  "2048 sectors",
		"Super Offset": "8 sectors",
		"Events":       "17",
		"Device Role":  "Active device 1",
		"Checksum":     strings.TrimLeft(strings.ToLower(hex32(sb.Checksum)), "0") + " - correct",
	} {
		if got := field(name); !strings.HasPrefix(got, want) {
			t.Errorf("mdadm --examine %s: %q, we read %q", name, got, want)
		}
	}
	// A damaged checksum: mdadm says what it expected, we refuse.
	binary.LittleEndian.PutUint32(img[mdSuperOffset+mdCsumOff:], sb.Checksum+1)
	os.WriteFile(path, img, 0o644)
	out, _ = exec.Command("mdadm", "--examine", path).CombinedOutput()
	if !strings.Contains(field("Checksum"), "expected "+strings.TrimLeft(hex32(sb.Checksum), "0")) {
		t.Errorf("mdadm --examine on a damaged checksum:\n%s", out)
	}
	var fe *FormatError
	if _, err := ReadSuperblock(bytes.NewReader(img)); !errors.As(err, &fe) || fe.Off != mdSuperOffset+mdCsumOff {
		t.Errorf("ReadSuperblock on a damaged checksum: %v", err)
	}
}

func hex32(v uint32) string { return fmt.Sprintf("%08x", v) }

func TestSuperblockDamage(t *testing.T) {
	good := raid1Members(2, nil, 5)[0]
	for _, c := range []struct {
		name  string
		off   int
		value uint32
		want  error
		at    int64
	}{
		{"no magic", mdMagicOff, 0, ErrNotMember, 0},
		{"major version", mdMajorOff, 2, nil, mdSuperOffset + mdMajorOff},
		{"max_dev", mdMaxDevOff, 5000, nil, mdSuperOffset + mdMaxDevOff},
		{"any byte (checksum)", mdLevelOff, 5, nil, mdSuperOffset + mdCsumOff},
		{"super offset (1.1 at 0)", mdSuperOffsetOff, 0, nil, mdSuperOffset + mdSuperOffsetOff},
	} {
		img := bytes.Clone(good)
		binary.LittleEndian.PutUint32(img[mdSuperOffset+c.off:], c.value)
		_, err := ReadSuperblock(bytes.NewReader(img))
		if c.want != nil {
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Off != c.at {
			t.Errorf("%s: %v, want a FormatError at byte %d", c.name, err, c.at)
		}
	}
	if _, err := ReadSuperblock(bytes.NewReader(good[:4200])); err == nil {
		t.Error("a superblock cut short was read")
	}
	// A correct checksum over a RAID5 superblock: read, then refused at arming.
	m := buildMember(memberSpec{level: 5, raidDisks: 3, roles: []uint16{0, 1, 2}, dataOffset: 2048, dataSize: 2048})
	sb, err := ReadSuperblock(bytes.NewReader(m))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DescribeArray(sb, 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("DescribeArray(raid5) = %v", err)
	}
}
