// Package lab is gokdump's real-crash lab, the host side: it boots a Debian kernel in
// QEMU (TCG) with the lab's guest program as /init, which arms a capture kernel with
// gokdump's own kexec code, runs a small workload, notes facts about itself and
// crashes; the capture kernel (the guest program again as /init) saves /proc/vmcore to
// a disk, and the host extracts it to a file. In service mode the guest arms with the
// real gokdump binary ("gokdump start", as a machine does) and the capture kernel runs
// gokdump's capture service, which saves the dump to a target disk.
//
// Everything inside the guest is the project's code: the initramfs images are written by
// package initramfs, modules are loaded by package kmod, the capture kernel is loaded
// with package kexec. The guest program is lab/cmd/labinit, a program of its own: the
// gokdump binary links no lab code. The protocol between the two sides (plan file,
// console lines, disks) is in package lab/plan.
//
//	k, _ := kernelpkg.Get(ctx, cache, "linux-image-6.1.0-56-amd64")
//	bins, _ := lab.BuildBinaries(ctx, binDir)
//	res, err := lab.Crash(ctx, lab.Config{Kernel: k, Binaries: bins, CPU: "max", KASLR: true, Dir: dir})
//	// res.Vmcore is the ELF vmcore; res.Facts what the guest said before it crashed.
//
// The command lab/cmd/labcrash runs one crash from the shell (`make demo` uses it).
//
// A guest can also do what a machine's administrator or installer does around arming:
// Config.HostFiles carries host programs (VolumeTools: lvm2, mdadm, mkfs) with their
// shared libraries into the first initramfs; Config.Setup and Config.AfterArm are argv
// lists (plan.Command) run before and after arming, naming disks by serial
// (plan.DiskRef); Boot runs the first kernel without crashing it (the next boot of the
// same machine); Service.Root arms from a root disk (MakeRootDisk) chrooted into it.
//
// Config.Net gives the guest a virtio NIC on QEMU's user network with restrict=on,
// whose only way out is guestfwd rules from NetServer's ports to 127.0.0.1 (the ssh
// and nfs targets' lab tests start sshd and NFS-ganesha there).
//
//	cfg.HostFiles, cfg.Modules = lab.VolumeToolFiles(), lab.VolumeModules
//	cfg.Setup = []plan.Command{plan.Cmd("/sbin/lvm", "pvcreate", "--config", plan.LVMConfig, plan.DiskRef("pv1"))}
package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/lab/plan"
)

