package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/service"
)

// The arming commands: start, stop, restart and status (what Fedora's kdumpctl and
// Debian's kdump-config do), run at boot and shutdown by gokdump.service.
func init() {
	register(&command{name: "start", summary: "arm the capture kernel (build or reuse the capture initramfs, kexec_file_load)", run: runStart})
	register(&command{name: "stop", summary: "unload the capture kernel", run: runStop})
	register(&command{name: "restart", summary: "stop, then start", run: runRestart})
	register(&command{name: "status", summary: "is a capture kernel loaded, how much memory is reserved, dumps saved since the last boot", run: runStatus})
}

// stateDirEnv overrides the directory the capture initramfs is kept in.
const stateDirEnv = "GOKDUMP_STATE_DIR"

// kernelVerEnv names the kernel release to arm when --kernel-version is not given, as
// Fedora's /etc/sysconfig/kdump sets it for kdumpctl.
const kernelVerEnv = "KDUMP_KERNELVER"

// serviceFlags are the options the service commands share: the configuration, the
// kernel to arm, and the system paths (which tests, chroots and the real-crash lab's
// guest point elsewhere).
type serviceFlags struct {
	config, kernel, release, self, image string
	sys                                  service.System
}

func addServiceFlags(fs *flag.FlagSet) *serviceFlags {
	f := &serviceFlags{sys: *service.Host()}
	if v := os.Getenv(stateDirEnv); v != "" {
		f.sys.StateDir = v
	}
	fs.StringVar(&f.config, "config", "", "the configuration `file` (default: $GOKDUMP_CONFIG, else /etc/kdump.conf)")
	fs.StringVar(&f.kernel, "kernel", "", "the capture kernel `image` (default: /boot/vmlinuz-RELEASE or /lib/modules/RELEASE/vmlinuz)")
	fs.StringVar(&f.release, "kernel-version", os.Getenv(kernelVerEnv), "the kernel `release` whose modules and image to use (default: $"+kernelVerEnv+", else kdump.conf's kdump_kernelver or /etc/sysconfig/kdump's KDUMP_KERNELVER, else the running kernel's)")
	fs.StringVar(&f.image, "initramfs", "", "where the capture initramfs is kept (default: STATE-DIR/initramfs-RELEASE.img)")
	fs.StringVar(&f.self, "binary", "", "the gokdump `binary` to put in as /init (default: this one, /proc/self/exe)")
	fs.StringVar(&f.sys.ModulesDir, "modules-dir", f.sys.ModulesDir, "the `directory` of module trees, one per kernel release")
	fs.StringVar(&f.sys.StateDir, "state-dir", f.sys.StateDir, "where capture initramfs images are kept (or $"+stateDirEnv+")")
	fs.StringVar(&f.sys.BootDir, "boot-dir", f.sys.BootDir, "where kernel images and configs are (vmlinuz-RELEASE, config-RELEASE)")
	fs.StringVar(&f.sys.ProcRoot, "proc", f.sys.ProcRoot, "where proc is mounted (for tests and chroots)")
	fs.StringVar(&f.sys.SysRoot, "sys", f.sys.SysRoot, "where sysfs is mounted (for tests and chroots)")
	fs.StringVar(&f.sys.DevRoot, "dev", f.sys.DevRoot, "where the device nodes are (for tests and chroots)")
	return f
}

// load reads the configuration, with the file's bytes for the image (nil when the
// default file is missing and the defaults apply).
// Fedora's /etc/sysconfig/kdump is read with a kdump.conf (its command-line and
// release variables).
func (f *serviceFlags) load() (*config.Config, []byte, error) {
	explicit := f.config != "" || os.Getenv(configEnv) != ""
	c, data, err := loadConfigData(configPath(f.config), explicit)
	if err != nil {
		return nil, nil, err
	}
	if err := loadSysconfig(c); err != nil {
		return nil, nil, err
	}
	return c, data, nil
}

// releaseFor is the kernel release to arm: --kernel-version, else $KDUMP_KERNELVER,
// else the configuration's (kdump_kernelver, or /etc/sysconfig/kdump's
// KDUMP_KERNELVER), else "" (the running kernel's).
func (f *serviceFlags) releaseFor(cfg *config.Config) string {
	if f.release != "" {
		return f.release
	}
	return cfg.KernelVersion
}

func (f *serviceFlags) startOptions(cfg *config.Config, data []byte) service.StartOptions {
	return service.StartOptions{Config: cfg, ConfigData: data, Release: f.releaseFor(cfg), Kernel: f.kernel, Self: f.self, Image: f.image}
}

const startSynopsis = `[--config FILE] [--kernel IMAGE] [--kernel-version V] [--state-dir DIR] ...

Arms the capture kernel: checks that memory is reserved (crashkernel=), builds the
capture initramfs in the state directory or reuses it when none of its inputs
changed (kdump.conf's force_rebuild and force_no_rebuild apply), loads the kernel
with kexec_file_load for the next crash with the capture command line (the running
one minus crashkernel= and the like, plus the usual capture options), and sets
kernel.panic_on_oops=1. With a raw target, a dump waiting on the partition is first
saved under path (as save-raw does); when that fails, nothing is armed.`

func runStart(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "start", startSynopsis)
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	return doStart(e, f, "start")
}

