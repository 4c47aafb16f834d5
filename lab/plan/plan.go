// Package plan is the contract between the real-crash lab's host side (package lab) and
// its guest program inside the VM (lab/cmd/labinit): the plan file the host puts into
// the initramfs, the console lines the guest prints, the disks it writes and the names
// inside them, and where the guest finds the real gokdump binary.
//
// Keeping both halves of the protocol in one small package (no dependencies beyond the
// standard library) means the guest program does not link the host's QEMU code, and a
// change to the protocol is a change in one place. gokdump itself knows nothing of it:
// the product binary imports no lab package.
package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Path is where the plan sits in the lab initramfs; the guest (lab/cmd/labinit, the
// initramfs's /init) reads it first.
const Path = "/etc/gokdump/lab.json"

// KernelPath is where the first kernel's initramfs holds the kernel image it loads as
// the capture kernel.
const KernelPath = "/boot/vmlinuz"

// GokdumpPath is where the first kernel's initramfs holds the real gokdump binary (where
// "make install" puts it on a machine). In service mode the guest arms with it.
const GokdumpPath = "/usr/sbin/gokdump"

// ConsolePrefix starts every line the guest prints for the host to parse:
// "GOKDUMP-LAB key=value", "GOKDUMP-LAB armed", "GOKDUMP-LAB error: message".
const ConsolePrefix = "GOKDUMP-LAB"

// Events the guest prints after ConsolePrefix, in the order they happen.
const (
	EventFacts = "facts-saved" // first kernel: the facts archive is on its disk
	EventArmed = "armed"       // first kernel: capture kernel loaded, about to crash
	EventSaved = "saved"       // capture kernel: the vmcore archive is on its disk
	EventError = "error:"      // either kernel: what went wrong; the guest powers off
	EventDone  = "done"        // first kernel of a CrashNone run: every step ran, powering off
)

// InitErrorPrefix starts the console line gokdump's own init prints when it fails
// before it can take kdump.conf's failure_action (cmd/gokdump, init_linux.go). It is
// the product's text, not this protocol: in service mode the capture kernel runs
// gokdump's capture service and no lab code, so the host watches for this line there.
const InitErrorPrefix = "gokdump init: error: "

// Disk serial numbers (QEMU -drive ...,serial=S; the guest reads /sys/block/vdX/serial).
// Disks are found by role, not by probe order, so lab variants can add disks freely.
// virtio-blk serials are at most 20 bytes.
const (
	DiskFacts  = "gokdump-facts"  // first kernel writes the facts archive (tar) from byte 0
	DiskVmcore = "gokdump-vmcore" // capture kernel writes the vmcore archive (tar) from byte 0
)

// Names inside the facts archive (first kernel, before the crash).
const (
	FactsUname    = "uname.json" // Uname
	FactsCmdline  = "cmdline"    // /proc/cmdline
	FactsIomem    = "iomem"      // /proc/iomem (read as root: real addresses)
	FactsMeminfo  = "meminfo"    // /proc/meminfo
	FactsKallsyms = "kallsyms"   // /proc/kallsyms (relocated addresses; kptr_restrict 0)
	FactsDmesg    = "dmesg"      // the kernel log as text, best effort
	FactsCPUs     = "cpus"       // /sys/devices/system/cpu/online
)

// Names inside the vmcore archive (capture kernel).
const (
	VmcoreCmdline = "cmdline" // the capture kernel's /proc/cmdline (holds elfcorehdr=)
	VmcoreFile    = "vmcore"  // /proc/vmcore, byte for byte
)

// Markers start every page of the workload, so later tests can find (or, after
// filtering, not find) page-cache and anonymous user pages in a dump.
const (
	MarkerPageCache = "GOKDUMP-LAB-PAGECACHE page "
	MarkerAnon      = "GOKDUMP-LAB-ANON page "
)

// Crash methods: two unrelated ways to take the kernel down, so tests can tell crash
// signatures apart (the Debian kernels build no crash-test module such as LKDTM).
const (
	CrashSysrq = "sysrq-c" // echo c > /proc/sysrq-trigger: panic("sysrq triggered crash")
	// CrashInitExit makes the guest's init (PID 1) exit with InitExitCode: the kernel
	// panics in do_exit with "Attempted to kill init! exitcode=0x00000700".
	CrashInitExit = "init-exit"
)

// CrashNone does not crash: the first kernel runs its steps (Setup, arming when the
// capture action arms, AfterArm), prints EventDone and powers off. A boot-only run
// ("the next boot of the same machine"); package lab's Boot makes one.
const CrashNone = "none"

// InitExitCode is the status init exits with for CrashInitExit.
const InitExitCode = 7

// Capture actions: what the capture kernel's init does.
const (
	CaptureRawTar = "raw-tar" // write cmdline and vmcore as a tar to the DiskVmcore disk
	// CaptureService runs the kdump service as a machine would: the first kernel writes
	// KdumpConf to /etc/kdump.conf and arms with "gokdump start" (the binary at
	// GokdumpPath); the capture kernel boots the image start built (gokdump as /init,
	// no lab code or plan in it) and saves the dump as configured.
	CaptureService = "service"
	// CaptureNone arms nothing: only with CrashNone (a boot that runs Setup commands).
	CaptureNone = "none"
)

// KdumpConfPath is where the first kernel writes Plan.KdumpConf.
const KdumpConfPath = "/etc/kdump.conf"

// ServiceHostname is the host name the first kernel sets in service mode; the capture
// names the dump directory after it.
const ServiceHostname = "gokdump-lab"

// Plan tells the guest what to do. The host writes it as JSON to Path.
type Plan struct {
	// Release is the kernel release the modules were taken from (a check: the guest
	// refuses to run a plan made for another kernel).
	Release string `json:"release"`
	// Modules are module files inside the initramfs, in load order (dependencies first).
	Modules []string `json:"modules"`
	// PageCacheMiB is the size of the file the guest writes to a tmpfs.
	PageCacheMiB int `json:"page_cache_mib"`
	// AnonMiB is the anonymous memory the guest allocates, touches and keeps.
	AnonMiB int `json:"anon_mib"`
	// StaleMiB is memory the guest fills and frees again before the rest of the
	// workload, so that free pages hold stale data: half text-like, half random
	// (already-compressed) bytes, alternating page by page.
	StaleMiB int `json:"stale_mib,omitempty"`
	// CaptureExtra is added to the capture kernel's command line.
	CaptureExtra []string `json:"capture_extra"`
	// Crash is how the first kernel crashes (CrashSysrq, CrashInitExit).
	Crash string `json:"crash"`
	// Capture is what the capture kernel does (CaptureRawTar or CaptureService).
	Capture string `json:"capture"`
	// KdumpConf is the kdump.conf of CaptureService.
	KdumpConf string `json:"kdump_conf,omitempty"`
	// DiskWaitSeconds bounds the wait for a disk to appear after its driver loads.
	DiskWaitSeconds int `json:"disk_wait_seconds"`
	// Setup runs in the first kernel, in order, after the workload and before arming;
	// AfterArm after arming and before the crash (a layout changed after arming, a
	// target made unreachable). See Command.
	Setup    []Command `json:"setup,omitempty"`
	AfterArm []Command `json:"after_arm,omitempty"`
	// Root, with CaptureService, arms as an installed machine does: "gokdump start"
	// runs chrooted into the file system on Root (see Root).
	Root *Root `json:"root,omitempty"`
	// Bench is the capture-kernel benchmark of CaptureBench.
	Bench *Bench `json:"bench,omitempty"`
}

// Command is one program the first kernel runs, without a shell: its output goes to
// the console, framed by "GOKDUMP-LAB run <phase>: <argv>" and "GOKDUMP-LAB ran
// <phase>: ok|failed ...". A failure (exit status, timeout) ends the run with an
// EventError line unless MayFail. Commands run with PATH=/usr/sbin:/usr/bin:/sbin:/bin,
// DM_DISABLE_UDEV=1 (no udev in the guest: lvm and libdevmapper make the /dev nodes
// themselves) and stdin /dev/null.
//
// Argv[0] is a program in the guest (a host program carried by package lab's
// Config.HostFiles, or plan.GokdumpPath) or a builtin (BuiltinMount, BuiltinUmount,
// BuiltinWipe, BuiltinWrite). Any argument may name a disk by its serial as DiskRef(serial),
// "{disk:SERIAL}": the guest waits (DiskWaitSeconds) for that disk and puts its /dev
// path in. (The /dev/vdX letters follow the order of QEMU's -drive options, the lab's
// own disks first, but serials do not depend on it.)
type Command struct {
	Argv []string `json:"argv"`
	// TimeoutSeconds bounds the command (default DefaultCommandTimeout, at most 1800):
	// at the deadline it is killed and counts as failed.
	TimeoutSeconds int  `json:"timeout_seconds,omitempty"`
	MayFail        bool `json:"may_fail,omitempty"`
}

// Cmd is a Command of argv with the default timeout.
func Cmd(argv ...string) Command { return Command{Argv: argv} }

// DefaultCommandTimeout is a Command's timeout when it names none, in seconds.
const DefaultCommandTimeout = 120

// Builtins the guest program runs itself (the guest has no shell and no util-linux).
const (
	// BuiltinMount DEVICE DIR FSTYPE [OPTIONS]: mount(2) DEVICE on DIR (created, 0755)
	// with the file system type and data options.
	BuiltinMount = "lab:mount"
	// BuiltinUmount DIR: umount(2).
	BuiltinUmount = "lab:umount"
	// BuiltinWipe DEVICE OFFSET LENGTH: write LENGTH zero bytes at byte OFFSET (decimal)
	// of DEVICE and fsync it. It opens the device without O_EXCL, so it reaches a disk
	// held by md or device-mapper: the way to make a member unreadable behind a running
	// array's back (its superblock wiped) after arming.
	BuiltinWipe = "lab:wipe"
	// BuiltinWrite FILE TEXT: write TEXT to FILE (created 0644, replaced) and fsync it:
	// a file the test finds unchanged on a volume after the capture.
	BuiltinWrite = "lab:write"
)

// builtinArgs is how many arguments (after the name) each builtin takes: min, max.
var builtinArgs = map[string][2]int{BuiltinMount: {3, 4}, BuiltinUmount: {1, 1}, BuiltinWipe: {3, 3}, BuiltinWrite: {2, 2}}

// DiskRef is how a Command's argument (or Root.Device) names the disk with this serial.
func DiskRef(serial string) string { return "{disk:" + serial + "}" }

// LVMConfig is the --config value lvm commands in the guest take: no udev to wait for
// or to ask for devices (the guest has none), lvm makes the /dev/VG/LV nodes itself.
// /etc/lvm may be absent: lvm then runs on its built-in defaults.
//
//	plan.Cmd("/sbin/lvm", "vgcreate", "--config", plan.LVMConfig, "vg0", plan.DiskRef("pv1"))
const LVMConfig = "activation{udev_sync=0 udev_rules=0} devices{obtain_device_list_from_udev=0}"

// Root is the root-on-disk mode of CaptureService (failure_action dump_to_rootfs needs
// a root file system that is a disk's, as on an installed machine). Before arming the
// guest mounts Device (DiskRef(serial) or a /dev path, e.g. an LV made by Setup) as
// FSType on RootMount, bind-mounts /proc, /sys and /dev into it, writes KdumpConf to
// its /etc/kdump.conf and runs its own /usr/sbin/gokdump as "gokdump start"
// chrooted into it, so that "/" in gokdump's /proc/self/mountinfo is that disk. The
// file system must hold what start reads: usr/sbin/gokdump, boot/vmlinuz (KernelPath),
// lib/modules/<release> (the module files, modules.builtin, modules.order) and
// boot/config-<release>: package lab's MakeRootDisk writes such a disk.
type Root struct {
	Device string `json:"device"`
	FSType string `json:"fstype"`
}

// RootMount is where the guest mounts Root.Device.
const RootMount = "/sysroot"

// Validate checks a plan read from outside.
func (p *Plan) Validate() error {
	switch {
	case p.Release == "":
		return fmt.Errorf("plan: no release")
	case p.PageCacheMiB < 0 || p.PageCacheMiB > 1<<16:
		return fmt.Errorf("plan: page_cache_mib %d out of range [0, 65536]", p.PageCacheMiB)
	case p.AnonMiB < 0 || p.AnonMiB > 1<<16:
		return fmt.Errorf("plan: anon_mib %d out of range [0, 65536]", p.AnonMiB)
	case p.StaleMiB < 0 || p.StaleMiB > 1<<16:
		return fmt.Errorf("plan: stale_mib %d out of range [0, 65536]", p.StaleMiB)
	case p.Crash != CrashSysrq && p.Crash != CrashInitExit && p.Crash != CrashNone:
		return fmt.Errorf("plan: unknown crash method %q (want %q, %q or %q)", p.Crash, CrashSysrq, CrashInitExit, CrashNone)
	case p.Capture != CaptureRawTar && p.Capture != CaptureService && p.Capture != CaptureNone && p.Capture != CaptureBench:
		return fmt.Errorf("plan: unknown capture action %q (want %q, %q, %q or %q)", p.Capture, CaptureRawTar, CaptureService, CaptureNone, CaptureBench)
	case (p.Capture == CaptureBench) != (p.Bench != nil):
		return fmt.Errorf("plan: bench goes with capture %q, and only with it", CaptureBench)
	case p.Capture == CaptureNone && p.Crash != CrashNone:
		return fmt.Errorf("plan: capture %q goes only with crash %q", CaptureNone, CrashNone)
	case p.Root != nil && p.Capture != CaptureService:
		return fmt.Errorf("plan: root goes with capture %q, and only with it", CaptureService)
	case p.Root != nil && (p.Root.Device == "" || p.Root.FSType == ""):
		return fmt.Errorf("plan: root needs a device and a file system type")
	case (p.Capture == CaptureService) != (p.KdumpConf != ""):
		return fmt.Errorf("plan: kdump_conf goes with capture %q, and only with it", CaptureService)
	case p.DiskWaitSeconds < 0 || p.DiskWaitSeconds > 600:
		return fmt.Errorf("plan: disk_wait_seconds %d out of range [0, 600]", p.DiskWaitSeconds)
	}
	for _, m := range p.Modules {
		if !strings.HasPrefix(m, "/") {
			return fmt.Errorf("plan: module path %q is not absolute", m)
		}
	}
	if p.Bench != nil {
		if err := p.Bench.validate(); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
	}
	if p.Root != nil {
		if _, err := diskRefs(p.Root.Device); err != nil {
			return fmt.Errorf("plan: root: %w", err)
		}
	}
	for phase, cmds := range map[string][]Command{"setup": p.Setup, "after_arm": p.AfterArm} {
		for i, c := range cmds {
			if err := c.validate(); err != nil {
				return fmt.Errorf("plan: %s[%d]: %w", phase, i, err)
			}
		}
	}
	return nil
}

func (c *Command) validate() error {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return fmt.Errorf("empty argv")
	}
	if c.TimeoutSeconds < 0 || c.TimeoutSeconds > 1800 {
		return fmt.Errorf("%s: timeout_seconds %d out of range [0, 1800]", c.Argv[0], c.TimeoutSeconds)
	}
	if n, ok := builtinArgs[c.Argv[0]]; ok {
		if len(c.Argv)-1 < n[0] || len(c.Argv)-1 > n[1] {
			return fmt.Errorf("%s takes %d to %d arguments, not %d", c.Argv[0], n[0], n[1], len(c.Argv)-1)
		}
	} else if strings.HasPrefix(c.Argv[0], "lab:") {
		return fmt.Errorf("unknown builtin %q", c.Argv[0])
	} else if !strings.HasPrefix(c.Argv[0], "/") {
		return fmt.Errorf("program %q is not an absolute path (the guest has no PATH search)", c.Argv[0])
	}
	for _, a := range c.Argv {
		if _, err := diskRefs(a); err != nil {
			return err
		}
	}
	return nil
}

