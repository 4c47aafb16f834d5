package pid1

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// MountBasics mounts what every later step reads: /proc, /sys and a devtmpfs on /dev
// (so disks appear as /dev/vdX without a device manager).
func MountBasics() error {
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

// PowerOff flushes every disk and powers the machine off. It returns only if the
// kernel refused, after saying so on console as "<who>: power off: <error>"; PID 1
// then exits, the kernel panics and panic= reboots it.
func PowerOff(console io.Writer, who string) error {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(console, "%s: power off: %v\n", who, err)
	// Give the console a moment to print that before PID 1's exit panics the kernel.
	time.Sleep(time.Second)
	return fmt.Errorf("power off: %w", err)
}
