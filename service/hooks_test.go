package service

import (
	"os"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

// TestPlanHookDirs: the executable programs of /etc/kdump/pre.d and post.d go into
// the image at /etc/kdump/pre.d and post.d (where the capture runs them), with a
// script's interpreter and its libraries; files that are not executable are left
// out with a note, as kdump-utils leaves them out; a new hook changes the manifest,
// so start rebuilds the image.
func TestPlanHookDirs(t *testing.T) {
	m := newFakeMachine(t)
	m.LibDirs = append([]string(nil), DefaultLibDirs...)
	m.HookDir = m.path("etc/kdump")
	m.mkdir("etc/kdump/pre.d")
	m.mkdir("etc/kdump/post.d/sub")
	m.write("etc/kdump/emergency.d/e", "#!/bin/sh\n")
	for name, mode := range map[string]os.FileMode{"pre.d/10-log": 0o755, "post.d/90-notify": 0o700, "post.d/README": 0o644} {
		if err := os.WriteFile(m.path("etc/kdump/"+name), []byte("#!/bin/sh\necho hi\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	p, err := m.Plan(BuildOptions{Config: mustConfig(t, "path /var/crash"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	dests := map[string]PlanFile{}
	for _, f := range p.Files {
		dests[f.Dest] = f
	}
	for _, want := range []string{"etc/kdump/pre.d/10-log", "etc/kdump/post.d/90-notify"} {
		if f, ok := dests[want]; !ok || f.Mode != 0o755 || f.Src != m.path(want) {
			t.Errorf("%s: %+v (in the image: %v)", want, f, ok)
		}
	}
	if _, ok := dests["etc/kdump/post.d/README"]; ok {
		t.Error("a file that is not executable went into the image")
	}
	if _, ok := dests["bin/sh"]; !ok {
		t.Error("the scripts' interpreter /bin/sh is not in the image")
	}
	notes := strings.Join(p.Info.Notes, "\n")
	if !strings.Contains(notes, "post.d/README is not executable: not run by the capture") || !strings.Contains(notes, "post.d/sub is a directory") ||
		!strings.Contains(notes, "emergency.d holds 1 entries that the capture does not run") {
		t.Errorf("notes %q", p.Info.Notes)
	}
	before, err := p.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(m.path("etc/kdump/pre.d/20-more"), []byte("#!/bin/sh\n"), 0o755)
	p2, err := m.Plan(BuildOptions{Config: mustConfig(t, "path /var/crash"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	after, err := p2.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if RebuildReason(mustConfig(t, "path /var/crash"), true, before, after) == "" {
		t.Error("a new pre.d program does not rebuild the image")
	}
}

// TestStartCmdline: the command-line directives (or /etc/sysconfig/kdump's
// variables) shape what is loaded, and status shows exactly that line.
func TestStartCmdline(t *testing.T) {
	m := newFakeMachine(t)
	k := &fakeKexec{}
	m.Kexec = k
	m.setKexecFiles("new", false, 256<<20)
	conf := "kdump_commandline root=UUID=1234 ro console=ttyS0 splash\nkdump_commandline_remove splash irqpoll\nkdump_commandline_append nr_cpus=2 rdinit=/sbin/other\n"
	cfg := mustConfig(t, conf)
	res, err := m.Start(StartOptions{Config: cfg, ConfigData: []byte(conf), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	want := "root=UUID=1234 ro console=ttyS0 reset_devices cgroup_disable=memory mce=off numa=off transparent_hugepage=never acpi_no_memhotplug panic=10 nokaslr nr_cpus=2 rdinit=/init"
	if res.Cmdline != want || len(k.calls) != 1 || k.calls[0].cmdline != want {
		t.Errorf("loaded %q (%+v), want %q", res.Cmdline, k.calls, want)
	}
	m.setKexecFiles("new", true, 256<<20)
	st, err := m.ReadStatus(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cmdline != want || st.Release != testRelease || st.Kernel != res.Kernel {
		t.Errorf("status: %q %q %q", st.Cmdline, st.Release, st.Kernel)
	}
}

// TestFedoraDefaultArms: Fedora's generated kdump.conf (the config package's
// fixture in Fedora's layout) passes CheckDirectives unchanged.
func TestFedoraDefaultArms(t *testing.T) {
	c, err := config.Load("../config/testdata/fedora-kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckDirectives(c); err != nil {
		t.Errorf("Fedora's default kdump.conf refused: %v", err)
	}
}
