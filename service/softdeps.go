package service

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/kmod"
)

// softDeps returns the modules the mods name as soft dependencies (softdep=
// "pre: crypto-crc32c" in .modinfo), resolved to module names of moduleDir, and
// the soft dependencies no module provides. The kernel asks user space (modprobe)
// for these at run time, e.g. ext4 and xfs for the crc32c checksum of their
// metadata; the capture initramfs has no modprobe, so they are loaded up front.
func softDeps(moduleDir string, mods []kmod.Module) (names, missing []string) {
	aliases := readModulesAlias(filepath.Join(moduleDir, "modules.alias"))
	have := map[string]bool{}
	for _, m := range mods {
		have[m.Name] = true
	}
	seen := map[string]bool{}
	for _, m := range mods {
		info, err := kmod.Info(m.Path)
		if err != nil {
			continue
		}
		for _, sd := range info.SoftDeps {
			for _, w := range strings.Fields(sd) {
				if strings.HasSuffix(w, ":") || seen[w] {
					continue // "pre:", "post:"
				}
				seen[w] = true
				found := false
				for _, c := range softDepCandidates(w, aliases) {
					if have[c] {
						found = true
						continue
					}
					if _, err := kmod.Resolve(moduleDir, c); err == nil {
						names = append(names, c)
						have[c], found = true, true
					}
				}
				if !found {
					missing = append(missing, w)
				}
			}
		}
	}
	return names, missing
}

// softDepCandidates are the module names that may provide the soft dependency w:
// modules.alias's entries for it (and for crypto-w), else the name itself and the
// kernel's naming of generic crypto implementations (crc32c -> crc32c_generic,
// xxhash64 -> xxhash_generic, blake2b-256 -> blake2b_generic), for trees without
// modules.alias (a kernel package unpacked without depmod).
func softDepCandidates(w string, aliases map[string][]string) []string {
	base := strings.TrimPrefix(w, "crypto-")
	if a := append(append([]string(nil), aliases["crypto-"+base]...), aliases[base]...); len(a) > 0 {
		return a
	}
	stem := base
	if i := strings.LastIndexByte(stem, '-'); i > 0 && strings.Trim(stem[i+1:], "0123456789") == "" {
		stem = stem[:i]
	}
	stem = strings.TrimRight(stem, "0123456789")
	cands := []string{kmod.Normalize(base), kmod.Normalize(base) + "_generic"}
	if stem != "" && stem != base {
		cands = append(cands, kmod.Normalize(stem)+"_generic")
	}
	return cands
}

// readModulesAlias reads the plain-name aliases of depmod's modules.alias ("alias
// NAME MODULE"); wildcard (device) aliases are left out. A missing file is empty.
func readModulesAlias(path string) map[string][]string {
	out := map[string][]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 0; sc.Scan() && n < 1<<20; n++ {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 || fs[0] != "alias" || strings.ContainsAny(fs[1], "*?[:") {
			continue
		}
		out[fs[1]] = append(out[fs[1]], kmod.Normalize(fs[2]))
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return out
	}
	return out
}
