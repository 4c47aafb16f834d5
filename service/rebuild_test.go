package service

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRebuildReason(t *testing.T) {
	base := func() *Manifest {
		return &Manifest{Version: manifestVersion, Release: "r", Compression: "zstd",
			Binary: Input{Path: "gokdump", SHA256: "aa"}, Config: "cc",
			Inputs: []Input{{Path: "/m/ext4.ko", Size: 10, ModTime: 100}, {Path: "/bin/sh", Size: 5, ModTime: 7}}}
	}
	plain, force, never := mustConfig(t, ""), mustConfig(t, "force_rebuild 1"), mustConfig(t, "force_no_rebuild 1")
	for _, tc := range []struct {
		name   string
		cfg    string
		exists bool
		old    func(m *Manifest) *Manifest
		want   string
	}{
		{"up to date", "", true, func(m *Manifest) *Manifest { return m }, ""},
		{"no image", "", false, func(m *Manifest) *Manifest { return m }, "no image"},
		{"no image, force_no_rebuild", "never", false, func(m *Manifest) *Manifest { return m }, "no image"},
		{"force_rebuild", "force", true, func(m *Manifest) *Manifest { return m }, "force_rebuild"},
		{"force_no_rebuild keeps a stale image", "never", true, func(m *Manifest) *Manifest { m.Binary.SHA256 = "bb"; return m }, ""},
		{"no manifest", "", true, func(*Manifest) *Manifest { return nil }, "no readable manifest"},
		{"old version", "", true, func(m *Manifest) *Manifest { m.Version = 0; return m }, "version 0"},
		{"other kernel", "", true, func(m *Manifest) *Manifest { m.Release = "q"; return m }, "kernel q"},
		{"compression", "", true, func(m *Manifest) *Manifest { m.Compression = "gzip"; return m }, "compression"},
		{"binary", "", true, func(m *Manifest) *Manifest { m.Binary.SHA256 = "bb"; return m }, "gokdump binary changed"},
		{"config", "", true, func(m *Manifest) *Manifest { m.Config = "dd"; return m }, "configuration changed"},
		{"device or its stack", "", true, func(m *Manifest) *Manifest { m.Device = "ee"; return m }, "LVM/md layout under it changed"},
		{"input newer", "", true, func(m *Manifest) *Manifest { m.Inputs[0].ModTime = 99; return m }, "/m/ext4.ko changed"},
		{"input older", "", true, func(m *Manifest) *Manifest { m.Inputs[1].ModTime = 8; return m }, "/bin/sh changed"},
		{"input size", "", true, func(m *Manifest) *Manifest { m.Inputs[1].Size = 6; return m }, "/bin/sh changed"},
		{"new input", "", true, func(m *Manifest) *Manifest { m.Inputs = m.Inputs[:1]; return m }, "/bin/sh is a new input"},
		{"dropped input", "", true, func(m *Manifest) *Manifest {
			m.Inputs = append(m.Inputs, Input{Path: "/x.ko"})
			return m
		}, "/x.ko is no longer an input"},
	} {
		cfg := plain
		switch tc.cfg {
		case "force":
			cfg = force
		case "never":
			cfg = never
		}
		got := RebuildReason(cfg, tc.exists, tc.old(base()), base())
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestRebuildAfterTouch builds, touches a module, and checks that the fresh
// manifest calls for a rebuild.
func TestRebuildAfterTouch(t *testing.T) {
	m := newFakeMachine(t)
	cfg := mustConfig(t, "ext4 /dev/vdb")
	opts := BuildOptions{Config: cfg, Self: m.path("usr/sbin/gokdump")}
	p, err := m.Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	img := m.ImagePath(testRelease)
	if _, err := p.Build(img); err != nil {
		t.Fatal(err)
	}
	mod := m.path("lib/modules/" + testRelease + "/kernel/fs/jbd2/jbd2.ko")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(mod, later, later); err != nil {
		t.Fatal(err)
	}
	old, err := ReadManifest(ManifestPath(img))
	if err != nil {
		t.Fatal(err)
	}
	p, _ = m.Plan(opts)
	now, err := p.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if r := RebuildReason(cfg, true, old, now); r != mod+" changed" {
		t.Errorf("after touching %s: %q", mod, r)
	}
	// A different binary is noticed by content.
	m.write("usr/sbin/gokdump", "another build")
	now, _ = p.Manifest()
	if r := RebuildReason(cfg, true, old, now); !strings.Contains(r, "binary") {
		t.Errorf("after replacing the binary: %q", r)
	}
	// A damaged manifest is treated as none.
	os.WriteFile(ManifestPath(img), []byte("{"), 0o600)
	if _, err := ReadManifest(ManifestPath(img)); err == nil {
		t.Error("damaged manifest read")
	}
}