func doStart(e *env, f *serviceFlags, name string) int {
	cfg, data, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump %s: %v\n", name, err)
		return 1
	}
	printConfigNotes(e, name, cfg)
	if cfg.Disabled != "" {
		fmt.Fprintf(e.stderr, "gokdump %s: not arming: %s\n", name, cfg.Disabled)
		return 1
	}
	res, err := f.sys.Start(f.startOptions(cfg, data))
	if res != nil && res.RawSave != nil {
		printRawSave(e.stdout, cfg.Target.Spec, res.RawSave)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump %s: %v\n", name, err)
		return 1
	}
	for _, n := range res.Notes {
		fmt.Fprintf(e.stderr, "gokdump %s: note: %s\n", name, n)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(e.stderr, "gokdump %s: warning: %s\n", name, w)
	}
	if res.Rebuilt {
		fmt.Fprintf(e.stdout, "built the capture initramfs %s (%s)\n", res.Image, res.RebuildReason)
	} else {
		fmt.Fprintf(e.stdout, "reusing the capture initramfs %s (its inputs are unchanged)\n", res.Image)
	}
	fmt.Fprintf(e.stdout, "loaded the capture kernel %s into the %s reservation\n", res.Kernel, mib(res.Reserved))
	fmt.Fprintf(e.stdout, "capture command line: %s\n", res.Cmdline)
	fmt.Fprintf(e.stdout, "capture CPUs: %d (%s)\n", res.CPUs.N, res.CPUs.Why)
	fmt.Fprintf(e.stdout, "kdump is armed: dumps go to %s\n", describeTarget(cfg))
	if r := res.Rootfs; r != nil {
		fmt.Fprintf(e.stdout, "failure_action dump_to_rootfs: when the target fails, dumps go to %s on the root file system (%s %s)\n", cfg.Path, r.FSType, r.Spec)
	}
	return 0
}

// describeTarget says where dumps go.
func describeTarget(cfg *config.Config) string {
	if cfg.Target.Kind == config.TargetRootfs {
		return cfg.Path + " on the root file system"
	}
	return fmt.Sprintf("%s on %s %s", cfg.Path, cfg.Target.Kind, cfg.Target.Spec)
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

func runStop(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "stop", `

Unloads the capture kernel (nothing happens on a crash afterwards).`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	return doStop(e, service.Host(), "stop")
}

func doStop(e *env, sys *service.System, name string) int {
	if err := sys.Stop(); err != nil {
		fmt.Fprintf(e.stderr, "gokdump %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintln(e.stdout, "unloaded the capture kernel")
	return 0
}

func runRestart(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "restart", "[start's options]\n\nUnloads the capture kernel, then arms it again as start does.")
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if code := doStop(e, &f.sys, "restart"); code != 0 {
		return code
	}
	return doStart(e, f, "restart")
}

func runStatus(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "status", `[--config FILE]

Says whether a capture kernel is loaded and how much memory is reserved for it (from
both the old /sys/kernel/kexec_crash_* and the new /sys/kernel/kexec/* files), and
lists the dumps saved since the service was last armed in an earlier boot (without a
record of that, since this boot). After a "gokdump test" crash it says whether the
test dump was saved, once. Exit status 0 when armed, 3 when not, 1 on errors.`)
	f := addServiceFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, _, err := f.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump status: %v\n", err)
		return 1
	}
	st, err := f.sys.ReadStatus(cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump status: %v\n", err)
		return 1
	}
	w := e.stdout
	if cfg.Disabled != "" {
		fmt.Fprintf(w, "configuration: %s\n", cfg.Disabled)
	}
	code := 0
	switch {
	case st.CrashSize == 0:
		fmt.Fprintln(w, "reserved memory: none (add crashkernel= to the kernel command line and reboot; \"gokdump estimate\" recommends a size)")
		code = 3
	default:
		fmt.Fprintf(w, "reserved memory: %s\n", mib(st.CrashSize))
	}
	if st.CrashLoaded {
		fmt.Fprintln(w, "capture kernel: loaded (kdump is armed)")
		if st.Cmdline != "" {
			fmt.Fprintf(w, "capture kernel loaded by gokdump start: %s (%s)\n", st.Kernel, st.Release)
			fmt.Fprintf(w, "capture command line: %s\n", st.Cmdline)
			if st.CaptureCPUs > 0 {
				fmt.Fprintf(w, "capture CPUs: %d (%s)\n", st.CaptureCPUs, st.CaptureCPUsWhy)
			}
		} else {
			fmt.Fprintln(w, "capture command line: unknown (not loaded by gokdump start in this boot)")
		}
	} else {
		fmt.Fprintln(w, "capture kernel: not loaded (run \"gokdump start\")")
		code = 3
	}
	fmt.Fprintf(w, "booted: %s\n", st.BootTime.UTC().Format(time.DateTime+" UTC"))
	if tr, err := f.sys.ReadTestResult(st); err != nil {
		fmt.Fprintf(e.stderr, "gokdump status: %v\n", err)
	} else {
		printTestResult(w, tr)
	}
	if st.RawNote != "" {
		fmt.Fprintf(w, "raw dump: %s\n", st.RawNote)
	}
	if len(st.RootfsNew) > 0 {
		fmt.Fprintf(w, "dumps saved by failure_action dump_to_rootfs on the root file system since %s:\n", st.Since.UTC().Format(time.DateTime+" UTC"))
		printList(w, st.RootfsDir, st.RootfsNew)
	}
	if st.DumpDir == "" {
		fmt.Fprintf(w, "dumps: %s\n", st.DumpDirNote)
		return code
	}
	if len(st.New) == 0 {
		fmt.Fprintf(w, "dumps: none saved since %s (%d in %s)\n", st.Since.UTC().Format(time.DateTime+" UTC"), len(st.Dumps), st.DumpDir)
		return code
	}
	fmt.Fprintf(w, "dumps saved since %s:\n", st.Since.UTC().Format(time.DateTime+" UTC"))
	printList(w, st.DumpDir, st.New)
	return code
}
