package dumpdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Layout is how a dump directory and the files in it are named. The capture writes
// the layout the configuration asks for; List reads both.
type Layout int

const (
	// Fedora's layout: <host>-<YYYY-MM-DD-HH:MM:SS>/vmcore, vmcore-dmesg.txt.
	Fedora Layout = iota
	// Debian's kdump-tools layout: <YYYYMMDDHHMM>/dump.<YYYYMMDDHHMM> and
	// dmesg.<YYYYMMDDHHMM> (a remote target's directory has a <host>- prefix).
	Debian
)

func (l Layout) String() string {
	if l == Debian {
		return "debian"
	}
	return "fedora"
}

// DebianStampLayout is the time stamp of Debian's names (kdump-config's
// date +%Y%m%d%H%M), in UTC here: the capture kernel has no time zone.
const DebianStampLayout = "200601021504"

// Names are the files of one dump directory: the dump and the kernel log, each
// with the name it has while it is written.
type Names struct {
	Dump, DumpIncomplete, Dmesg, DmesgIncomplete string
}

// FedoraNames are the files of a dump directory in Fedora's layout.
var FedoraNames = Names{Dump: DumpFile, DumpIncomplete: DumpIncompleteFile, Dmesg: DmesgFile, DmesgIncomplete: DmesgIncompleteFile}

// DebianNames are the files of a Debian dump directory made at the time stamp
// stamp (DebianStampLayout): dump.STAMP, written as dump-incomplete, as kdump-config
// names them, and dmesg.STAMP.
func DebianNames(stamp string) Names {
	return Names{Dump: "dump." + stamp, DumpIncomplete: "dump-incomplete", Dmesg: "dmesg." + stamp, DmesgIncomplete: "dmesg-incomplete"}
}

// ParseDebianDirName reads a directory name of Debian's layout: YYYYMMDDHHMM, with a
// "<host>-" prefix for a remote target's and a ".N" suffix (a second capture in the
// same minute, gokdump's); ok is false for names of any other form.
func ParseDebianDirName(name string) (host string, t time.Time, ok bool) {
	if i := strings.LastIndexByte(name, '.'); i > 0 && i < len(name)-1 && strings.Trim(name[i+1:], "0123456789") == "" {
		name = name[:i]
	}
	n := len(DebianStampLayout)
	if len(name) < n || strings.Trim(name[len(name)-n:], "0123456789") != "" {
		return "", time.Time{}, false
	}
	if len(name) > n {
		if name[len(name)-n-1] != '-' || len(name) == n+1 {
			return "", time.Time{}, false
		}
		host = name[:len(name)-n-1]
	}
	t, err := time.Parse(DebianStampLayout, name[len(name)-n:])
	if err != nil {
		return "", time.Time{}, false
	}
	return host, t, true
}

// CreateLayout makes the directory of a capture started at start, named as layout
// l names it, mode 0700, and returns the names of its files. A name taken already
// gets a ".N" suffix. Debian's local directories have no host in their name.
func CreateLayout(base, host string, start time.Time, l Layout) (string, Names, error) {
	if l != Debian {
		dir, err := Create(base, host, start)
		return dir, FedoraNames, err
	}
	stamp := start.UTC().Format(DebianStampLayout)
	dir := filepath.Join(base, stamp)
	for i := 1; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			if err := os.Chmod(dir, 0o700); err != nil {
				return "", Names{}, err
			}
			return dir, DebianNames(stamp), SyncDir(base)
		}
		if !errors.Is(err, os.ErrExist) || i >= 100 {
			return "", Names{}, err
		}
		dir = filepath.Join(base, fmt.Sprintf("%s.%d", stamp, i))
	}
}

// debianDumpNames are the dump files a Debian dump directory may hold, best first:
// the dump (compressed whole by kdump-tools' KDUMP_COMPRESSION), the copy
// kdump-config makes when makedumpfile fails, then the unfinished ones.
func debianDumpNames(stamp string) (complete, incomplete []string) {
	for _, ext := range []string{"", ".bz2", ".gz", ".lz4", ".xz"} {
		complete = append(complete, "dump."+stamp+ext)
	}
	complete = append(complete, "vmcore."+stamp)
	for _, ext := range []string{"", ".bz2", ".gz", ".lz4", ".xz"} {
		incomplete = append(incomplete, "dump-incomplete"+ext)
	}
	incomplete = append(incomplete, "vmcore-incomplete")
	return complete, incomplete
}
