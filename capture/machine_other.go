//go:build !linux

package capture

import "errors"

// Kernel is the real machine; only Linux has one to act on.
type Kernel struct{}

var errNoMachine = errors.New("capture: reboot, halt and power off need Linux")

func (Kernel) Reboot() error   { return errNoMachine }
func (Kernel) Halt() error     { return errNoMachine }
func (Kernel) PowerOff() error { return errNoMachine }