// Config describes one lab crash. Zero values take the defaults noted.
type Config struct {
	Kernel   *kernelpkg.Kernel // the kernel to boot (both first and capture kernel)
	Binaries                   // the guest program and gokdump (see BuildBinaries)
	Dir      string            // output directory (created); holds vmcore, console.log, facts/

	CPU            string // QEMU -cpu model: "max" (5-level paging under TCG) or "qemu64" (4-level); default "max"
	KASLR          bool   // false adds nokaslr to the command line
	MemoryMiB      int    // guest memory; default 1536
	CPUs           int    // guest CPUs; default 2
	CrashKernelMiB int    // crashkernel= reservation; default 256
	PageCacheMiB   int    // tmpfs file the workload writes; default 128
	AnonMiB        int    // anonymous memory the workload touches; default 128
	StaleMiB       int    // memory filled and freed before the workload (stale free pages); default 0
	// Modules are the modules to load besides the virtio disk drivers (with their
	// dependencies; built-in ones are skipped).
	Modules []string
	// Cmdline is added to the first kernel's command line; CaptureExtra to the capture
	// kernel's, after kexec.DefaultCaptureOptions (which it may override by key).
	Cmdline      []string
	CaptureExtra []string
	// ExtraDisks are attached after the lab's own disks (facts and vmcore), e.g. a
	// dump target with a file system made on the host.
	ExtraDisks []Disk
	// MemoryFile, when set, backs the guest's RAM with this host file (shared), so the
	// host can read the crashed machine's memory as it was.
	MemoryFile string
	// NoReserve maps the guest's RAM without reserving swap for it (QEMU's
	// memory-backend-ram reserve=off, MAP_NORESERVE): the host's overcommit heuristic
	// refuses a private mapping larger than its RAM, and a 64 GiB guest on a 24 GiB
	// host is one, although the guest only ever touches a little of it.
	NoReserve bool
	// Timeout bounds the whole VM run; default 10 minutes.
	Timeout time.Duration
	// Crash is how the guest crashes: a plan crash method (plan.CrashSysrq,
	// plan.CrashInitExit); default plan.CrashSysrq.
	Crash string
	// Service, when set, runs the kdump service instead of the lab's own capture:
	// the first kernel arms with "gokdump start" and the capture kernel saves the
	// dump where Service.KdumpConf says (usually one of ExtraDisks). The workload
	// sizes then default to 0. Result.Vmcore stays empty: the test reads the target.
	Service *Service
	// Files are put into the first kernel's initramfs (in service mode Service.Files
	// too): configuration files for the Setup commands, ...
	Files []GuestFile
	// HostFiles are host files put into the first kernel's initramfs at the same
	// paths, each ELF program with its dynamic loader and shared libraries and each
	// script with its interpreter (package progdeps, as kdump.conf's extra_bins):
	// the Debian tools a test runs in the guest, e.g. /sbin/lvm, /sbin/mdadm,
	// /sbin/mkfs.ext4, /sbin/mkfs.xfs; data files such as /etc/mke2fs.conf come as
	// they are. A symbolic link is followed: the guest gets a regular file under the
	// name given (mkfs.ext4 stays mkfs.ext4, which tells mke2fs the type). The guest
	// programs' kernel side (dm_mod, md_mod, raid1, ...) goes into Modules. See
	// VolumeTools.
	HostFiles []string
	// Setup are the commands the first kernel runs in order after the workload and
	// before arming; AfterArm those it runs after arming and before the crash. See
	// plan.Command: argv lists without a shell, each bounded, output on the console,
	// disks named by serial as plan.DiskRef(serial); a failure ends the run with
	// the guest's error line (Crash returns it).
	Setup, AfterArm []plan.Command
	// Net gives the guest a NIC on QEMU's restricted user network (see Net).
	Net *Net
	// Bench, when set, runs the capture-kernel benchmark (plan.CaptureBench) instead of
	// saving the vmcore; see bench.go.
	Bench *plan.Bench
	// MultiThreadTCG runs each vCPU on its own host thread (TCG thread=multi), so a
	// guest's CPUs really run in parallel; the default runs all on one (see vm.args).
	MultiThreadTCG bool
}

// VolumeTools are the host programs (Debian bookworm's lvm2, mdadm, e2fsprogs,
// xfsprogs) a guest needs to make volumes as an installer does, for HostFiles, each
// mapped to its Debian package (for testenv.NeedPackages, which installs what the
// host lacks; the Makefile's APT_PKGS lists them too).
var VolumeTools = map[string]string{
	"/sbin/lvm": "lvm2", "/sbin/mdadm": "mdadm",
	"/sbin/mkfs.ext4": "e2fsprogs", "/sbin/e2fsck": "e2fsprogs", "/etc/mke2fs.conf": "e2fsprogs",
	"/sbin/mkfs.xfs": "xfsprogs", "/sbin/xfs_repair": "xfsprogs",
}

