package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const kernelInstallHook = "92-gokdump-crashkernel.install"

// TestKernelInstallHook runs the kernel-install plugin with a stand-in gokdump first
// on PATH: on "add" it calls "gokdump crashkernel --auto --kernel-version RELEASE"
// (gokdump itself reads auto_reset_crashkernel), never on "remove" or other commands,
// and a failing gokdump does not fail the kernel's installation.
func TestKernelInstallHook(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	hook, err := filepath.Abs(kernelInstallHook)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(hook); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s: %v, mode %v: want an executable file", kernelInstallHook, err, st.Mode())
	}
	for _, tc := range []struct {
		name string
		args []string
		exit int    // the stand-in's exit code
		want string // its logged argv, "" for not called
	}{
		{"add", []string{"add", "6.1.0-28-amd64", "/boot/efi/x/6.1.0-28-amd64", "/boot/vmlinuz-6.1.0-28-amd64"}, 0,
			"crashkernel --auto --kernel-version 6.1.0-28-amd64\n"},
		{"add failing", []string{"add", "6.12.0-1.fc41.x86_64", "/boot/x", "/boot/vmlinuz"}, 1,
			"crashkernel --auto --kernel-version 6.12.0-1.fc41.x86_64\n"},
		{"add odd release", []string{"add", "6.1.0 $(touch pwned); x", "/boot/x", "/boot/vmlinuz"}, 0,
			"crashkernel --auto --kernel-version 6.1.0 $(touch pwned); x\n"},
		{"remove", []string{"remove", "6.1.0-28-amd64", "/boot/x"}, 0, ""},
		{"inspect", []string{"inspect", "6.1.0-28-amd64"}, 0, ""},
		{"no release", []string{"add"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, got, err := runHookWithStandIn(t, sh, hook, tc.args, append(os.Environ(), "PATH=$DIR:"+os.Getenv("PATH")), tc.exit, true)
			if err != nil {
				t.Errorf("hook exits %v, want 0 (a kernel install must not fail over crashkernel)\n%s", err, out)
			}
			if got != tc.want {
				t.Errorf("gokdump called with %q, want %q", got, tc.want)
			}
			if tc.exit != 0 && !strings.Contains(out, "crashkernel= left as it is") {
				t.Errorf("failure not reported: %q", out)
			}
		})
	}
}

// runHookWithStandIn runs hook with sh and args in a temporary directory, with env
// ("$DIR" in it standing for that directory, where a stand-in gokdump exiting with
// exit is put unless tool is false). It returns the hook's output, the stand-in's
// argv lines, and the hook's error; it fails t when the hook let the shell run a
// release string (the "$(touch pwned)" cases).
func runHookWithStandIn(t *testing.T, sh, hook string, args, env []string, exit int, tool bool) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	if tool {
		stand := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done | paste -sd ' ' >> " + log + "\nexit " + strconv.Itoa(exit) + "\n"
		if err := os.WriteFile(filepath.Join(dir, "gokdump"), []byte(stand), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sh, append([]string{hook}, args...)...)
	cmd.Dir = dir
	for _, e := range env {
		cmd.Env = append(cmd.Env, strings.ReplaceAll(e, "$DIR", dir))
	}
	out, err := cmd.CombinedOutput()
	got, _ := os.ReadFile(log)
	if _, serr := os.Stat(filepath.Join(dir, "pwned")); serr == nil {
		t.Error("the release was run by the shell")
	}
	return string(out), string(got), err
}
