package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/lab/plan"
)

// RootDisk is what MakeRootDisk puts on a root-on-disk file system (Service.Root).
type RootDisk struct {
	Kernel  *kernelpkg.Kernel // its image is boot/vmlinuz; its modules go to lib/modules/<release>
	Gokdump string            // the gokdump binary, put at usr/sbin/gokdump
	// Modules are the module names (with dependencies) the root's module tree holds
	// besides the virtio disk drivers: give the Config.Modules of the run (what
	// "gokdump start" takes the capture's modules from, e.g. ext4).
	Modules []string
	Files   []GuestFile // more files (absolute paths in the root)
	Label   string      // the file system's label
	SizeMiB int         // the disk's size
}

// MakeRootDisk writes a sparse disk image holding an ext4 file system laid out as an
// installed machine's root for gokdump: usr/sbin/gokdump, boot/vmlinuz
// (plan.KernelPath), boot/config-<release>, lib/modules/<release> with the module
// files and the lists start reads, etc/ (the guest writes kdump.conf there), var/crash
// and r.Files. It uses mkfs.ext4 -d (e2fsprogs), so no mount is needed.
func MakeRootDisk(ctx context.Context, file string, r RootDisk) error {
	if r.Kernel == nil || r.Gokdump == "" || r.SizeMiB <= 0 {
		return fmt.Errorf("lab: RootDisk needs Kernel, Gokdump and SizeMiB")
	}
	dir, err := os.MkdirTemp("", "gokdump-lab-root-")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer os.RemoveAll(dir)
	host, guest, err := guestModules(&Config{Kernel: r.Kernel, Modules: r.Modules})
	if err != nil {
		return err
	}
	type copyFile struct {
		dst, src string
		mode     os.FileMode
	}
	copies := []copyFile{
		{plan.GokdumpPath, r.Gokdump, 0o755},
		{plan.KernelPath, r.Kernel.Image, 0o644},
	}
	for i := range host {
		copies = append(copies, copyFile{guest[i], host[i], 0o644})
	}
	modDir := path.Join("/lib/modules", r.Kernel.Release)
	for _, name := range []string{"modules.builtin", "modules.order"} {
		if src := filepath.Join(r.Kernel.ModuleDir, name); fileExists(src) {
			copies = append(copies, copyFile{path.Join(modDir, name), src, 0o644})
		}
	}
	if conf := filepath.Join(r.Kernel.Dir, "boot", "config-"+r.Kernel.Release); fileExists(conf) {
		copies = append(copies, copyFile{"/boot/config-" + r.Kernel.Release, conf, 0o644})
	}
	for _, c := range copies {
		data, err := os.ReadFile(c.src)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := writeUnder(dir, c.dst, c.mode, data); err != nil {
			return err
		}
	}
	for _, f := range r.Files {
		if err := writeUnder(dir, f.Path, f.Mode, f.Data); err != nil {
			return err
		}
	}
	for _, d := range []string{"etc", "var/crash", "proc", "sys", "dev", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	if err := makeDisk(file, int64(r.SizeMiB)<<20); err != nil {
		return err
	}
	args := []string{"-q", "-F", "-d", dir}
	if r.Label != "" {
		args = append(args, "-L", r.Label)
	}
	out, err := exec.CommandContext(ctx, "mkfs.ext4", append(args, file)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: mkfs.ext4 -d %s %s: %v: %s", dir, file, err, bytes.TrimSpace(out))
	}
	return nil
}

// writeUnder writes data to the absolute guest path p under the host directory root.
func writeUnder(root, p string, mode os.FileMode, data []byte) error {
	if !strings.HasPrefix(p, "/") || !filepath.IsLocal(strings.TrimPrefix(p, "/")) {
		return fmt.Errorf("lab: root disk file %q is not a clean absolute path", p)
	}
	dst := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return os.Chmod(dst, mode)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
