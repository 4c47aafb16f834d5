//go:build linux && (amd64 || arm64 || arm || loong64 || ppc || ppc64 || ppc64le || riscv64 || s390x)

package kexec

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// LoadCrash loads kernelPath (a bzImage on x86_64) and initrdPath ("" for none)
// as the capture kernel with command line cmdline, replacing a capture kernel
// loaded before. The kernel prepends elfcorehdr= to cmdline itself.
func LoadCrash(kernelPath, initrdPath, cmdline string) error {
	kernel, err := os.Open(kernelPath)
	if err != nil {
		return fmt.Errorf("kexec: capture kernel: %w", err)
	}
	defer kernel.Close()
	flags := unix.KEXEC_FILE_ON_CRASH
	initrdFd := -1
	if initrdPath == "" {
		flags |= unix.KEXEC_FILE_NO_INITRAMFS
	} else {
		initrd, err := os.Open(initrdPath)
		if err != nil {
			return fmt.Errorf("kexec: capture initramfs: %w", err)
		}
		defer initrd.Close()
		initrdFd = int(initrd.Fd())
	}
	err = unix.KexecFileLoad(int(kernel.Fd()), initrdFd, cmdline, flags)
	if err == nil {
		return nil
	}
	st, stErr := ReadState()
	return &LoadError{Op: "load", Err: err, Hint: loadHint(err, st, stErr == nil, len(cmdline))}
}

// UnloadCrash unloads the capture kernel. Unloading when none is loaded succeeds.
func UnloadCrash() error {
	err := unix.KexecFileLoad(-1, -1, "", unix.KEXEC_FILE_UNLOAD|unix.KEXEC_FILE_ON_CRASH)
	if err == nil {
		return nil
	}
	st, stErr := ReadState()
	return &LoadError{Op: "unload", Err: err, Hint: loadHint(err, st, stErr == nil, 0)}
}

// loadHint explains a kexec_file_load failure. A kernel without a crashkernel=
// reservation fails with various errors (ENOMEM, EBUSY, EADDRNOTAVAIL, ...
// depending on version), so a zero reservation is checked before the errno.
func loadHint(err error, st State, stateKnown bool, cmdlineLen int) string {
	switch {
	case errors.Is(err, unix.ENOSYS):
		return "the kernel was built without kexec_file_load (CONFIG_KEXEC_FILE)"
	case errors.Is(err, unix.EPERM):
		return "needs CAP_SYS_BOOT; kexec may be disabled by sysctl kernel.kexec_load_disabled=1 (only a reboot re-enables it) or by kernel lockdown"
	case errors.Is(err, unix.EKEYREJECTED), errors.Is(err, unix.ENOKEY), errors.Is(err, unix.EBADMSG):
		return "the kernel image's signature was not accepted: with Secure Boot or lockdown the capture kernel must be signed by a key the running kernel trusts (use the distribution's signed vmlinuz)"
	case stateKnown && st.CrashSize == 0:
		return NoReservationHint
	case errors.Is(err, unix.EBUSY):
		return "another kexec load or crash is in progress; try again"
	case (errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EADDRNOTAVAIL)) && !stateKnown:
		return "the capture kernel and initramfs do not fit in the memory reserved with crashkernel= (if any: the reservation could not be read from /sys)"
	case errors.Is(err, unix.ENOMEM), errors.Is(err, unix.EADDRNOTAVAIL):
		return fmt.Sprintf("the capture kernel and initramfs do not fit in the %d MiB reserved with crashkernel=: reserve more or make the initramfs smaller", st.CrashSize>>20)
	case errors.Is(err, unix.ENOEXEC):
		return "not a kernel image kexec_file_load can load (on x86_64 it must be a 64-bit bzImage)"
	case errors.Is(err, unix.EINVAL):
		return fmt.Sprintf("invalid request: the %d-byte command line may be too long once the kernel adds elfcorehdr= (x86_64 allows 2047 bytes), or the image is not a loadable kernel", cmdlineLen)
	}
	return ""
}
