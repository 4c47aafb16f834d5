package makedumpfile

import (
	"errors"
	"fmt"
	"os"
)

// Create creates an output file as makedumpfile does: mode 0600, refusing an existing
// file unless force (-f) is set, in which case it is truncated.
func Create(name string, force bool) (*os.File, error) {
	flags := os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(name, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s exists: not overwriting it (use -f to overwrite)", name)
	}
	return f, err
}
