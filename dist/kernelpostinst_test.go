package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const kernelPostinstHook = "gokdump-crashkernel.postinst"

// TestKernelPostinstHook runs the Debian kernel hook as run-parts does (VERSION
// IMAGE-PATH, DEB_MAINT_PARAMS set) with a stand-in gokdump first on PATH: it calls
// "gokdump crashkernel --auto --kernel-version VERSION" on configure, not when the
// package's installation is being aborted or without a version; a failing gokdump
// does not fail the kernel's installation; a missing gokdump is no error.
func TestKernelPostinstHook(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	hook, err := filepath.Abs(kernelPostinstHook)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(hook); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("%s: %v: want an executable file", kernelPostinstHook, err)
	}
	// run-parts refuses names with dots: the installed name must not have one.
	if data, _ := os.ReadFile(hook); !strings.Contains(string(data), "/etc/kernel/postinst.d/gokdump-crashkernel\n") {
		t.Error("the hook does not name where it is installed")
	}
	for _, tc := range []struct {
		name    string
		args    []string
		params  string
		exit    int
		noTool  bool
		want    string
		wantOut string
	}{
		{name: "configure", args: []string{"6.1.0-28-amd64", "/boot/vmlinuz-6.1.0-28-amd64"}, params: "configure",
			want: "crashkernel --auto --kernel-version 6.1.0-28-amd64\n"},
		{name: "no DEB_MAINT_PARAMS", args: []string{"6.12.57+deb13-amd64", "/boot/vmlinuz-6.12.57+deb13-amd64"},
			want: "crashkernel --auto --kernel-version 6.12.57+deb13-amd64\n"},
		{name: "failing", args: []string{"6.1.0-28-amd64", "/boot/vmlinuz"}, params: "configure", exit: 1,
			want: "crashkernel --auto --kernel-version 6.1.0-28-amd64\n", wantOut: "crashkernel= left as it is"},
		{name: "odd release", args: []string{"6.1.0 $(touch pwned); x", "/boot/vmlinuz"}, params: "configure",
			want: "crashkernel --auto --kernel-version 6.1.0 $(touch pwned); x\n"},
		{name: "abort-configure", args: []string{"6.1.0-28-amd64", "/boot/vmlinuz"}, params: "abort-configure"},
		{name: "abort-upgrade", args: []string{"6.1.0-28-amd64", "/boot/vmlinuz"}, params: "abort-upgrade 6.1.0-27"},
		{name: "no version", args: nil, params: "configure"},
		{name: "gokdump removed", args: []string{"6.1.0-28-amd64", "/boot/vmlinuz"}, params: "configure", noTool: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"PATH=$DIR:/usr/bin:/bin"}
			if tc.params != "" {
				env = append(env, "DEB_MAINT_PARAMS="+tc.params)
			}
			out, got, err := runHookWithStandIn(t, sh, hook, tc.args, env, tc.exit, !tc.noTool)
			if err != nil {
				t.Errorf("hook exits %v, want 0 (a kernel install must not fail over crashkernel)\n%s", err, out)
			}
			if got != tc.want {
				t.Errorf("gokdump called with %q, want %q", got, tc.want)
			}
			if !strings.Contains(out, tc.wantOut) || (tc.wantOut == "" && len(out) > 0) {
				t.Errorf("output %q, want %q", out, tc.wantOut)
			}
		})
	}
}
