package service

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzMountinfo feeds arbitrary text to the mountinfo parser: it must return mounts
// or an error naming the file, never panic, and every mount it returns has a mount
// point and a file system type.
func FuzzMountinfo(f *testing.F) {
	f.Add([]byte("21 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n24 21 8:0 / /srv/my\\040dumps rw - xfs /dev/sda rw\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := parseMountinfo(bytes.NewReader(data), "mountinfo")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mountinfo") && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, m := range ms {
			if m.point == "" || m.fstype == "" {
				t.Fatalf("mount without a point or type: %+v", m)
			}
		}
	})
}

// FuzzBtime feeds arbitrary text to the /proc/stat parser.
func FuzzBtime(f *testing.F) {
	f.Add([]byte("cpu  1 2 3\nbtime 1700000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bt, err := parseBtime(bytes.NewReader(data), "stat")
		if err == nil && bt.Unix() < 0 {
			t.Fatalf("negative boot time %v", bt)
		}
	})
}
