package capture

import "golang.org/x/sys/unix"

// Kernel is the real machine: every action flushes the disks first, then asks the
// kernel (reboot(2)). Halt stops the CPUs without powering off.
type Kernel struct{}

func (Kernel) Reboot() error   { return kernelReboot(unix.LINUX_REBOOT_CMD_RESTART) }
func (Kernel) Halt() error     { return kernelReboot(unix.LINUX_REBOOT_CMD_HALT) }
func (Kernel) PowerOff() error { return kernelReboot(unix.LINUX_REBOOT_CMD_POWER_OFF) }

func kernelReboot(cmd int) error {
	unix.Sync()
	return unix.Reboot(cmd)
}
