//go:build !linux

package kmod

import (
	"errors"
	"fmt"
)

// errNotSupported: no module loading here (errors.Is finds errors.ErrUnsupported).
var errNotSupported = fmt.Errorf("kmod: loading modules needs Linux: %w", errors.ErrUnsupported)

// LoadFile loads a module file; only Linux has kernel modules.
func LoadFile(path, params string) error { return errNotSupported }
