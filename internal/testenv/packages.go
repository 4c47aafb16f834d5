package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// NeedPackages makes sure that every file in need (an absolute path, such as a C
// header) or tool (a name looked up on PATH) exists, each mapped to the Debian package
// that provides it. Missing ones are installed with apt-get, after an apt-get update
// when the first attempt fails, as `make deps` would; the test fails, naming the fix,
// when something is still missing.
func NeedPackages(t testing.TB, need map[string]string) {
	t.Helper()
	missing := func() []string {
		var pkgs []string
		for what, pkg := range need {
			var err error
			if filepath.IsAbs(what) {
				_, err = os.Stat(what)
			} else {
				_, err = exec.LookPath(what)
			}
			if err != nil && !slices.Contains(pkgs, pkg) {
				pkgs = append(pkgs, pkg)
			}
		}
		slices.Sort(pkgs)
		return pkgs
	}
	pkgs := missing()
	if len(pkgs) == 0 {
		return
	}
	if aptInstall(t, pkgs...) != nil {
		if out, err := exec.Command("apt-get", "update", "-q").CombinedOutput(); err != nil {
			t.Logf("apt-get update: %v\n%s", err, out)
		}
		aptInstall(t, pkgs...)
	}
	if pkgs := missing(); len(pkgs) != 0 {
		t.Fatalf("this test needs the Debian packages %v and could not install them (apt-get install -y %v; make deps does)", pkgs, pkgs)
	}
}

// policyRC is Debian's hook that init scripts and systemd units of packages being
// installed ask before starting; exit status 101 means "do not start".
const policyRC = "/usr/sbin/policy-rc.d"

// aptInstall runs apt-get install for pkgs, logging its output when it fails. Services
// the packages bring are not started (a policy-rc.d for the time of the install,
// unless the machine has one): openssh-server and nfs-ganesha would listen on every
// address, and the tests start their own servers on 127.0.0.1.
func aptInstall(t testing.TB, pkgs ...string) error {
	t.Helper()
	if _, err := os.Lstat(policyRC); os.IsNotExist(err) {
		if err := os.WriteFile(policyRC, []byte("#!/bin/sh\nexit 101\n"), 0o755); err == nil {
			defer os.Remove(policyRC)
		}
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("apt-get install %v: %v\n%s", pkgs, err, out)
	}
	return err
}
