package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Module is a module to load, with the file that holds it.
type Module struct {
	Name string // normalized module name
	Path string // the module file
	// Depends lists the modules that must be loaded before this one: the direct
	// dependencies from .modinfo, or, when modules.dep was used, every dependency
	// depmod recorded (direct and indirect).
	Depends []string
}

// Bounds on the module tree we read.
const (
	maxTreeModules = 100000   // module files in one tree (distribution kernels have ~4000-6000)
	maxDepLine     = 1 << 20  // one modules.dep line
	maxIndexFile   = 64 << 20 // modules.dep, modules.builtin
)

// MissingError lists modules that are needed but neither present as a file nor
// built into the kernel.
type MissingError struct {
	Dir     string
	Missing []Missing
}

// Missing is one module that could not be found.
type Missing struct {
	Name     string
	NeededBy string // the module that depends on it; "" when it was asked for
}

func (e *MissingError) Error() string {
	var parts []string
	for _, m := range e.Missing {
		if m.NeededBy == "" {
			parts = append(parts, m.Name)
		} else {
			parts = append(parts, fmt.Sprintf("%s (needed by %s)", m.Name, m.NeededBy))
		}
	}
	return fmt.Sprintf("kmod: %s: module not found: %s: no such module file and not listed in modules.builtin",
		e.Dir, strings.Join(parts, ", "))
}

// CycleError reports modules that depend on each other.
type CycleError struct{ Cycle []string }

func (e *CycleError) Error() string {
	return "kmod: dependency cycle: " + strings.Join(e.Cycle, " -> ")
}

// Resolve returns the modules to load for names, dependencies first, from the
// module tree moduleDir (/lib/modules/RELEASE). It uses modules.dep when present;
// otherwise (a kernel package unpacked without depmod) it finds module files by name
// and reads each needed module's .modinfo. Modules listed in modules.builtin are
// part of the kernel and are left out. Names may use '-' or '_'.
func Resolve(moduleDir string, names ...string) ([]Module, error) {
	t, err := openTree(moduleDir)
	if err != nil {
		return nil, err
	}
	return t.resolve(names)
}

// tree is what Resolve knows of one module directory.
type tree struct {
	dir     string
	builtin map[string]bool
	deps    map[string]Module // from modules.dep, or nil
	files   map[string]string // name -> path, from a scan when there is no modules.dep
}

func openTree(dir string) (*tree, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("kmod: %s is not a directory", dir)
	}
	t := &tree{dir: dir, builtin: map[string]bool{}}
	if err := t.readBuiltin(); err != nil {
		return nil, err
	}
	err = t.readDep()
	if errors.Is(err, fs.ErrNotExist) {
		err = t.scan()
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// readLines calls fn for each line of the index file name in the tree.
func (t *tree) readLines(name string, fn func(line string, lineNo int) error) error {
	p := filepath.Join(t.dir, name)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxIndexFile))
	sc.Buffer(make([]byte, 0, 64<<10), maxDepLine)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(sc.Text(), n); err != nil {
			return fmt.Errorf("kmod: %s:%d: %w", p, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("kmod: %s: after line %d: %w", p, n, err)
	}
	return nil
}

// readBuiltin reads modules.builtin: paths of modules compiled into the kernel.
func (t *tree) readBuiltin() error {
	err := t.readLines("modules.builtin", func(line string, _ int) error {
		if line = strings.TrimSpace(line); line != "" {
			t.builtin[nameFromPath(line)] = true
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a kernel without built-in modules info: nothing is skipped
	}
	return err
}

// readDep reads depmod's modules.dep: "path: dep-path dep-path ...", paths relative
// to the module directory.
func (t *tree) readDep() error {
	deps := map[string]Module{}
	err := t.readLines("modules.dep", func(line string, _ int) error {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			return nil
		}
		mod, rest, ok := strings.Cut(line, ":")
		if !ok || !isModuleFile(mod) {
			return fmt.Errorf("want \"module.ko: dependencies\", got %q", truncate(line))
		}
		m := Module{Name: nameFromPath(mod), Path: t.abs(mod)}
		for _, d := range strings.Fields(rest) {
			if !isModuleFile(d) {
				return fmt.Errorf("dependency %q of %s is not a module file", truncate(d), mod)
			}
			m.Depends = append(m.Depends, nameFromPath(d))
		}
		deps[m.Name] = m
		return nil
	})
	if err != nil {
		return err
	}
	t.deps = deps
	return nil
}

func (t *tree) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(t.dir, p)
}

// scan finds every module file in the tree. When a name occurs twice, the copy
// under updates/ wins, as with depmod's default search order; otherwise the first
// in path order.
func (t *tree) scan() error {
	t.files = map[string]string{}
	count := 0
	err := filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != t.dir && (d.Name() == "build" || d.Name() == "source") {
				return filepath.SkipDir // links or copies of the kernel sources
			}
			return nil
		}
		if !isModuleFile(d.Name()) {
			return nil
		}
		if count++; count > maxTreeModules {
			return fmt.Errorf("more than %d module files", maxTreeModules)
		}
		name := nameFromPath(p)
		if old, dup := t.files[name]; dup {
			rel, _ := filepath.Rel(t.dir, p)
			oldRel, _ := filepath.Rel(t.dir, old)
			if !strings.HasPrefix(rel, "updates/") || strings.HasPrefix(oldRel, "updates/") {
				return nil
			}
		}
		t.files[name] = p
		return nil
	})
	if err != nil {
		return fmt.Errorf("kmod: scanning %s: %w", t.dir, err)
	}
	return nil
}

// lookup returns the module name from modules.dep or from its file's .modinfo.
func (t *tree) lookup(name string) (Module, bool, error) {
	if t.deps != nil {
		m, ok := t.deps[name]
		return m, ok, nil
	}
	p, ok := t.files[name]
	if !ok {
		return Module{}, false, nil
	}
	info, err := Info(p)
	if err != nil {
		return Module{}, true, err
	}
	if info.Name != name {
		return Module{}, true, &Error{p, -1, fmt.Sprintf("file name says module %s but .modinfo says name=%s", name, info.Name)}
	}
	return Module{Name: name, Path: p, Depends: info.Depends}, true, nil
}

func (t *tree) resolve(names []string) ([]Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var (
		order   []Module
		missing []Missing
		stack   []string
	)
	var visit func(name, neededBy string) error
	visit = func(name, neededBy string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := len(stack) - 1
			for i > 0 && stack[i] != name {
				i--
			}
			return &CycleError{Cycle: append(append([]string{}, stack[i:]...), name)}
		}
		if t.builtin[name] {
			state[name] = done
			return nil
		}
		m, ok, err := t.lookup(name)
		if err != nil {
			return err
		}
		if !ok {
			state[name] = done
			missing = append(missing, Missing{name, neededBy})
			return nil
		}
		state[name] = visiting
		stack = append(stack, name)
		for _, d := range m.Depends {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		order = append(order, m)
		return nil
	}
	for _, n := range names {
		if err := visit(Normalize(n), ""); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, &MissingError{Dir: t.dir, Missing: missing}
	}
	return order, nil
}

// Names returns the names of mods, in order.
func Names(mods []Module) []string {
	out := make([]string, len(mods))
	for i, m := range mods {
		out[i] = m.Name
	}
	return out
}
