// Package kexec arms a capture kernel: it loads a kernel and initramfs into the
// memory reserved with crashkernel= using kexec_file_load with KEXEC_FILE_ON_CRASH
// (the kernel then builds the ELF core headers itself and adds elfcorehdr= to the
// capture command line), reads the arming state from sysfs, and derives the capture
// kernel's command line from the running one.
//
// kexec_file_load is the only kexec call allowed under Secure Boot and lockdown (the
// image signature is checked by the kernel), and it spares user space from building
// the core headers, so the older kexec_load is not used.
//
//	cmdline := kexec.CaptureCmdline(current, nil)
//	err := kexec.LoadCrash("/boot/vmlinuz-"+release, "/var/lib/gokdump/initrd.img", cmdline)
package kexec

import "fmt"

// LoadError is a capture kernel the kernel refused to load.
type LoadError struct {
	Op   string // "load" or "unload"
	Err  error  // the errno
	Hint string // what to do about it
}

func (e *LoadError) Error() string {
	msg := fmt.Sprintf("kexec: %s capture kernel: %v", e.Op, e.Err)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

func (e *LoadError) Unwrap() error { return e.Err }

// NoReservationHint is the fix for a kernel started without crashkernel=.
const NoReservationHint = "no memory reserved for a capture kernel: add crashkernel=256M to the kernel command line and reboot"
