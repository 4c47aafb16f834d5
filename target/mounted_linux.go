package target

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountPoint returns where the block device at devPath is mounted in this process's
// mount namespace (its file system's root), or ErrNotMounted.
func MountPoint(devPath string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(devPath, &st); err != nil {
		return "", fmt.Errorf("target: %s: %w", devPath, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("target: %s is not a block device", devPath)
	}
	const mi = "/proc/self/mountinfo"
	f, err := os.Open(mi)
	if err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	defer f.Close()
	mp, err := mountPointIn(f, mi, fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, devPath)
	}
	return mp, nil
}
