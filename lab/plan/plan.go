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
}

// Validate checks a plan read from outside.
func (p *Plan) Validate() error {
	switch {
	case p.Release == "":
		return fmt.Errorf("plan: no release")
	case p.PageCacheMiB < 0 || p.PageCacheMiB > 1<<16:
		return fmt.Errorf("plan: page_cache_mib %d out of range [0, 65536]", p.PageCacheMiB)
	case p.AnonMiB < 0 || p.AnonMiB > 1<<16:
		return fmt.Errorf("plan: anon_mib %d out of range [0, 65536]", p.AnonMiB)
	case p.Crash != CrashSysrq && p.Crash != CrashInitExit:
		return fmt.Errorf("plan: unknown crash method %q (want %q or %q)", p.Crash, CrashSysrq, CrashInitExit)
	case p.Capture != CaptureRawTar && p.Capture != CaptureService:
		return fmt.Errorf("plan: unknown capture action %q (want %q or %q)", p.Capture, CaptureRawTar, CaptureService)
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
	return nil
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
