package kmod

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// LoadFile loads the module file path (.ko, .ko.xz, .ko.zst or .ko.gz) with
// finit_module. A compressed file is first offered to the kernel as is with
// MODULE_INIT_COMPRESSED_FILE (kernel 6.x built with CONFIG_MODULE_DECOMPRESS, as
// Debian's 6.12 is); when the kernel cannot decompress it, the module is
// decompressed here and passed to init_module.
func LoadFile(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kmod: %w", err)
	}
	defer f.Close()
	var head [6]byte
	n, _ := io.ReadFull(f, head[:])
	comp, ok := detect(head[:n])
	if !ok {
		return &Error{path, 0, fmt.Sprintf("not an ELF module nor xz, zstd or gzip compressed (starts with % x)", head[:n])}
	}
	if comp == compNone {
		return loadResult(path, unix.FinitModule(int(f.Fd()), params, 0))
	}
	err = unix.FinitModule(int(f.Fd()), params, unix.MODULE_INIT_COMPRESSED_FILE)
	// EINVAL: the kernel predates the flag (before 6.4); EOPNOTSUPP: built without
	// CONFIG_MODULE_DECOMPRESS; ENOEXEC: built without this compression format.
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOEXEC) {
		return loadResult(path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("kmod: %w", err)
	}
	img, err := decompress(path, f, comp)
	if err != nil {
		return err
	}
	return loadResult(path, unix.InitModule(img, params))
}

// loadResult turns a module syscall's result into ours: already loaded is fine,
// other errors get a hint.
func loadResult(path string, err error) error {
	if err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	}
	var hint string
	switch {
	case errors.Is(err, unix.EPERM):
		hint = "needs CAP_SYS_MODULE; module loading may be disabled (kernel.modules_disabled) or refused by lockdown or module signature enforcement"
	case errors.Is(err, unix.EKEYREJECTED):
		hint = "the module's signature was rejected: it is not signed by a key the kernel trusts"
	case errors.Is(err, unix.ENOEXEC):
		hint = "not a valid module for this kernel: built for another kernel version or configuration (check vermagic), or corrupt"
	case errors.Is(err, unix.ENOENT):
		hint = "unknown symbol: a dependency is not loaded (see the kernel log)"
	case errors.Is(err, unix.EINVAL):
		hint = "invalid module or parameters (see the kernel log)"
	case errors.Is(err, unix.ENOMEM):
		hint = "not enough memory"
	}
	return &LoadError{Path: path, Err: err, Hint: hint}
}
