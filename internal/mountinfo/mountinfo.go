package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Mount is one line of a mountinfo file, with the kernel's octal escapes undone.
type Mount struct {
	MajMin string // the file system's device number, "254:16" (major 0 for btrfs and virtual ones)
	Root   string // the directory of the file system mounted there: "/", or a bind mount's or subvolume's
	Point  string // where it is mounted
	FSType string // "ext4"
	Source string // what it was mounted from: "/dev/vda1", or a virtual file system's name
	// SuperOptions are the file system's own options ("rw,vers=4.2,addr=10.0.2.2").
	SuperOptions string
}

// Bounds on the file: a mount namespace has a few hundred mounts; these only stop a
// runaway input.
const (
	maxSize   = 16 << 20
	maxLine   = 64 << 10
	maxMounts = 100000
)

// Parse reads a mountinfo file; name is its name for errors. Each line is
//
//	ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
func Parse(r io.Reader, name string) ([]Mount, error) {
	var ms []Mount
	lr := &io.LimitedReader{R: r, N: maxSize + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 1
	for ; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+2 >= len(f) {
			if lr.N <= 0 {
				return nil, fmt.Errorf("%s: longer than %d bytes", name, maxSize)
			}
			return nil, fmt.Errorf("%s:%d: not a mountinfo line (want ID PARENT MAJ:MIN ROOT POINT OPTIONS ... - TYPE SOURCE OPTIONS)", name, line)
		}
		m := Mount{MajMin: f[2], Root: unescape(f[3]), Point: unescape(f[4]), FSType: f[sep+1], Source: unescape(f[sep+2])}
		if sep+3 < len(f) {
			m.SuperOptions = f[sep+3]
		}
		ms = append(ms, m)
		if len(ms) > maxMounts {
			return nil, fmt.Errorf("%s: more than %d mounts", name, maxMounts)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%s: longer than %d bytes", name, maxSize)
	}
	return ms, nil
}

// unescape undoes the \NNN escapes the kernel writes for space (\040), tab (\011),
// newline (\012) and backslash (\134) in mountinfo paths (seq_escape in
// fs/proc_namespace.c). A backslash not followed by three octal digits of a byte is
// kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctalByte(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isOctalByte reports whether s is three octal digits of a value up to 0377.
func isOctalByte(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}
