//go:build !(linux && (amd64 || arm64 || arm || loong64 || ppc || ppc64 || ppc64le || riscv64 || s390x))

package kexec

import (
	"errors"
	"fmt"
)

// errNotSupported: no kexec_file_load here (errors.Is finds errors.ErrUnsupported).
var errNotSupported = fmt.Errorf("kexec: kexec_file_load is not available on this system: %w", errors.ErrUnsupported)

// LoadCrash loads a capture kernel; it needs Linux with kexec_file_load.
func LoadCrash(kernelPath, initrdPath, cmdline string) error { return errNotSupported }

// UnloadCrash unloads the capture kernel; it needs Linux with kexec_file_load.
func UnloadCrash() error { return errNotSupported }
