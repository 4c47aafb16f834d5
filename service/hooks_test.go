package service

import (
	"os"
	"strings"
	"testing"
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
	if !strings.Contains(notes, "post.d/README is not executable: not run by the capture") || !strings.Contains(notes, "post.d/sub is a directory") {
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