// Timeout is the command's time bound in seconds.
func (c *Command) Timeout() int {
	if c.TimeoutSeconds == 0 {
		return DefaultCommandTimeout
	}
	return c.TimeoutSeconds
}

// diskRefs returns the serials an argument names with DiskRef.
func diskRefs(arg string) ([]string, error) {
	var serials []string
	for rest := arg; ; {
		i := strings.Index(rest, "{disk:")
		if i < 0 {
			return serials, nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("argument %q: unterminated {disk:", arg)
		}
		serial := rest[i+len("{disk:") : i+j]
		if serial == "" || len(serial) > 20 {
			return nil, fmt.Errorf("argument %q: disk serial %q is empty or longer than 20 bytes", arg, serial)
		}
		serials = append(serials, serial)
		rest = rest[i+j+1:]
	}
}

// ExpandDisks replaces each DiskRef in arg with what dev returns for its serial.
func ExpandDisks(arg string, dev func(serial string) (string, error)) (string, error) {
	serials, err := diskRefs(arg)
	if err != nil {
		return "", err
	}
	for _, s := range serials {
		d, err := dev(s)
		if err != nil {
			return "", err
		}
		arg = strings.Replace(arg, DiskRef(s), d, 1)
	}
	return arg, nil
}

// Read decodes and validates a plan (at most 1 MiB of JSON).
func Read(r io.Reader) (*Plan, error) {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan: %s: %w", Path, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Marshal encodes a plan for the initramfs.
func (p *Plan) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(p, "", "  ")
}

// Uname is the guest's uname(2), saved as FactsUname.
type Uname struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// Line formats one console line for the host.
func Line(format string, args ...any) string {
	return ConsolePrefix + " " + fmt.Sprintf(format, args...)
}

// ParseLine returns what follows ConsolePrefix on a console line, if it is one of ours.
// The kernel may interleave its own messages, so the prefix is searched anywhere.
func ParseLine(line string) (string, bool) {
	i := strings.Index(line, ConsolePrefix+" ")
	if i < 0 {
		return "", false
	}
	return strings.TrimRight(line[i+len(ConsolePrefix)+1:], "\r\n"), true
}
