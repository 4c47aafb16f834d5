package vmcore

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

func sysMmap(fd int, off int64, length int) ([]byte, error) {
	return unix.Mmap(fd, off, length, unix.PROT_READ, unix.MAP_PRIVATE)
}

func sysMunmap(b []byte) error { return unix.Munmap(b) }

// procSuperMagic is procfs's statfs f_type.
const procSuperMagic = 0x9fa0

// fileReader is how Open reads fd: a file on procfs (/proc/vmcore) through
// MmapReader, anything else with pread. The closer, when not nil, goes before fd's.
func fileReader(fd *os.File, size int64) (io.ReaderAt, io.Closer) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(fd.Fd()), &st); err != nil || st.Type != procSuperMagic || size < pageSize {
		return fd, nil
	}
	r := NewMmapReader(fd, size, DefaultWindow)
	return r, r
}
