//go:build !linux

package target

import (
	"errors"
	"fmt"
)

// errNotSupported: no mounting here (errors.Is finds errors.ErrUnsupported).
var errNotSupported = fmt.Errorf("target: mounting file systems needs Linux: %w", errors.ErrUnsupported)

func mount(dev, dir, fstype, data string) error { return errNotSupported }

func unmount(dir string) error { return errNotSupported }
