package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/internal/testenv"
)

// TestVmcoreDmesgName runs gokdump as "vmcore-dmesg" and kexec-tools' vmcore-dmesg on
// the same inputs: the same standard output, standard error and exit code, for a dump
// with a log, one without, a missing file, a file that is not ELF, a short file, and
// bad usage.
func TestVmcoreDmesgName(t *testing.T) {
	real := testenv.NeedTool(t, "vmcore-dmesg", "kexec-tools")
	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	_, withLog := synth.Temp(t, cfg)
	_, noLog := synth.Temp(t, synth.Default())
	dir := t.TempDir()
	notELF := filepath.Join(dir, "text")
	os.WriteFile(notELF, []byte("this is not a vmcore at all\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("\x7fELF"), 0o600)
	badVersion := filepath.Join(dir, "badversion")
	os.WriteFile(badVersion, []byte("\x7fELF\x02\x01\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0o600)

	for _, args := range [][]string{
		{withLog},
		{noLog},
		{filepath.Join(dir, "missing")},
		{notELF},
		{short},
		{badVersion},
		{},
		{withLog, noLog},
	} {
		cmd := exec.Command(real, args...)
		var wo, we bytes.Buffer
		cmd.Stdout, cmd.Stderr = &wo, &we
		wantCode := 0
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatal(err)
			}
			wantCode = ee.ExitCode()
		}
		code, stdout, stderr := runAs(t, real, nil, args...)
		if code != wantCode || stdout != wo.String() || stderr != we.String() {
			t.Errorf("%q: exit %d, %d bytes out, stderr %q; vmcore-dmesg: exit %d, %d bytes out, stderr %q",
				args, code, len(stdout), stderr, wantCode, wo.Len(), we.String())
		}
		if len(args) == 1 && args[0] == withLog && (wantCode != 0 || wo.Len() < 500) {
			t.Errorf("vmcore-dmesg printed %d bytes of log (exit %d): the comparison shows nothing", wo.Len(), wantCode)
		}
	}
}
