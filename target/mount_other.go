//go:build !linux

package target

func mount(dev, dir, fstype, data string) error { return ErrNotSupported }

func unmount(dir string) error { return ErrNotSupported }
