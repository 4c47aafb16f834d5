package lab

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

func TestExitProgram(t *testing.T) {
	p := filepath.Join(t.TempDir(), "exit3")
	if err := os.WriteFile(p, ExitProgram(3), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("debug/elf refuses it: %v", err)
	}
	if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 || len(f.Progs) != 1 {
		t.Errorf("ELF %v %v with %d program headers", f.Type, f.Machine, len(f.Progs))
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("it has an interpreter: not static")
		}
	}
	f.Close()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("runs only on linux/amd64 (this is %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	err = exec.Command(p, "ignored").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("running it: %v, want exit status 3", err)
	}
	if err := exec.Command(filepath.Join(t.TempDir(), "x")).Run(); err == nil {
		t.Error("sanity: a missing program ran")
	}
	p0 := filepath.Join(t.TempDir(), "exit0")
	os.WriteFile(p0, ExitProgram(0), 0o755)
	if err := exec.Command(p0).Run(); err != nil {
		t.Errorf("exit 0 program: %v", err)
	}
}

func TestExt4Helpers(t *testing.T) {
	testenv.NeedTool(t, "mkfs.ext4", "e2fsprogs")
	testenv.NeedTool(t, "debugfs", "e2fsprogs")
	ctx := context.Background()
	img := filepath.Join(t.TempDir(), "t.img")
	if err := MakeExt4(ctx, img, 16, "gokdump-test"); err != nil {
		t.Fatal(err)
	}
	if _, err := debugfs(ctx, img, "mkdir /var"); err == nil {
		t.Error("debugfs wrote without -w")
	}
	if out, err := exec.Command("debugfs", "-w", "-R", "mkdir /var", img).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ents, err := Ext4List(ctx, img, "/")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Ext4Entry{}
	for _, e := range ents {
		names[e.Name] = e
	}
	if e := names["lost+found"]; !e.IsDir() || e.Perm() != 0o700 || len(ents) != 2 || !names["var"].IsDir() {
		t.Errorf("ls -l /: %+v", ents)
	}
	if _, err := Ext4List(ctx, img, "/missing"); err == nil {
		t.Error("listing a missing directory gave no error")
	}
	out := t.TempDir()
	if err := Ext4Extract(ctx, img, "/lost+found", out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(out, "lost+found")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("rdump kept mode %v, %v; want 0700", fi.Mode(), err)
	}
}
