package target

import (
	"errors"

	"golang.org/x/sys/unix"
)

func mount(dev, dir, fstype, data string) error {
	return unix.Mount(dev, dir, fstype, unix.MS_NOATIME, data)
}

func unmount(dir string) error {
	unix.Sync()
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	return err
}
