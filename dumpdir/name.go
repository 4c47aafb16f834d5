package dumpdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names inside a dump directory.
const (
	DumpFile            = "vmcore"
	DumpIncompleteFile  = "vmcore-incomplete"
	DmesgFile           = "vmcore-dmesg.txt"
	DmesgIncompleteFile = "vmcore-dmesg-incomplete.txt"
	StatusFile          = "gokdump-status.json"
	// UploadedFile is written by gokdump upload once the dump is in the fleet's
	// store (or sampled out); a directory without one still waits for its upload.
	UploadedFile = "gokdump-uploaded.json"
)

// DirTimeLayout is the time part of a dump directory's name (Fedora's date +%Y-%m-%d-%T).
const DirTimeLayout = "2006-01-02-15:04:05"

// ParseDirName splits a dump directory's name, <host>-<YYYY-MM-DD-HH:MM:SS>, into its
// parts; a ".N" suffix (a second capture in the same second) is allowed. ok is false
// for names of any other form (List leaves those alone).
func ParseDirName(name string) (host string, t time.Time, ok bool) {
	if i := strings.LastIndexByte(name, '.'); i > 0 && i < len(name)-1 && strings.Trim(name[i+1:], "0123456789") == "" {
		if _, _, ok := ParseDirName(name[:i]); ok {
			name = name[:i]
		}
	}
	n := len(DirTimeLayout)
	if len(name) < n+2 || name[len(name)-n-1] != '-' {
		return "", time.Time{}, false
	}
	t, err := time.Parse(DirTimeLayout, name[len(name)-n:])
	if err != nil {
		return "", time.Time{}, false
	}
	return name[:len(name)-n-1], t, true
}

// Create makes the directory of a capture started at start on the machine named host
// (SafeHost): <base>/<host>-<time>, mode 0700. A name taken already (two captures in
// one second) gets a ".N" suffix that ParseDirName still reads as the same time.
func Create(base, host string, start time.Time) (string, error) {
	name := host + "-" + start.Format(DirTimeLayout)
	dir := filepath.Join(base, name)
	for i := 1; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			// The umask may have taken bits away; 0700 is what is wanted.
			if err := os.Chmod(dir, 0o700); err != nil {
				return "", err
			}
			return dir, SyncDir(base)
		}
		if !errors.Is(err, os.ErrExist) || i >= 100 {
			return "", err
		}
		dir = filepath.Join(base, fmt.Sprintf("%s-%s.%d", host, start.Format(DirTimeLayout), i))
	}
}

// SafeHost makes a node name usable as part of a directory name; "" when the kernel
// had none ("(none)" is the kernel's default before anything sets it).
func SafeHost(s string) string {
	if s == "(none)" {
		return ""
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	h := strings.Trim(b.String(), ".")
	if h == "" {
		return ""
	}
	return h
}
