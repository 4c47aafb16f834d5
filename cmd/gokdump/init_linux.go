package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokdump/gokdump/lab/plan"
)

// initProcess is PID 1's work: the basic mounts, then the job this initramfs holds.
// It does not return when the job ends: the machine powers off.
func initProcess(ctx context.Context, e *env) error {
	if os.Getpid() != 1 {
		return errors.New("must run as PID 1 of an initramfs (it powers the machine off when done)")
	}
	err := mountBasics()
	if err == nil {
		if _, serr := os.Stat(plan.Path); serr == nil {
			err = runLabGuest(ctx, e.stdout)
		} else if isCaptureService() {
			err = runCaptureService(ctx, e.stdout)
		} else {
			err = fmt.Errorf("no job: neither the lab plan %s nor a kdump configuration with /proc/vmcore is in this initramfs", plan.Path)
		}
	}
	if err != nil {
		fmt.Fprintln(e.stdout, plan.Line("%s %v", plan.EventError, err))
	}
	return powerOff(e.stdout)
}

// mountBasics mounts what every later step reads: /proc, /sys and a devtmpfs on /dev
// (so disks appear as /dev/vdX without a device manager).
func mountBasics() error {
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID|unix.MS_NOEXEC, "")
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

// powerOff flushes every disk and powers the machine off. It returns only if the
// kernel refused; PID 1 then exits, the kernel panics and panic= reboots it.
func powerOff(console io.Writer) error {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(console, "gokdump init: power off: %v\n", err)
	time.Sleep(time.Second)
	return fmt.Errorf("power off: %w", err)
}
