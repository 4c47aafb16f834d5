package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

// TestDefaultConfig checks that the shipped kdump.conf is valid and gives the
// defaults.
func TestDefaultConfig(t *testing.T) {
	c, err := config.Load("kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	if d := config.Default(); c.Path != d.Path || c.Collector.String() != d.Collector.String() || c.FailureAction != d.FailureAction {
		t.Errorf("shipped configuration %+v differs from the defaults", c)
	}
}

func TestUnit(t *testing.T) {
	data, err := os.ReadFile("gokdump.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=oneshot\n", "RemainAfterExit=yes\n", "ExecStart=/usr/sbin/gokdump start\n",
		"ExecStop=/usr/sbin/gokdump stop\n", "After=local-fs.target\n", "WantedBy=multi-user.target\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("gokdump.service lacks %q", want)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// systemd-analyze verify checks that ExecStart exists: point it at a copy
		// whose commands do.
		dir := t.TempDir()
		unit := strings.ReplaceAll(string(data), "/usr/sbin/gokdump", "/bin/true")
		p := filepath.Join(dir, "gokdump.service")
		os.WriteFile(p, []byte(unit), 0o644)
		if out, err := exec.Command(sa, "verify", p).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
}

// TestMakeInstall runs "make install" into a temporary DESTDIR with another PREFIX,
// twice: the second run must keep an edited kdump.conf.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gokdump binary; left out of -short runs")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed (apt-get install make): %v", err)
	}
	dest := t.TempDir()
	install := func() {
		cmd := exec.Command(mk, "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/opt/gk")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
	}
	install()
	for name, mode := range map[string]os.FileMode{
		"opt/gk/sbin/gokdump":                0o755,
		"lib/systemd/system/gokdump.service": 0o644,
		"lib/udev/rules.d/98-gokdump.rules":  0o644,
		"etc/kdump.conf":                     0o644,
	} {
		st, err := os.Stat(filepath.Join(dest, name))
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if st.Mode().Perm() != mode || !st.Mode().IsRegular() {
			t.Errorf("%s: mode %v, want %v", name, st.Mode(), mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "lib/systemd/system/gokdump.service"))
	if !strings.Contains(string(unit), "ExecStart=/opt/gk/sbin/gokdump start\n") || !strings.Contains(string(unit), "ExecStop=/opt/gk/sbin/gokdump stop\n") {
		t.Errorf("installed unit does not run the installed binary:\n%s", unit)
	}
	out, err := exec.Command(filepath.Join(dest, "opt/gk/sbin/gokdump"), "config", "check", "--file-only", filepath.Join(dest, "etc/kdump.conf")).CombinedOutput()
	if err != nil {
		t.Errorf("installed gokdump rejects the installed kdump.conf: %v\n%s", err, out)
	}
	conf := filepath.Join(dest, "etc/kdump.conf")
	os.WriteFile(conf, []byte("path /mine\n"), 0o600)
	install()
	if data, _ := os.ReadFile(conf); string(data) != "path /mine\n" {
		t.Errorf("make install replaced an existing kdump.conf: %q", data)
	}
	// Nothing outside DESTDIR's expected tree.
	var got []string
	filepath.Walk(dest, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			got = append(got, rel)
		}
		return nil
	})
	if len(got) != 4 {
		t.Errorf("installed files: %q", got)
	}
}
