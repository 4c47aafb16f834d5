// Package progdeps finds what programs need to run somewhere else: for an ELF program
// its dynamic loader (PT_INTERP) and shared libraries (DT_NEEDED, followed
// recursively, looked up in DT_RUNPATH/DT_RPATH and then the given library
// directories), for a script its #! interpreter with that interpreter's own needs.
// Package service uses it for kdump.conf's extra_bins; the real-crash lab carries host
// programs (lvm, mdadm, mkfs) into its guests with it.
package progdeps

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Bounds on following a program's dependencies: real programs need a few dozen
// libraries, chains of script interpreters are one or two long.
const (
	maxProgramFiles = 512
	maxProgramDepth = 16
)

// DefaultLibDirs are the standard shared library directories of x86_64 Linux
// distributions: Debian's multiarch ones first, then Fedora's lib64 ones.
var DefaultLibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// Files returns the files the programs need to run elsewhere: each program itself,
// for an ELF program its dynamic loader (PT_INTERP) and shared libraries (DT_NEEDED,
// followed recursively; looked up in the program's DT_RUNPATH/DT_RPATH, then in
// libDirs), and for a script its interpreter (the #! line) with that interpreter's
// own needs. A file that is neither (a configuration file) is taken alone. Paths are
// absolute, in the order found, without repeats.
func Files(programs, libDirs []string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	var visit func(p string, depth int, neededBy string) error
	visit = func(p string, depth int, neededBy string) error {
		if seen[p] {
			return nil
		}
		if depth > maxProgramDepth {
			return fmt.Errorf("%s: dependencies nest more than %d deep", neededBy, maxProgramDepth)
		}
		if len(files) >= maxProgramFiles {
			return fmt.Errorf("programs need more than %d files", maxProgramFiles)
		}
		seen[p] = true
		files = append(files, p)
		deps, err := fileNeeds(p)
		if err != nil {
			if neededBy != "" {
				return fmt.Errorf("%s (needed by %s): %w", p, neededBy, err)
			}
			return err
		}
		for _, d := range deps.paths {
			if err := visit(d, depth+1, p); err != nil {
				return err
			}
		}
		for _, lib := range deps.libs {
			lp, err := findLibrary(lib, deps.searchDirs, libDirs, p)
			if err != nil {
				return err
			}
			if err := visit(lp, depth+1, p); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range programs {
		if err := visit(p, 0, ""); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// needs is what one file needs besides itself.
type needs struct {
	paths      []string // absolute paths (interpreters)
	libs       []string // DT_NEEDED names to look up
	searchDirs []string // DT_RUNPATH / DT_RPATH directories, searched first
}

// fileNeeds reads what the file at p needs to run: nothing for data files.
func fileNeeds(p string) (needs, error) {
	f, err := os.Open(p)
	if err != nil {
		return needs{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return needs{}, err
	}
	if !st.Mode().IsRegular() {
		return needs{}, fmt.Errorf("%s is not a regular file", p)
	}
	var head [256]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return needs{}, err
	}
	switch {
	case bytes.HasPrefix(head[:n], []byte("#!")):
		return scriptNeeds(head[:n], p)
	case bytes.HasPrefix(head[:n], []byte(elf.ELFMAG)):
		return elfNeeds(f, p)
	}
	return needs{}, nil
}

// scriptNeeds reads a #! line: its first word is the interpreter.
func scriptNeeds(head []byte, p string) (needs, error) {
	line, _, found := bytes.Cut(head[2:], []byte("\n"))
	if !found {
		return needs{}, fmt.Errorf("%s: #! line longer than %d bytes", p, len(head))
	}
	fields := strings.Fields(string(line))
	if len(fields) == 0 || !filepath.IsAbs(fields[0]) {
		return needs{}, fmt.Errorf("%s: #! line names no absolute interpreter", p)
	}
	return needs{paths: []string{filepath.Clean(fields[0])}}, nil
}

// elfNeeds reads the loader and libraries of an ELF file. debug/elf may panic on
// some corrupt files: that becomes an error.
func elfNeeds(r io.ReaderAt, p string) (n needs, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%s: damaged ELF file (%v)", p, v)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return needs{}, fmt.Errorf("%s: %w", p, err)
	}
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		if prog.Filesz == 0 || prog.Filesz > 4096 {
			return needs{}, fmt.Errorf("%s: PT_INTERP at offset %#x is %d bytes long, want 1..4096", p, prog.Off, prog.Filesz)
		}
		buf := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(buf, 0); err != nil {
			return needs{}, fmt.Errorf("%s: reading PT_INTERP at offset %#x: %w", p, prog.Off, err)
		}
		interp := string(bytes.TrimRight(buf, "\x00"))
		if !filepath.IsAbs(interp) {
			return needs{}, fmt.Errorf("%s: PT_INTERP %q is not an absolute path", p, interp)
		}
		n.paths = append(n.paths, filepath.Clean(interp))
	}
	if f.Section(".dynamic") == nil && !hasDynamic(f) {
		return n, nil // statically linked
	}
	n.libs, err = f.DynString(elf.DT_NEEDED)
	if err != nil {
		return needs{}, fmt.Errorf("%s: DT_NEEDED: %w", p, err)
	}
	origin := filepath.Dir(p)
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if filepath.IsAbs(d) {
					n.searchDirs = append(n.searchDirs, d)
				}
			}
		}
	}
	return n, nil
}

func hasDynamic(f *elf.File) bool {
	for _, p := range f.Progs {
		if p.Type == elf.PT_DYNAMIC {
			return true
		}
	}
	return false
}

// findLibrary looks a DT_NEEDED name up in the program's own search directories,
// then in libDirs.
func findLibrary(name string, first, libDirs []string, neededBy string) (string, error) {
	if strings.Contains(name, "/") {
		if filepath.IsAbs(name) {
			return filepath.Clean(name), nil
		}
		return "", fmt.Errorf("%s needs %q, a relative path", neededBy, name)
	}
	dirs := append(append([]string(nil), first...), libDirs...)
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s needs the shared library %s, found in none of %s", neededBy, name, strings.Join(dirs, ", "))
}
