//go:build !linux

package target

// MountPoint returns where the block device at devPath is mounted; only Linux says.
func MountPoint(devPath string) (string, error) { return "", errNotSupported }
