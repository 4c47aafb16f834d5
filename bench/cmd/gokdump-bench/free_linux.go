package main

import "golang.org/x/sys/unix"

// freeBytes is the space an unprivileged writer has on the file system holding path.
func freeBytes(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
