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
		"opt/gk/sbin/gokdump":                                     0o755,
		"lib/systemd/system/gokdump.service":                      0o644,
		"lib/systemd/system/gokdump-upload.service":               0o644,
		"lib/systemd/system/gokdump-upload.timer":                 0o644,
		"lib/udev/rules.d/98-gokdump.rules":                       0o644,
		"etc/kdump.conf":                                          0o644,
		"usr/lib/kernel/install.d/92-gokdump-crashkernel.install": 0o755,
		"etc/kernel/postinst.d/gokdump-crashkernel":               0o755,
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
	up, _ := os.ReadFile(filepath.Join(dest, "lib/systemd/system/gokdump-upload.service"))
	if !strings.Contains(string(up), "ExecStart=/opt/gk/sbin/gokdump upload --quiet\n") {
		t.Errorf("installed upload unit does not run the installed binary:\n%s", up)
	}
	hook, _ := os.ReadFile(filepath.Join(dest, "usr/lib/kernel/install.d/92-gokdump-crashkernel.install"))
	if !strings.Contains(string(hook), "\nGOKDUMP=/opt/gk/sbin/gokdump\n") {
		t.Errorf("installed kernel-install hook does not run the installed binary:\n%s", hook)
	}
	hook, _ = os.ReadFile(filepath.Join(dest, "etc/kernel/postinst.d/gokdump-crashkernel"))
	if !strings.Contains(string(hook), "\nGOKDUMP=/opt/gk/sbin/gokdump\n") {
		t.Errorf("installed Debian kernel hook does not run the installed binary:\n%s", hook)
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
	if len(got) != 10 {
		t.Errorf("installed files: %q", got)
	}
	for _, n := range []string{"makedumpfile", "vmcore-dmesg"} {
		if l, err := os.Readlink(filepath.Join(dest, "opt/gk/sbin", n)); err != nil || l != "/opt/gk/sbin/gokdump" {
			t.Errorf("%s: link to %q (%v), want /opt/gk/sbin/gokdump", n, l, err)
		}
	}
}

// TestMakeInstallCompatLinks: "make install" gives gokdump the makedumpfile and
// vmcore-dmesg names only where no real tool is installed, says so, and links them
// anyway with COMPAT_LINKS=yes, without replacing the real file.
func TestMakeInstallCompatLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gokdump binary; left out of -short runs")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed (apt-get install make): %v", err)
	}
	dest := t.TempDir()
	real := filepath.Join(dest, "usr/sbin/vmcore-dmesg")
	os.MkdirAll(filepath.Dir(real), 0o755)
	os.WriteFile(real, []byte("#!/bin/sh\necho real\n"), 0o755)
	install := func(extra ...string) string {
		cmd := exec.Command(mk, append([]string{"-s", "-C", "..", "install", "DESTDIR=" + dest}, extra...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
		return string(out)
	}
	out := install()
	if !strings.Contains(out, "vmcore-dmesg: the real /usr/sbin/vmcore-dmesg is installed; not linked") ||
		!strings.Contains(out, "makedumpfile: /usr/sbin/makedumpfile -> /usr/sbin/gokdump") {
		t.Errorf("make install said:\n%s", out)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "usr/sbin/makedumpfile")); l != "/usr/sbin/gokdump" {
		t.Errorf("makedumpfile links to %q", l)
	}
	if _, err := os.Lstat(filepath.Join(dest, "usr/local/sbin/vmcore-dmesg")); err == nil {
		t.Error("vmcore-dmesg linked although a real one is installed")
	}
	out = install("COMPAT_LINKS=yes")
	if !strings.Contains(out, "vmcore-dmesg: /usr/local/sbin/vmcore-dmesg -> /usr/sbin/gokdump (the real /usr/sbin/vmcore-dmesg stays") {
		t.Errorf("make install COMPAT_LINKS=yes said:\n%s", out)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "usr/local/sbin/vmcore-dmesg")); l != "/usr/sbin/gokdump" {
		t.Errorf("COMPAT_LINKS=yes: vmcore-dmesg links to %q", l)
	}
	if b, _ := os.ReadFile(real); string(b) != "#!/bin/sh\necho real\n" {
		t.Error("the real vmcore-dmesg was replaced")
	}
	if out := install("COMPAT_LINKS=no"); !strings.Contains(out, "makedumpfile: not linked to gokdump (COMPAT_LINKS=no)") {
		t.Errorf("make install COMPAT_LINKS=no said:\n%s", out)
	}
}

// TestMakeInstallDebian: on a machine with Debian's kdump-tools settings and no
// kdump.conf, make install leaves kdump.conf out, so that gokdump reads those
// settings.
func TestMakeInstallDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gokdump binary; left out of -short runs")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed (apt-get install make): %v", err)
	}
	dest := t.TempDir()
	deb := filepath.Join(dest, "etc/default/kdump-tools")
	os.MkdirAll(filepath.Dir(deb), 0o755)
	os.WriteFile(deb, []byte("USE_KDUMP=1\n"), 0o644)
	out, err := exec.Command(mk, "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/opt/gk").CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dest, "etc/kdump.conf")); err == nil || !strings.Contains(string(out), "gokdump reads Debian's") {
		t.Errorf("kdump.conf installed beside kdump-tools' settings (%v):\n%s", err, out)
	}
}

// TestUploadUnits: the upload service runs gokdump upload after gokdump.service with
// the network up; the timer runs it again; systemd accepts both.
func TestUploadUnits(t *testing.T) {
	svc, err := os.ReadFile("gokdump-upload.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=oneshot\n", "ExecStart=/usr/sbin/gokdump upload --quiet\n",
		"After=gokdump.service network-online.target\n", "Wants=network-online.target\n", "WantedBy=multi-user.target\n"} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("gokdump-upload.service lacks %q", want)
		}
	}
	timer, err := os.ReadFile("gokdump-upload.timer")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OnUnitInactiveSec=", "WantedBy=timers.target\n"} {
		if !strings.Contains(string(timer), want) {
			t.Errorf("gokdump-upload.timer lacks %q", want)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "gokdump-upload.service"), []byte(strings.ReplaceAll(string(svc), "/usr/sbin/gokdump", "/bin/true")), 0o644)
		os.WriteFile(filepath.Join(dir, "gokdump-upload.timer"), timer, 0o644)
		if out, err := exec.Command(sa, "verify", filepath.Join(dir, "gokdump-upload.service"), filepath.Join(dir, "gokdump-upload.timer")).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
}