// VolumeToolFiles returns VolumeTools' paths, sorted, for HostFiles.
func VolumeToolFiles() []string {
	var files []string
	for f := range VolumeTools {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}

// VolumeModules are the modules of the kernel side of VolumeTools, for Modules.
// crc32c_generic comes first: libcrc32c (xfs's) asks the crypto API for crc32c when it
// loads, a soft dependency Resolve does not follow.
var VolumeModules = []string{"crc32c_generic", "dm_mod", "md_mod", "raid1", "ext4", "xfs"}

// Binaries are the two static programs of a lab guest (BuildBinaries builds them).
type Binaries struct {
	// Guest is the lab's guest program (lab/cmd/labinit): /init of the first kernel's
	// initramfs and of the capture initramfs it builds for the lab's own capture.
	Guest string
	// Gokdump is the product (cmd/gokdump), put at plan.GokdumpPath: in service mode the
	// guest arms with it and the capture kernel runs it. Tests run it on the host too.
	Gokdump string
}

// Service is the kdump service setup of a lab guest.
type Service struct {
	KdumpConf string      // written to /etc/kdump.conf by the first kernel
	Files     []GuestFile // put into the first kernel's initramfs (hooks, ...)
	// Root, when set, arms as an installed machine does: the guest mounts this disk
	// (plan.DiskRef(serial) of one of ExtraDisks, or a device Setup made) and runs
	// the gokdump on it, chrooted into it, with KdumpConf as its /etc/kdump.conf
	// (plan.Root says how). MakeRootDisk makes such a disk.
	Root *plan.Root
}

// GuestFile is a file the first kernel's initramfs holds.
type GuestFile struct {
	Path string // absolute path in the guest
	Mode os.FileMode
	Data []byte
}

// Result is what one lab crash produced. Paths are inside Config.Dir.
type Result struct {
	Vmcore         string        // the capture kernel's /proc/vmcore, byte for byte
	CaptureCmdline string        // the capture kernel's /proc/cmdline
	Facts          *Facts        // what the first kernel said about itself
	ConsoleLog     string        // the serial console of both kernels
	Console        []string      // the GOKDUMP-LAB lines of the console, prefix removed
	Elapsed        time.Duration // wall time of the VM run
}

// factsDiskSize is the size of the facts disk (a sparse file); the vmcore disk is
// sized by vmcoreDiskSize.
const factsDiskSize = 256 << 20

// vmcoreDiskSize is room for a vmcore of the guest's whole memory plus headers and the
// tar framing (a sparse file: only what the guest writes takes space).
func (c *Config) vmcoreDiskSize() int64 { return int64(c.MemoryMiB+512) << 20 }

// virtioModules are the drivers the guest needs for its virtio disks, dependencies
// first (kmod resolves dependencies and drops what a kernel has built in).
var virtioModules = []string{"virtio_pci", "virtio_blk"}

func (c *Config) setDefaults() error {
	if c.Kernel == nil || c.Guest == "" || c.Gokdump == "" || c.Dir == "" {
		return errors.New("lab: Config needs Kernel, Binaries (Guest and Gokdump) and Dir")
	}
	if c.CPU == "" {
		c.CPU = "max"
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MemoryMiB, 1536)
	def(&c.CPUs, 2)
	def(&c.CrashKernelMiB, 256)
	if c.Service == nil && c.Crash != plan.CrashNone {
		def(&c.PageCacheMiB, 128)
		def(&c.AnonMiB, 128)
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Crash == "" {
		c.Crash = plan.CrashSysrq
	}
	if c.PageCacheMiB+c.AnonMiB+c.CrashKernelMiB+256 > c.MemoryMiB || c.StaleMiB+c.CrashKernelMiB+256 > c.MemoryMiB {
		return fmt.Errorf("lab: %d MiB of guest memory is too little for %d MiB page cache + %d MiB anonymous + %d MiB crashkernel",
			c.MemoryMiB, c.PageCacheMiB, c.AnonMiB, c.CrashKernelMiB)
	}
	return nil
}

// firstCmdline is the first kernel's command line. panic=1 with -no-reboot turns any
// panic that does not reach the capture kernel into a prompt QEMU exit.
// printk.devkmsg=on lifts the rate limit of /dev/kmsg (10 lines in 5 s), through which
// the guest repeats its console lines: the "armed" line is its eleventh.
// no_timer_check skips the kernel's check that the IO-APIC delivers timer interrupts in
// time: under TCG on a loaded host it can fail ("IO-APIC + timer doesn't work!"), and a
// capture kernel once panicked that way in a full make test. The capture kernels inherit
// it, since their command line is built from this one.
func (c *Config) firstCmdline() string {
	args := []string{"console=ttyS0", "crashkernel=" + strconv.Itoa(c.CrashKernelMiB) + "M", "panic=1", "gokdump.lab=1", "printk.devkmsg=on", "no_timer_check"}
	if !c.KASLR {
		args = append(args, "nokaslr")
	}
	return strings.Join(append(args, c.Cmdline...), " ")
}

// Crash runs one lab crash: boot, arm, workload, crash, capture, and extraction of the
// vmcore and the facts into cfg.Dir. On failure the Result still names the console log.
func Crash(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	res := &Result{ConsoleLog: filepath.Join(cfg.Dir, "console.log")}
	p := &plan.Plan{
		Release:         cfg.Kernel.Release,
		PageCacheMiB:    cfg.PageCacheMiB,
		AnonMiB:         cfg.AnonMiB,
		StaleMiB:        cfg.StaleMiB,
		CaptureExtra:    cfg.CaptureExtra,
		Crash:           cfg.Crash,
		Capture:         plan.CaptureRawTar,
		DiskWaitSeconds: 60,
	}
	p.Setup, p.AfterArm = cfg.Setup, cfg.AfterArm
	switch {
	case cfg.Service != nil:
		p.Capture, p.KdumpConf, p.Root = plan.CaptureService, cfg.Service.KdumpConf, cfg.Service.Root
	case cfg.Crash == plan.CrashNone:
		p.Capture = plan.CaptureNone
	}
	bootOnly := cfg.Crash == plan.CrashNone
	initrd := filepath.Join(cfg.Dir, "initrd.img")
	defer os.Remove(initrd)
	factsImg := filepath.Join(cfg.Dir, "facts.img")
	vmcoreImg := filepath.Join(cfg.Dir, "vmcore.img")
	defer os.Remove(factsImg)
	defer os.Remove(vmcoreImg)
	disks := []Disk{{factsImg, plan.DiskFacts}, {vmcoreImg, plan.DiskVmcore}}
	sizes := []int64{factsDiskSize, cfg.vmcoreDiskSize()}
	if cfg.Service != nil || bootOnly || cfg.Bench != nil {
		disks, sizes = disks[:1], sizes[:1] // the service (the bench) writes to its own disk
	}
	for i, d := range disks {
		if err := makeDisk(d.Path, sizes[i]); err != nil {
			return res, err
		}
	}
	if cfg.Bench != nil {
		d, err := cfg.benchDisk(ctx, p)
		if err != nil {
			return res, err
		}
		defer os.Remove(d.Path)
		disks = append(disks, d)
	}
	if err := writeFirstInitramfs(initrd, &cfg, p); err != nil {
		return res, err
	}
	v := &vm{
		multiThread: cfg.MultiThreadTCG, noReserve: cfg.NoReserve,
		kernel: cfg.Kernel.Image, initrd: initrd, cmdline: cfg.firstCmdline(),
		cpu: cfg.CPU, memoryMiB: cfg.MemoryMiB, cpus: cfg.CPUs, memoryFile: cfg.MemoryFile,
		disks:   append(disks, cfg.ExtraDisks...),
		net:     cfg.Net,
		console: res.ConsoleLog,
	}
	vctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	start := time.Now()
	runErr := v.run(vctx)
	res.Elapsed = time.Since(start)
	lines, initErrs, err := consoleLines(res.ConsoleLog)
	res.Console = lines
	if err != nil {
		return res, err
	}
	if runErr != nil {
		return res, fmt.Errorf("%w (console: %s)", runErr, res.ConsoleLog)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, plan.EventError) {
			return res, fmt.Errorf("lab: the guest failed: %s (console: %s)", l, res.ConsoleLog)
		}
	}
	if len(initErrs) > 0 {
		return res, fmt.Errorf("lab: gokdump's init failed: %s (console: %s)", initErrs[0], res.ConsoleLog)
	}
	events := []string{plan.EventFacts, plan.EventArmed, plan.EventSaved}
	switch {
	case bootOnly && cfg.Service != nil:
		events = []string{plan.EventFacts, plan.EventArmed, plan.EventDone}
	case bootOnly:
		events = []string{plan.EventFacts, plan.EventDone}
	case cfg.Service != nil:
		events = events[:2] // the capture kernel is the service's: it says nothing to the lab
	case cfg.Bench != nil:
		events = []string{plan.EventFacts, plan.EventArmed, plan.EventBenchDone}
	}
	for _, ev := range events {
		if !hasEvent(lines, ev) {
			return res, fmt.Errorf("lab: the guest never printed %q %q (console: %s)", plan.ConsolePrefix, ev, res.ConsoleLog)
		}
	}
	if res.Facts, err = readFacts(factsImg, filepath.Join(cfg.Dir, "facts")); err != nil {
		return res, err
	}
	if cfg.Service != nil || bootOnly || cfg.Bench != nil {
		return res, nil
	}
	files, err := extractTar(vmcoreImg, cfg.Dir, map[string]int64{
		plan.VmcoreCmdline: 64 << 10,
		plan.VmcoreFile:    cfg.vmcoreDiskSize(),
	})
	if err != nil {
		return res, err
	}
	if files[plan.VmcoreFile] == "" || files[plan.VmcoreCmdline] == "" {
		return res, fmt.Errorf("lab: %s: the vmcore archive lacks %q or %q", vmcoreImg, plan.VmcoreFile, plan.VmcoreCmdline)
	}
	res.Vmcore = files[plan.VmcoreFile]
	cl, err := os.ReadFile(files[plan.VmcoreCmdline])
	if err != nil {
		return res, fmt.Errorf("lab: %w", err)
	}
	res.CaptureCmdline = strings.TrimSpace(string(cl))
	return res, nil
}

// Boot runs the first kernel without crashing it (plan.CrashNone): it boots with
// cfg's disks, runs cfg.Setup, arms with "gokdump start" when cfg.Service is set (in
// the Root mode too), runs cfg.AfterArm, prints plan.EventDone and powers off. It is
// "the next boot of the same machine": give it the disks a crash run left behind.
// The commands' output is in the console log (Result.ConsoleLog); Result.Vmcore stays
// empty. cfg.Crash is ignored.
func Boot(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Crash = plan.CrashNone
	return Crash(ctx, cfg)
}

// consoleLines returns the lab protocol lines of a console log, and the error lines of
// gokdump's own init (plan.InitErrorPrefix and what follows it): in service mode the
// capture kernel runs gokdump's capture service, which prints no lab lines.
func consoleLines(path string) (lines, initErrs []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l, ok := plan.ParseLine(sc.Text()); ok {
			lines = append(lines, l)
		}
		// The kernel may interleave its own messages, so the prefix is searched anywhere.
		if i := strings.Index(sc.Text(), plan.InitErrorPrefix); i >= 0 {
			initErrs = append(initErrs, strings.TrimRight(sc.Text()[i:], "\r\n"))
		}
	}
	if err := sc.Err(); err != nil {
		return lines, initErrs, fmt.Errorf("lab: %s: %w", path, err)
	}
	return lines, initErrs, nil
}

func hasEvent(lines []string, ev string) bool {
	for _, l := range lines {
		if l == ev {
			return true
		}
	}
	return false
}

// ConsoleTail returns the last n lines of a console log, for test failure messages.
func ConsoleTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BuildBinaries builds the guest program (lab/cmd/labinit) and gokdump (cmd/gokdump)
// into dir, static and -trimpath, and returns their paths. It must run inside the
// gokdump repository (it finds the module root from the working directory).
func BuildBinaries(ctx context.Context, dir string) (Binaries, error) {
	wd, err := os.Getwd()
	if err != nil {
		return Binaries{}, fmt.Errorf("lab: %w", err)
	}
	root, err := kernelpkg.RepoRoot(wd)
	if err != nil {
		return Binaries{}, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// One go build for both: with -o naming a directory it writes each program there
	// under its package directory's name.
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", dir+string(filepath.Separator), "./lab/cmd/labinit", "./cmd/gokdump")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("lab: go build ./lab/cmd/labinit ./cmd/gokdump: %v\n%s", err, msg)
	}
	return Binaries{Guest: filepath.Join(dir, "labinit"), Gokdump: filepath.Join(dir, "gokdump")}, nil
}
