package progdeps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilesOfARealProgram(t *testing.T) {
	// A real dynamically linked program of this machine: its loader and libc must come
	// along; a data file comes alone.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh on this machine: %v", err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	data := filepath.Join(t.TempDir(), "data.conf")
	if err := os.WriteFile(data, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := Files([]string{sh, data}, DefaultLibDirs)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(files, " ")
	if files[0] != sh || files[len(files)-1] != data || !strings.Contains(joined, "libc.so.6") || !strings.Contains(joined, "ld-linux-x86-64.so.2") {
		t.Errorf("%s and %s need %q", sh, data, files)
	}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			t.Errorf("relative path %s", f)
		}
	}
}

func TestFilesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o755)
		return p
	}
	for _, tc := range []struct{ file, want string }{
		{write("noline", "#!"+strings.Repeat("x", 300)), "#! line longer"},
		{write("relative", "#!sh\n"), "no absolute interpreter"},
		{write("badelf", "\x7fELF\x02\x01\x01garbage"), "badelf"},
		{filepath.Join(dir, "absent"), "no such file"},
	} {
		_, err := Files([]string{tc.file}, []string{dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
	// Scripts whose interpreters name each other: each is taken once, no loop.
	write("loop1", "#!"+filepath.Join(dir, "loop2")+"\n")
	write("loop2", "#!"+filepath.Join(dir, "loop1")+"\n")
	files, err := Files([]string{filepath.Join(dir, "loop1")}, []string{dir})
	if err != nil || len(files) != 2 {
		t.Errorf("interpreter loop: %q %v", files, err)
	}
}
