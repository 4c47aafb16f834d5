package crashkernel

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/internal/testenv"
)

func put(t *testing.T, root, name, data string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func TestCurrent(t *testing.T) {
	root := t.TempDir()
	put(t, root, "proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.1.0-28-amd64 root=UUID=1234 ro crashkernel=128M quiet crashkernel=384M-:192M\n", 0o644)
	put(t, root, "sys/kernel/kexec_crash_size", "201326592\n", 0o644)
	put(t, root, "proc/meminfo", "MemTotal:        8038564 kB\nMemFree:         1 kB\n", 0o644)
	r, err := Current(root)
	if err != nil || r.Option != "384M-:192M" || r.Reserved != 192<<20 || r.Memory != 8038564<<10 {
		t.Errorf("%+v, %v", r, err)
	}
	put(t, root, "proc/cmdline", "root=/dev/vda1\n", 0o644)
	os.Remove(filepath.Join(root, "sys/kernel/kexec_crash_size"))
	if r, err := Current(root); err != nil || r.Option != "" || r.Reserved != 0 {
		t.Errorf("without a reservation: %+v, %v", r, err)
	}
	put(t, root, "sys/kernel/kexec_crash_size", "lots\n", 0o644)
	if _, err := Current(root); err == nil || !strings.Contains(err.Error(), "kexec_crash_size") {
		t.Errorf("bad kexec_crash_size: %v", err)
	}
}

func TestRecommendAndSizeFor(t *testing.T) {
	if got := Recommend(256 << 20); got != "1G-:256M" {
		t.Errorf("Recommend(256M) = %q", got)
	}
	if got := Recommend(1 << 30); got != "1G-:1G" {
		t.Errorf("Recommend(1G) = %q", got)
	}
	for _, tc := range []struct {
		opt  string
		mem  int64
		want int64
		ok   bool
	}{
		{"1G-:256M", 512 << 20, 0, false},
		{"1G-:256M", 2 << 30, 256 << 20, true},
		{"1G-4G:192M,4G-64G:256M,64G-:512M", 2 << 30, 192 << 20, true},
		{"1G-4G:192M,4G-64G:256M,64G-:512M", 8 << 30, 256 << 20, true},
		{"1G-4G:192M,4G-64G:256M,64G-:512M", 128 << 30, 512 << 20, true},
		{"256M", 1 << 30, 256 << 20, true},
		{"256M@16M", 1 << 30, 256 << 20, true},
		{"512M,high", 1 << 30, 512 << 20, true},
		{"x", 1 << 30, 0, false},
	} {
		got, ok := SizeFor(tc.opt, tc.mem)
		if got != tc.want || ok != tc.ok {
			t.Errorf("SizeFor(%q, %d) = %d, %v; want %d, %v", tc.opt, tc.mem, got, ok, tc.want, tc.ok)
		}
	}
}

type recorder struct{ calls [][]string }

func (r *recorder) run(argv []string) ([]byte, error) {
	r.calls = append(r.calls, argv)
	return []byte("ok\n"), nil
}

// TestApplyDebian: Debian's /etc/default/grub as grub2-common ships it (with a
// crashkernel= added by hand), the drop-in, and update-grub run. The variables that
// grub-mkconfig gets, sourcing /etc/default/grub and then the drop-ins with sh, hold
// exactly one crashkernel=, ours, however often --apply runs.
func TestApplyDebian(t *testing.T) {
	const shipped = "/usr/share/grub/default/grub"
	testenv.NeedPackages(t, map[string]string{shipped: "grub2-common"})
	grub, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(grub), `GRUB_CMDLINE_LINUX_DEFAULT="quiet"`, `GRUB_CMDLINE_LINUX_DEFAULT="quiet crashkernel=128M"`, 1)
	text = strings.Replace(text, `GRUB_CMDLINE_LINUX=""`, `GRUB_CMDLINE_LINUX="console=ttyS0 crashkernel=64M"`, 1)
	if text == string(grub) {
		t.Fatalf("%s does not have the expected GRUB_CMDLINE_LINUX_DEFAULT line", shipped)
	}
	root := t.TempDir()
	put(t, root, "etc/default/grub", text, 0o644)
	put(t, root, "usr/sbin/update-grub", "#!/bin/sh\nexit 0\n", 0o755)
	for range 2 {
		var r recorder
		ch, err := Apply(root, "1G-:256M", r.run)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) != 2 || ch[0].File != GRUBDropIn || !slices.Equal(ch[1].Command, []string{"/usr/sbin/update-grub"}) || len(r.calls) != 1 {
			t.Fatalf("changes %v, calls %q", ch, r.calls)
		}
	}
	sh := `. "$1/etc/default/grub"; for f in "$1"/etc/default/grub.d/*.cfg; do . "$f"; done; printf '%s|%s' "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"`
	out, err := exec.Command("sh", "-c", sh, "sh", root).CombinedOutput()
	if err != nil || string(out) != "console=ttyS0|quiet crashkernel=1G-:256M" {
		t.Errorf("grub-mkconfig would see %q (%v)", out, err)
	}
	if fi, err := os.Stat(filepath.Join(root, GRUBDropIn)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("drop-in: %v", err)
	}
	os.Remove(filepath.Join(root, "usr/sbin/update-grub"))
	if _, err := Apply(root, "1G-:256M", (&recorder{}).run); err == nil || !strings.Contains(err.Error(), "update-grub is not installed") {
		t.Errorf("without update-grub: %v", err)
	}
}

