package target

import (
	"errors"
	"strings"
	"testing"
)

const testMountinfo = `21 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
22 21 0:5 / /dev rw - devtmpfs udev rw
30 21 254:16 /sub /srv/bind rw - ext4 /dev/vdb rw
31 21 254:16 / /srv/my\040dumps rw,noatime - ext4 /dev/vdb rw
`

func TestMountPointIn(t *testing.T) {
	mp, err := mountPointIn(strings.NewReader(testMountinfo), "mountinfo", "254:16")
	if err != nil || mp != "/srv/my dumps" {
		t.Errorf("254:16: %q, %v; want the mount of the file system's root", mp, err)
	}
	if _, err := mountPointIn(strings.NewReader(testMountinfo), "mountinfo", "8:0"); !errors.Is(err, ErrNotMounted) {
		t.Errorf("8:0: %v, want ErrNotMounted", err)
	}
	if _, err := mountPointIn(strings.NewReader("21 1 253:1\n"), "mi", "8:0"); err == nil || !strings.Contains(err.Error(), "mi:1") {
		t.Errorf("short line: %v", err)
	}
}
