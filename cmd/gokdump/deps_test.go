package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/gokdump/gokdump"

// TestNoLabDependency: the product links no test harness. The real-crash lab (its host
// side, its guest program lab/cmd/labinit, its protocol lab/plan) and the bench are
// programs and packages of their own; gokdump importing any of them would put lab code
// on users' machines, and a lab console marker on their consoles. It asks the go tool
// for what the shipped build (linux/amd64, no cgo) links, and reads our own packages'
// sources among them for the marker.
func TestNoLabDependency(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f",
		`{{if not .Standard}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles "|"}}{{end}}`, ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	own := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 2 || !(f[0] == module || strings.HasPrefix(f[0], module+"/")) {
			continue
		}
		own++
		for _, harness := range []string{module + "/lab", module + "/bench", module + "/internal/sid", module + "/internal/s3test",
			module + "/internal/sshtest", module + "/internal/testenv"} {
			if f[0] == harness || strings.HasPrefix(f[0], harness+"/") {
				t.Errorf("gokdump depends on %s", f[0])
			}
		}
		for _, name := range f[2:] {
			src, err := os.ReadFile(filepath.Join(f[1], name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(src), "GOKDUMP-LAB") {
				t.Errorf("%s/%s holds the lab's console marker GOKDUMP-LAB", f[0], name)
			}
		}
	}
	// A sanity check of the listing: gokdump is made of more than ten of our packages.
	if own < 10 {
		t.Errorf("go list -deps found only %d of our packages:\n%s", own, out)
	}
}
