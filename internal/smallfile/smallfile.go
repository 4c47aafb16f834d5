// Package smallfile reads small files whole, such as those of /proc and /sys, whose
// stat size is 0 and so cannot bound the read: the caller's limit does.
package smallfile

import (
	"fmt"
	"io"
	"os"
)

// Read returns the contents of the file at path, or an error naming it when the file
// holds more than limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