// TestApplyBLS: Fedora 39's entries, edited in place without grubby; with grubby
// installed, grubby does it and the files are left to it.
func TestApplyBLS(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, BLSEntries)
	var orig []string
	for _, n := range []string{"fedora39.conf", "fedora39-rescue.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		put(t, root, filepath.Join(BLSEntries, "2a8c0cd6c4b5454ebd1f4bd0a6e70a3c-"+n), string(b), 0o600)
		orig = append(orig, string(b))
	}
	put(t, root, "etc/default/grub", "GRUB_TIMEOUT=5\nGRUB_ENABLE_BLSCFG=true\n", 0o644)
	var r recorder
	ch, err := Apply(root, "1G-:320M", r.run)
	if err != nil || len(ch) != 2 || len(r.calls) != 0 {
		t.Fatalf("changes %v, calls %q, %v", ch, r.calls, err)
	}
	want := []string{
		strings.Replace(orig[0], "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M", "crashkernel=1G-:320M", 1),
		strings.Replace(orig[1], "rhgb quiet\n", "rhgb quiet crashkernel=1G-:320M\n", 1),
	}
	for i, n := range []string{"fedora39.conf", "fedora39-rescue.conf"} {
		p := filepath.Join(dir, "2a8c0cd6c4b5454ebd1f4bd0a6e70a3c-"+n)
		b, _ := os.ReadFile(p)
		if string(b) != want[i] {
			t.Errorf("%s:\n%s\nwant:\n%s", n, b, want[i])
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", n, fi.Mode())
		}
	}

	put(t, root, "usr/sbin/grubby", "#!/bin/sh\nexit 0\n", 0o755)
	r = recorder{}
	ch, err = Apply(root, "1G-:384M", r.run)
	if err != nil || len(ch) != 1 || len(r.calls) != 1 ||
		!slices.Equal(r.calls[0], []string{"/usr/sbin/grubby", "--update-kernel=ALL", "--args=crashkernel=1G-:384M"}) {
		t.Errorf("grubby: changes %v, calls %q, %v", ch, r.calls, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "2a8c0cd6c4b5454ebd1f4bd0a6e70a3c-fedora39.conf")); string(b) != want[0] {
		t.Error("with grubby installed the entries were edited by gokdump too")
	}
}

func TestApplyRefuses(t *testing.T) {
	root := t.TempDir()
	if _, err := Apply(root, "1G-:256M", (&recorder{}).run); !errors.Is(err, ErrNoBootLoader) {
		t.Errorf("no boot loader: %v", err)
	}
	put(t, root, "etc/default/grub", "GRUB_TIMEOUT=5\n", 0o644)
	for _, bad := range []string{"", "256M\"; rm -rf /", "$(reboot)", "256M quiet"} {
		if _, err := Apply(root, bad, (&recorder{}).run); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRecommendRanges: one range per memory step, each sized for the largest machine
// in it, equal neighbours merged, and every machine of 1 GiB and more gets at least
// what it needs (SizeFor reads the option back as the kernel does).
func TestRecommendRanges(t *testing.T) {
	// 128 MiB and a quarter MiB per GiB, rounded up to 16 MiB.
	need := func(mem int64) int64 {
		n := 128<<20 + (mem>>30)*(256<<10)
		return (n + 16<<20 - 1) >> 24 << 24
	}
	got := RecommendRanges(need)
	// 4, 16 and 64 GiB all round to 144M: merged into one range.
	want := "1G-64G:144M,64G-256G:192M,256G-1024G:384M,1024G-:1152M"
	if got != want {
		t.Errorf("RecommendRanges = %q, want %q", got, want)
	}
	if !ValidOption(got) {
		t.Errorf("%q is not a valid option", got)
	}
	for _, mem := range []int64{1 << 30, 3 << 30, 64<<30 - 1, 64 << 30, 100 << 30, 1 << 40, 4 << 40} {
		size, ok := SizeFor(got, mem)
		if !ok || size < need(min(mem, 4<<40)) {
			t.Errorf("%d GiB: %q reserves %d MiB (ok %v), the machine needs %d MiB", mem>>30, got, size>>20, ok, need(mem)>>20)
		}
	}
	if _, ok := SizeFor(got, 512<<20); ok {
		t.Errorf("%q reserves memory on a 512 MiB machine", got)
	}
	// A size that does not grow gives one range.
	if got := RecommendRanges(func(int64) int64 { return 160 << 20 }); got != "1G-:160M" {
		t.Errorf("flat: %q", got)
	}
	// Sizes are whole MiB.
	if got := RecommendRanges(func(int64) int64 { return 100<<20 + 1 }); got != "1G-:101M" {
		t.Errorf("rounding: %q", got)
	}
}
