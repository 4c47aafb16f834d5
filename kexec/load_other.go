//go:build !(linux && (amd64 || arm64 || arm || loong64 || ppc || ppc64 || ppc64le || riscv64 || s390x))

package kexec

// LoadCrash loads a capture kernel; it needs Linux with kexec_file_load.
func LoadCrash(kernelPath, initrdPath, cmdline string) error { return ErrNotSupported }

// UnloadCrash unloads the capture kernel; it needs Linux with kexec_file_load.
func UnloadCrash() error { return ErrNotSupported }
