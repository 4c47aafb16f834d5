//go:build !linux

package kmod

// LoadFile loads a module file; only Linux has kernel modules.
func LoadFile(path, params string) error { return ErrNotSupported }
