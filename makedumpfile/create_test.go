package makedumpfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreate(t *testing.T) {
	name := filepath.Join(t.TempDir(), "out")
	f, err := Create(name, false)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("dump")
	f.Close()
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi, err)
	}
	if _, err := Create(name, false); err == nil || !strings.Contains(err.Error(), "use -f") {
		t.Errorf("existing file: %v", err)
	}
	f, err = Create(name, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(name); len(b) != 0 {
		t.Errorf("-f left %q", b)
	}
}
