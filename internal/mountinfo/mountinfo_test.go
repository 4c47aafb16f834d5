package mountinfo

import (
	"bytes"
	"strings"
	"testing"
)

// A namespace as a Debian machine shows it: optional fields (shared:, master:), a bind
// mount (root /sub), escaped names and a btrfs subvolume with major 0.
const testMountinfo = `25 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
26 25 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 25 8:17 /sub /var/crash rw,relatime shared:30 - xfs /dev/sdb1 rw,attr2
41 25 8:17 / /srv/my\040dumps rw,noatime shared:31 master:1 - xfs /dev/sdb1 rw,attr2
42 25 0:45 /@crash /mnt/tab\011new\012line\134 rw - btrfs /dev/disk\040one rw,subvol=/@crash
`

func TestParse(t *testing.T) {
	ms, err := Parse(strings.NewReader(testMountinfo), "mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{"8:2", "/", "/", "ext4", "/dev/sda2", "rw,errors=remount-ro"},
		{"0:23", "/", "/proc", "proc", "proc", "rw"},
		{"8:17", "/sub", "/var/crash", "xfs", "/dev/sdb1", "rw,attr2"},
		{"8:17", "/", "/srv/my dumps", "xfs", "/dev/sdb1", "rw,attr2"},
		{"0:45", "/@crash", "/mnt/tab\tnew\nline\\", "btrfs", "/dev/disk one", "rw,subvol=/@crash"},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d mounts, want %d: %+v", len(ms), len(want), ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i+1, ms[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"21 1 253:1\n": "mi:1: not a mountinfo line",
		"21 1 253:1 / / rw - ext4 /dev/vda1 rw\n21 1 253:1 / / rw ext4 /dev/vda1 rw\n": "mi:2: not a mountinfo line",
		"21 1 253:1 / / rw - ext4\n":                        "mi:1: not a mountinfo line",
		"21 1 253:1 / / - ext4 /dev/vda1 rw\n":              "mi:1: not a mountinfo line", // no OPTIONS
		"21 1 253:1 / / rw " + strings.Repeat("x", maxLine): "mi:1: bufio.Scanner: token too long",
	} {
		if _, err := Parse(strings.NewReader(in), "mi"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", in, err, want)
		}
	}
	line := "21 1 253:1 / /" + strings.Repeat("p", 1000) + " rw - ext4 /dev/vda1 rw\n"
	big := strings.Repeat(line, maxSize/len(line)+1)
	if _, err := Parse(strings.NewReader(big), "mi"); err == nil || !strings.Contains(err.Error(), "mi: longer than") {
		t.Errorf("a file over %d bytes: %v", maxSize, err)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\040b`: "a b", `tab\011`: "tab\t", `nl\012x`: "nl\nx", `x\134`: `x\`, `\134040`: `\040`,
		`bad\9zz`: `bad\9zz`, `end\04`: `end\04`, `big\400`: `big\400`, `\`: `\`, "plain": "plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse feeds arbitrary text to the parser: it must return mounts or an error
// naming the file, never panic, and every mount it returns has a mount point and a
// file system type.
func FuzzParse(f *testing.F) {
	f.Add([]byte("21 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n24 21 8:0 / /srv/my\\040dumps rw - xfs /dev/sda rw\n"))
	f.Add([]byte(testMountinfo))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := Parse(bytes.NewReader(data), "mountinfo")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mountinfo") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, m := range ms {
			if m.Point == "" || m.FSType == "" {
				t.Fatalf("mount without a point or type: %+v", m)
			}
		}
	})
}
