package vmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kexec"
	"github.com/gokdump/gokdump/service"
)

// Console lines of the first kernel, which the host looks for.
const (
	lineArmed    = "gokdump vmtest: armed the capture kernel"
	lineCrashing = "gokdump vmtest: crashing the first kernel (sysrq-c)"
)

// Guest is the first kernel's side of the test, as PID 1 of the test's first
// initramfs. The zero value works on the real system; tests set the fields.
type Guest struct {
	Root    string // "" : "/"; where SpecPath, KernelPath and InitrdPath are
	Proc    string // "" : /proc
	Load    func(kernel, initrd, cmdline string) error
	Crasher service.Crasher
}

func (g *Guest) root() string {
	if g.Root == "" {
		return "/"
	}
	return g.Root
}

func (g *Guest) proc() string {
	if g.Proc == "" {
		return "/proc"
	}
	return g.Proc
}

// IsFirstKernel says whether this boot is the test's first kernel: the command line
// carries FirstKernelFlag and the initramfs holds the test's spec. A real boot has
// neither.
func (g *Guest) IsFirstKernel() bool {
	data, err := smallfile.Read(filepath.Join(g.proc(), "cmdline"), 64<<10)
	if err != nil {
		return false
	}
	found := false
	for _, w := range strings.Fields(string(data)) {
		if w == FirstKernelFlag {
			found = true
		}
	}
	if !found {
		return false
	}
	_, err = os.Stat(filepath.Join(g.root(), SpecPath))
	return err == nil
}

// Run arms the capture kernel as the spec says (kexec_file_load of KernelPath and
// InitrdPath into the reservation) and crashes the kernel with sysrq-c. It returns
// only when that failed.
func (g *Guest) Run(console io.Writer) error {
	data, err := smallfile.Read(filepath.Join(g.root(), SpecPath), 1<<20)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("vmtest: /%s: %w", SpecPath, err)
	}
	if spec.Version != specVersion {
		return fmt.Errorf("vmtest: /%s is version %d; this gokdump reads version %d", SpecPath, spec.Version, specVersion)
	}
	load := g.Load
	if load == nil {
		load = kexec.LoadCrash
	}
	fmt.Fprintf(console, "gokdump vmtest: loading the capture kernel with: %s\n", spec.Cmdline)
	if err := load(filepath.Join(g.root(), KernelPath), filepath.Join(g.root(), InitrdPath), spec.Cmdline); err != nil {
		return fmt.Errorf("vmtest: arming the capture kernel: %w", err)
	}
	fmt.Fprintln(console, lineArmed)
	c := g.Crasher
	if c == nil {
		c = service.SysrqCrasher{ProcRoot: g.proc()}
	}
	fmt.Fprintln(console, lineCrashing)
	c.Sync()
	return c.Crash()
}
