package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// DebianPython is Debian's own python3, into whose dist-packages the python3-* packages
// install (a python3 earlier on PATH may be another build that cannot see them).
const DebianPython = "/usr/bin/python3"

// NeedPythonModule returns DebianPython after checking that it imports module, which the
// Debian package debianPackage provides; it installs the package when the import fails
// and apt-get is there, and fails the test with the fix otherwise.
func NeedPythonModule(t testing.TB, module, debianPackage string) string {
	t.Helper()
	if _, err := os.Stat(DebianPython); err != nil {
		t.Fatalf("%v: install Debian's python3: apt-get install -y python3 %s", err, debianPackage)
	}
	imp := func() ([]byte, error) { return exec.Command(DebianPython, "-c", "import "+module).CombinedOutput() }
	if _, err := imp(); err == nil {
		return DebianPython
	}
	aptInstall(t, debianPackage)
	if b, err := imp(); err != nil {
		t.Fatalf("python3 cannot import %s (%v: %s); install it: apt-get install -y %s (make deps does)", module, err, b, debianPackage)
	}
	return DebianPython
}
