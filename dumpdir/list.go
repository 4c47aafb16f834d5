package dumpdir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Dump is one saved dump directory, as List finds it. Its JSON names are those of
// "gokdump list --json" (stable); Err is left to the caller to print.
type Dump struct {
	Dir    string    `json:"dir"`              // the directory
	Layout string    `json:"layout"`           // how it is named: "fedora" or "debian" (Layout)
	Host   string    `json:"host"`             // the <host> part of its name
	Time   time.Time `json:"time"`             // the time part of its name (UTC)
	Result Result    `json:"result"`           // from the status file; without one: Complete when vmcore exists, else Incomplete
	File   string    `json:"file,omitempty"`   // the dump file's path ("" when there is none)
	Size   int64     `json:"size"`             // its size in bytes
	Panic  string    `json:"panic,omitempty"`  // the panic line: from the status file, else from vmcore-dmesg.txt
	Status *Status   `json:"status,omitempty"` // the status file (nil when missing or unreadable)
	Err    error     `json:"-"`                // why the status file could not be read, if it exists
}

// maxDumpDirs bounds how many entries of a dump directory List looks at.
const maxDumpDirs = 100000

// List returns the dumps saved in dir (kdump.conf's path on the target file system),
// oldest first. Only directories named as a capture names them are listed, in
// Fedora's layout or in Debian's (kdump-tools', or gokdump's with dump_layout debian).
func List(dir string) ([]Dump, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	ents, err := f.ReadDir(maxDumpDirs)
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("dumpdir: %s: %w", dir, err)
	}
	var out []Dump
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if host, t, ok := ParseDirName(e.Name()); ok {
			out = append(out, readDump(filepath.Join(dir, e.Name()), host, t, Fedora))
		} else if host, t, ok := ParseDebianDirName(e.Name()); ok {
			out = append(out, readDump(filepath.Join(dir, e.Name()), host, t, Debian))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Dir < out[j].Dir
	})
	return out, nil
}

func readDump(dir, host string, t time.Time, l Layout) Dump {
	d := Dump{Dir: dir, Host: host, Time: t, Layout: l.String()}
	st, err := ReadStatus(dir)
	if err == nil {
		d.Status, d.Result, d.Panic = st, st.Result, st.PanicLine
		if l == Debian && st.Start.UTC().Truncate(time.Minute).Equal(t) {
			// Debian's names stop at the minute; the status file has the second.
			d.Time = st.Start.UTC()
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		d.Err = err
	}
	complete, incomplete := []string{DumpFile}, []string{DumpIncompleteFile}
	dmesg := DmesgFile
	if l == Debian {
		stamp := t.Format(DebianStampLayout)
		complete, incomplete = debianDumpNames(stamp)
		dmesg = DebianNames(stamp).Dmesg
	}
	for i, name := range append(complete, incomplete...) {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			d.File, d.Size = filepath.Join(dir, name), fi.Size()
			if d.Result == "" {
				d.Result = Incomplete
				if i < len(complete) {
					d.Result = Complete
				}
			}
			break
		}
	}
	if d.Result == "" {
		d.Result = Failed
	}
	if d.Panic == "" {
		d.Panic = panicLineOfFile(filepath.Join(dir, dmesg))
	}
	return d
}

// maxDmesgScan bounds how much of a vmcore-dmesg.txt is searched for the panic line.
const maxDmesgScan = 64 << 20

func panicLineOfFile(name string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxDmesgScan))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l, ok := PanicLine(sc.Text()); ok {
			return l
		}
	}
	return ""
}

// panicText starts the kernel's panic message (kernel/panic.c: "Kernel panic - not
// syncing: %s").
const panicText = "Kernel panic - not syncing"

// PanicLine returns line without its "[ time]" prefix when it is the panic message.
func PanicLine(line string) (string, bool) {
	i := strings.Index(line, panicText)
	if i < 0 {
		return "", false
	}
	return strings.TrimSpace(line[i:]), true
}

// Prune removes the oldest dump directories in dir so that at most keep remain, and
// returns what it removed (keep_dumps). Directories not named as a capture names them
// are never touched; when mine is set, neither are those it does not claim (other
// machines' dumps on a shared server), which are not counted either. Those spare says
// to keep (dumps not yet uploaded) count towards keep, and newer ones that may go are
// removed in their stead, oldest first; the ones passed over are returned as spared
// (more than keep remain when too few may go).
func Prune(dir string, keep int, mine, spare func(Dump) bool) (removed, spared []string, err error) {
	all, err := List(dir)
	if err != nil {
		return nil, nil, err
	}
	dumps := all[:0:0]
	for _, d := range all {
		if mine == nil || mine(d) {
			dumps = append(dumps, d)
		}
	}
	if len(dumps) <= keep {
		return nil, nil, nil
	}
	excess := len(dumps) - keep
	for _, d := range dumps {
		if excess == 0 {
			break
		}
		if spare != nil && spare(d) {
			spared = append(spared, filepath.Base(d.Dir))
			continue
		}
		if err := os.RemoveAll(d.Dir); err != nil {
			return removed, spared, fmt.Errorf("dumpdir: removing old dump %s: %w", d.Dir, err)
		}
		removed = append(removed, filepath.Base(d.Dir))
		excess--
	}
	return removed, spared, SyncDir(dir)
}
