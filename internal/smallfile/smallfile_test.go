package smallfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(p, 5); err != nil || string(b) != "12345" {
		t.Errorf("Read at the limit: %q, %v", b, err)
	}
	if _, err := Read(p, 4); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Read over the limit: %v, want an error naming the file", err)
	}
	if b, err := Read("/proc/self/stat", 1<<16); err != nil || len(b) == 0 {
		t.Errorf("Read of a /proc file (stat size 0): %d bytes, %v", len(b), err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none"), 5); !os.IsNotExist(err) {
		t.Errorf("Read of a missing file: %v", err)
	}
}
