//go:build linux && (amd64 || arm64 || arm || loong64 || ppc || ppc64 || ppc64le || riscv64 || s390x)

package kexec

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLoadHint(t *testing.T) {
	reserved := State{CrashSize: 256 << 20}
	tests := []struct {
		err   error
		st    State
		known bool
		want  string
	}{
		{unix.ENOMEM, State{}, true, "add crashkernel=256M"},
		{unix.EBUSY, State{}, true, "add crashkernel=256M"},
		{unix.EADDRNOTAVAIL, State{}, true, "add crashkernel=256M"},
		{unix.ENOMEM, reserved, true, "do not fit in the 256 MiB"},
		{unix.EBUSY, reserved, true, "in progress"},
		{unix.EPERM, State{}, true, "lockdown"},
		{unix.EKEYREJECTED, reserved, true, "signature"},
		{unix.ENOEXEC, reserved, true, "bzImage"},
		{unix.EINVAL, reserved, true, "command line may be too long"},
		{unix.ENOSYS, State{}, false, "CONFIG_KEXEC_FILE"},
		{unix.ENOMEM, State{}, false, "could not be read"}, // state unreadable: no claim about the reservation
	}
	for _, tt := range tests {
		if got := loadHint(tt.err, tt.st, tt.known, 100); !strings.Contains(got, tt.want) {
			t.Errorf("loadHint(%v, %+v, %v) = %q, want it to contain %q", tt.err, tt.st, tt.known, got, tt.want)
		}
	}
}

func TestLoadCrashMissingFiles(t *testing.T) {
	dir := t.TempDir()
	if err := LoadCrash(dir+"/vmlinuz", "", ""); err == nil || !strings.Contains(err.Error(), "capture kernel") {
		t.Errorf("missing kernel: %v", err)
	}
}
