package kexec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// State is what the kernel reports about kexec in sysfs.
type State struct {
	// CrashLoaded reports whether a capture kernel is loaded (armed).
	CrashLoaded bool
	// CrashSize is the memory reserved for the capture kernel with crashkernel=, in
	// bytes; 0 when nothing is reserved.
	CrashSize int64
	// ElfcorehdrSize is the size of the ELF core header buffer the kernel keeps
	// for the capture kernel (kernel 6.5 and later with CONFIG_CRASH_HOTPLUG), in
	// bytes; 0 when the kernel does not report it.
	ElfcorehdrSize int64
	// Loaded reports whether a kernel for a plain kexec reboot is loaded.
	Loaded bool
}

// The sysfs files, relative to the sysfs root. Kernels from 2.6 on have the
// /sys/kernel/kexec_* files (crash_elfcorehdr_size since 6.5); newer kernels also
// group them in /sys/kernel/kexec/. Where both exist the grouped one is read.
var stateFiles = []struct {
	names []string // first existing wins
	set   func(s *State, v int64)
}{
	{[]string{"kernel/kexec/crash_loaded", "kernel/kexec_crash_loaded"}, func(s *State, v int64) { s.CrashLoaded = v != 0 }},
	{[]string{"kernel/kexec/crash_size", "kernel/kexec_crash_size"}, func(s *State, v int64) { s.CrashSize = v }},
	{[]string{"kernel/kexec/crash_elfcorehdr_size", "kernel/crash_elfcorehdr_size"}, func(s *State, v int64) { s.ElfcorehdrSize = v }},
	{[]string{"kernel/kexec/loaded", "kernel/kexec_loaded"}, func(s *State, v int64) { s.Loaded = v != 0 }},
}

// ReadState reads the kexec state of the running kernel from /sys.
func ReadState() (State, error) { return ReadStateAt("/sys") }

// ReadStateAt reads the kexec state from a sysfs tree mounted at sysRoot (tests
// pass a directory of their own). A kernel without crash dump support has none of
// the crash files: that is an error saying so.
func ReadStateAt(sysRoot string) (State, error) {
	var s State
	found := false
	for i, f := range stateFiles {
		for _, name := range f.names {
			p := filepath.Join(sysRoot, name)
			v, err := readNumber(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return State{}, err
			}
			f.set(&s, v)
			if i < 2 {
				found = true
			}
			break
		}
	}
	if !found {
		return State{}, fmt.Errorf("kexec: %s has neither kernel/kexec/crash_loaded nor kernel/kexec_crash_loaded: this kernel has no crash dump support (CONFIG_CRASH_DUMP, CONFIG_KEXEC_FILE)",
			sysRoot)
	}
	return s, nil
}

// readNumber reads a sysfs file holding one decimal number.
func readNumber(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, fmt.Errorf("kexec: %w", err)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("kexec: %s: want a non-negative decimal number, got %q", p, s)
	}
	return v, nil
}
