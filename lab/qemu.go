package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// QEMU is the emulator the lab boots; `make deps` installs it (Debian qemu-system-x86).
const QEMU = "qemu-system-x86_64"

// vmSlots bounds how many guests this process runs at once: each TCG guest keeps a host
// core busy per virtual CPU, and the machines the lab runs on have two.
var vmSlots = make(chan struct{}, 2)

// Disk is one virtio disk of a guest: a raw image file on the host, found in the guest
// by its serial number (/sys/block/vdX/serial; at most 20 bytes).
type Disk struct {
	Path   string
	Serial string
}

// vm is one QEMU run.
type vm struct {
	kernel, initrd string
	cmdline        string
	cpu            string
	memoryMiB      int
	cpus           int
	memoryFile     string // guest RAM backed by this host file (shared) when set
	noReserve      bool   // guest RAM mapped with MAP_NORESERVE (Config.NoReserve)
	disks          []Disk
	net            *Net   // a virtio NIC on QEMU's restricted user network, when set
	console        string // file that receives the guest's serial console
	multiThread    bool   // TCG thread=multi: a host thread per vCPU (Config.MultiThreadTCG)
}

// Net is a guest's network: one virtio NIC (MAC NetMAC) on QEMU's user network with
// restrict=on, so the guest reaches nothing but what Forwards name: each a guestfwd
// rule from the guest's connections to GuestAddr:GuestPort to the host's
// 127.0.0.1:HostPort. No packet leaves the machine; servers the tests start bind
// 127.0.0.1 only. The guest may take 10.0.2.15/24 itself or ask QEMU's DHCP.
type Net struct {
	Forwards []Forward
}

// Forward is one guestfwd rule.
type Forward struct {
	GuestPort int // on NetServer
	HostPort  int // on 127.0.0.1
}

// The guest's view of the lab network (QEMU's user-network defaults).
const (
	NetMAC    = "52:54:00:12:34:56"
	NetGuest  = "10.0.2.15"  // the guest's address (also what QEMU's DHCP gives)
	NetServer = "10.0.2.100" // the address the forwards answer on
)

// netArgs are QEMU's options for n.
func (n *Net) netArgs() []string {
	nd := "user,id=n0,restrict=on"
	for _, f := range n.Forwards {
		nd += fmt.Sprintf(",guestfwd=tcp:%s:%d-tcp:127.0.0.1:%d", NetServer, f.GuestPort, f.HostPort)
	}
	return []string{"-netdev", nd, "-device", "virtio-net-pci,netdev=n0,mac=" + NetMAC}
}

// args is QEMU's command line for v. The machine is QEMU's default PC with no default
// devices (no NIC, no VGA): the only devices the guest sees are the serial console and
// the virtio disks, so nothing else slows the boot under TCG.
//
// TCG runs the guest's CPUs on one host thread (thread=single): with a thread per vCPU, a
// 6.12 guest once took "Oops: int3" in sched_clock_cpu while the kernel patched a static
// key, a breakpoint of text_poke that another vCPU still executed after the patch was
// done. Cross-modifying code is only exact when one thread runs all vCPUs. The lab runs
// several guests at once on a two-core host, so this costs little.
func (v *vm) args() []string {
	accel := "tcg,thread=single"
	if v.multiThread {
		accel = "tcg,thread=multi"
	}
	a := []string{
		"-accel", accel,
		"-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none",
		"-no-reboot",
		"-cpu", v.cpu,
		"-smp", strconv.Itoa(v.cpus),
		"-m", strconv.Itoa(v.memoryMiB),
		"-kernel", v.kernel,
		"-initrd", v.initrd,
		"-append", v.cmdline,
	}
	if v.memoryFile != "" {
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-file,id=ram0,size=%dM,mem-path=%s,share=on", v.memoryMiB, v.memoryFile),
			"-machine", "memory-backend=ram0")
	} else if v.noReserve {
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-ram,id=ram0,size=%dM,reserve=off", v.memoryMiB),
			"-machine", "memory-backend=ram0")
	}
	if v.net != nil {
		a = append(a, v.net.netArgs()...)
	}
	// -drive no longer takes serial= (QEMU 7.2); the virtio-blk device does.
	for i, d := range v.disks {
		a = append(a,
			"-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=disk%d", d.Path, i),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=disk%d,serial=%s", i, d.Serial))
	}
	return a
}

// run boots v and waits until QEMU exits (the guest powers off or reboots, which
// -no-reboot turns into an exit) or ctx ends, which kills QEMU.
func (v *vm) run(ctx context.Context) error {
	if _, err := exec.LookPath(QEMU); err != nil {
		return fmt.Errorf("lab: %s not found: `make deps` installs it (Debian package qemu-system-x86)", QEMU)
	}
	select {
	case vmSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("lab: waiting for a VM slot: %w", ctx.Err())
	}
	defer func() { <-vmSlots }()

	con, err := os.Create(v.console)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer con.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, QEMU, v.args()...)
	cmd.Stdout = con
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("lab: QEMU killed after %s: %w", time.Since(start).Round(time.Second), ctx.Err())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("lab: %s exited with %v: %s", QEMU, err, strings.TrimSpace(stderr.String()))
		}
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// makeDisk creates a sparse raw disk image of size bytes.
func makeDisk(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("lab: %w", err)
	}
	return f.Close()
}
