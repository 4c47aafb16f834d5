package kmod

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadFileRefusesNonModules checks that a file that is no module is refused
// before any syscall (loading real modules is left to the lab, which runs in a VM:
// a test must not change the host kernel).
func TestLoadFileRefusesNonModules(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "junk.ko"), []byte("#!/bin/sh\n"))
	err := LoadFile(p, "")
	if err == nil || !strings.Contains(err.Error(), "not an ELF module") || !strings.Contains(err.Error(), p) {
		t.Errorf("LoadFile(junk) = %v", err)
	}
	if err := LoadFile(filepath.Join(t.TempDir(), "missing.ko"), ""); err == nil {
		t.Error("LoadFile(missing) succeeded")
	}
}
