package target

import (
	"errors"
	"fmt"
	"io"

	"github.com/gokdump/gokdump/internal/mountinfo"
)

// ErrNotMounted is returned by MountPoint for a device no file system is mounted from.
var ErrNotMounted = errors.New("target: not mounted")

// mountPointIn returns the first mount point in a mountinfo file (proc(5)) whose
// device number is majMin ("254:16") and whose root is the file system's root.
func mountPointIn(r io.Reader, name, majMin string) (string, error) {
	ms, err := mountinfo.Parse(r, name)
	if err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	for _, m := range ms {
		if m.MajMin == majMin && m.Root == "/" {
			return m.Point, nil
		}
	}
	return "", ErrNotMounted
}
