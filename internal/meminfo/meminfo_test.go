package meminfo

import (
	"strings"
	"testing"
)

func TestField(t *testing.T) {
	data := []byte("MemTotal:        2017600 kB\nMemFree:          123 kB\nMemAvailable:    1024 kB\nHugePages_Total:       0\n")
	if n, err := Field(data, "m", "MemTotal"); err != nil || n != 2017600<<10 {
		t.Errorf("MemTotal: %d %v", n, err)
	}
	if n, err := Field(data, "m", "MemAvailable"); err != nil || n != 1<<20 {
		t.Errorf("MemAvailable: %d %v", n, err)
	}
	for _, c := range []struct{ data, key, want string }{
		{"MemTotal: x kB\n", "MemTotal", "m: line 1"},
		{"MemTotal: 12\n", "MemTotal", "want \"MemTotal: N kB\""},
		{"MemFree: 1 kB\n", "MemAvailable", "m: no MemAvailable line"},
		{"MemTotal: -1 kB\n", "MemTotal", "line 1"},
	} {
		if _, err := Field([]byte(c.data), "m", c.key); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.data, err, c.want)
		}
	}
}

func FuzzField(f *testing.F) {
	f.Add([]byte("MemTotal: 1 kB\n"), "MemTotal")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		if n, err := Field(data, "m", key); err == nil && n < 0 {
			t.Fatalf("negative %d", n)
		}
	})
}
