package service

import (
	"bytes"
	"testing"
)

// FuzzBtime feeds arbitrary text to the /proc/stat parser.
func FuzzBtime(f *testing.F) {
	f.Add([]byte("cpu  1 2 3\nbtime 1700000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bt, err := parseBtime(bytes.NewReader(data), "stat")
		if err == nil && bt.Unix() < 0 {
			t.Fatalf("negative boot time %v", bt)
		}
	})
}
