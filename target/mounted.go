package target

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrNotMounted is returned by MountPoint for a device no file system is mounted from.
var ErrNotMounted = errors.New("target: not mounted")

// mountPointIn returns the first mount point in a mountinfo file (proc(5)) whose
// device number is majMin ("254:16") and whose root is the file system's root.
func mountPointIn(r io.Reader, name, majMin string) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			return "", fmt.Errorf("target: %s:%d: want at least 5 fields, got %d", name, n, len(f))
		}
		if f[2] == majMin && f[3] == "/" {
			return unescapeMountinfo(f[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("target: %s: %w", name, err)
	}
	return "", ErrNotMounted
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab, newline and
// backslash in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
