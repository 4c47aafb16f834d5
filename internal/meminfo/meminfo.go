// Package meminfo reads one field of /proc/meminfo ("MemTotal:  1234 kB") for the
// first kernel's estimate and the capture's memory watch. It is not a parser of the
// whole file.
package meminfo

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Field returns key's value in bytes from data, a /proc/meminfo (name names it in
// errors). Only the first 200 lines are looked at: the kernel writes about 50.
func Field(data []byte, name, key string) (int64, error) {
	for n, line := range bytes.SplitN(data, []byte("\n"), 201) {
		if n == 200 {
			break
		}
		v, ok := strings.CutPrefix(string(line), key+":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			if kib, err := strconv.ParseInt(f[0], 10, 64); err == nil && kib >= 0 && kib < 1<<53 {
				return kib << 10, nil
			}
		}
		return 0, fmt.Errorf("%s: line %d: %q, want %q", name, n+1, line, key+": N kB")
	}
	return 0, fmt.Errorf("%s: no %s line", name, key)
}
