//go:build !linux

package volume

import "errors"

// LinuxKernel returns a Kernel whose every call fails: device-mapper and md are Linux's.
func LinuxKernel() Kernel { return otherKernel{} }

type otherKernel struct{}

var errNotLinux = errors.New("volume: block device stacks are brought up on Linux only")

func (otherKernel) BlockDevices() ([]BlockDevice, error)   { return nil, errNotLinux }
func (otherKernel) Open(BlockDevice) (ReadAtCloser, error) { return nil, errNotLinux }
func (otherKernel) AssembleArray(*Array, []BlockDevice) (BlockDevice, error) {
	return BlockDevice{}, errNotLinux
}
func (otherKernel) MapLV(string, string, []DMTarget) (string, error) { return "", errNotLinux }

// DescribeDevice is Linux's.
func DescribeDevice(path string) (*Stack, error) { return nil, errNotLinux }
