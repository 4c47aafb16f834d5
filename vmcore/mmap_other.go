//go:build !linux

package vmcore

import (
	"io"
	"os"
)

func sysMmap(fd int, off int64, length int) ([]byte, error) { return nil, errNoMmap }

func sysMunmap(b []byte) error { return errNoMmap }

func fileReader(fd *os.File, size int64) (io.ReaderAt, io.Closer) { return fd, nil }
