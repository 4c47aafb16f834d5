package lab

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/internal/progdeps"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/lab/plan"
)

// guestModules resolves the modules the guest loads (the virtio disk drivers and
// cfg.Modules) with their dependencies, in load order, leaving out what the kernel has
// built in. It returns host paths and the matching paths inside the initramfs.
func guestModules(cfg *Config) (host, guest []string, err error) {
	names := append(append([]string{}, virtioModules...), cfg.Modules...)
	mods, err := kmod.Resolve(cfg.Kernel.ModuleDir, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: modules for %s: %w", cfg.Kernel.Release, err)
	}
	for _, m := range mods {
		rel, err := filepath.Rel(cfg.Kernel.ModuleDir, m.Path)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, nil, fmt.Errorf("lab: module %s is outside %s", m.Path, cfg.Kernel.ModuleDir)
		}
		host = append(host, m.Path)
		guest = append(guest, path.Join("/lib/modules", cfg.Kernel.Release, filepath.ToSlash(rel)))
	}
	return host, guest, nil
}

// writeFirstInitramfs writes the first kernel's initramfs: the guest program as /init,
// gokdump where a machine has it (plan.GokdumpPath), the kernel image the guest loads as
// capture kernel, the modules and the plan (whose Modules it fills).
// It is uncompressed: compressing it costs more host time than the guest saves.
func writeFirstInitramfs(file string, cfg *Config, p *plan.Plan) error {
	host, guest, err := guestModules(cfg)
	if err != nil {
		return err
	}
	p.Modules = guest
	planJSON, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	a := initramfs.New()
	var addErr error
	add := func(err error) {
		if err != nil && addErr == nil {
			addErr = err
		}
	}
	add(a.AddFileFrom("init", 0o755, cfg.Guest))
	add(a.AddFileFrom(plan.GokdumpPath, 0o755, cfg.Gokdump))
	add(a.AddFileFrom(plan.KernelPath, 0o644, cfg.Kernel.Image))
	add(a.AddFile(plan.Path, 0o644, planJSON))
	for i := range host {
		add(a.AddFileFrom(guest[i], 0o644, host[i]))
	}
	if cfg.Service != nil {
		// What "gokdump start" reads on a real machine besides the modules: the lists
		// of the module tree (built-in drivers need no file) and the kernel's
		// configuration (which compression its initramfs may use).
		modDir := path.Join("/lib/modules", cfg.Kernel.Release)
		for _, name := range []string{"modules.builtin", "modules.order"} {
			if _, err := os.Stat(filepath.Join(cfg.Kernel.ModuleDir, name)); err == nil {
				add(a.AddFileFrom(path.Join(modDir, name), 0o644, filepath.Join(cfg.Kernel.ModuleDir, name)))
			}
		}
		conf := filepath.Join(cfg.Kernel.Dir, "boot", "config-"+cfg.Kernel.Release)
		if _, err := os.Stat(conf); err == nil {
			add(a.AddFileFrom("/boot/config-"+cfg.Kernel.Release, 0o644, conf))
		}
		for _, f := range cfg.Service.Files {
			add(a.AddFile(f.Path, f.Mode, f.Data))
		}
	}
	if len(cfg.HostFiles) > 0 {
		files, err := progdeps.Files(cfg.HostFiles, progdeps.DefaultLibDirs)
		if err != nil {
			return fmt.Errorf("lab: host files for the guest: %w", err)
		}
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				return fmt.Errorf("lab: %w", err)
			}
			add(a.AddFileFrom(f, st.Mode().Perm(), f))
		}
	}
	// /run/lock and /root for the tools (lvm locks under /run/lock/lvm).
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "run/lock", "root", "etc"} {
		add(a.AddDir(d, 0o755))
	}
	add(a.AddDevice("dev/console", os.ModeCharDevice|0o600, 5, 1))
	if addErr != nil {
		return fmt.Errorf("lab: %w", addErr)
	}
	return a.WriteFile(file, initramfs.None)
}
