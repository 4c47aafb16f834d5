package capture

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// ModulesFile lists, one absolute path a line, the kernel module files of the capture
// initramfs in load order (dependencies first). The initramfs builder writes it; the
// capture loads each before looking for the target. Blank lines and lines starting
// with '#' are ignored.
const ModulesFile = "/etc/gokdump/modules"

// maxModules bounds the list.
const maxModules = 4096

// ReadModuleList reads a ModulesFile; name is used in errors.
func ReadModuleList(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 4<<20))
	var mods []string
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.HasPrefix(l, "/") || strings.ContainsAny(l, " \t") {
			return nil, fmt.Errorf("capture: %s:%d: %q is not an absolute module path", name, n, l)
		}
		if len(mods) == maxModules {
			return nil, fmt.Errorf("capture: %s:%d: more than %d modules", name, n, maxModules)
		}
		mods = append(mods, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("capture: %s: %w", name, err)
	}
	return mods, nil
}

// LoadModuleList reads the ModulesFile at path; a missing file is an empty list (an
// initramfs for a kernel with every driver built in has none).
func LoadModuleList(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadModuleList(f, path)
}
