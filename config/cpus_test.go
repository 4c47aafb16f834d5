package config

import (
	"strings"
	"testing"
)

func TestCaptureCPUs(t *testing.T) {
	for _, c := range []struct {
		conf    string
		want    int
		wantErr string // "" when it parses
	}{
		{"path /var/crash\n", 0, ""},
		{"capture_cpus auto\n", 0, ""},
		{"capture_cpus 2\n", 2, ""},
		{"path /x\ncapture_cpus 0\n", 0, "kdump.conf:2: capture_cpus: want auto or a number of CPUs from 1 to 256, not \"0\""},
		{"capture_cpus two\n", 0, "kdump.conf:1: capture_cpus: want auto"},
		{"capture_cpus 257\n", 0, "kdump.conf:1: capture_cpus: want auto"},
		{"capture_cpus 2\ncapture_cpus 3\n", 0, "kdump.conf:2: capture_cpus given twice (first on line 1)"},
		{"kdump_commandline_append nr_cpus=2\ncapture_cpus 2\n", 0,
			"kdump.conf:2: capture_cpus and nr_cpus= in kdump_commandline_append (line 1) both set the capture kernel's CPUs"},
		{"kdump_commandline_append nr_cpus=x\n", 0, "kdump.conf:1: kdump_commandline_append: nr_cpus=x: want a number"},
		{"kdump_commandline_append nr_cpus=08\n", 0, "kdump.conf:1: kdump_commandline_append: nr_cpus=08: want a number of CPUs of at least 1, in decimal"},
	} {
		cfg, err := Parse(strings.NewReader(c.conf), "kdump.conf")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", c.conf, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.conf, err)
			continue
		}
		if cfg.CaptureCPUs != c.want {
			t.Errorf("%q: CaptureCPUs = %d, want %d", c.conf, cfg.CaptureCPUs, c.want)
		}
		// Format keeps it.
		var b strings.Builder
		if err := cfg.Format(&b); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(strings.NewReader(b.String()), "formatted")
		if err != nil || back.CaptureCPUs != c.want {
			t.Errorf("%q: formatted and parsed again: %v, CaptureCPUs %v", c.conf, err, back)
		}
	}
}

func TestAppendedCPUs(t *testing.T) {
	cfg, err := Parse(strings.NewReader("kdump_commandline_append nr-cpus=3 quiet\n"), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := cfg.AppendedCPUs(); !ok || n != 3 {
		t.Errorf("AppendedCPUs = %d, %v; want 3, true", n, ok)
	}
	if n, ok := Default().AppendedCPUs(); ok {
		t.Errorf("default AppendedCPUs = %d, true", n)
	}
}

// TestAppendedCPUsOtherFiles: an nr_cpus= that is not a positive number is refused
// wherever the appended parameters come from, with that file's line and variable,
// and nr_cpus= in /etc/sysconfig/kdump with kdump.conf's capture_cpus is refused as
// in kdump.conf alone. (Found by FuzzDebian: Debian's file took "nr_cpus=" and the
// configuration printed from it did not parse.)
func TestAppendedCPUsOtherFiles(t *testing.T) {
	for _, c := range []struct{ debian, want string }{
		{"USE_KDUMP=1\nKDUMP_CMDLINE_APPEND=\"nr_cpus=\"\n", "kdump-tools:2: KDUMP_CMDLINE_APPEND: nr_cpus=: want a number of CPUs of at least 1"},
		{"USE_KDUMP=1\nKDUMP_CMDLINE_APPEND=\"quiet nr-cpus=0\"\n", "kdump-tools:2: KDUMP_CMDLINE_APPEND: nr-cpus=0: want a number"},
		{"USE_KDUMP=1\nKDUMP_CMDLINE_APPEND=\"nr_cpus=2\"\n", ""},
	} {
		v, err := ParseShellVars(strings.NewReader(c.debian), "kdump-tools")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := FromDebian(v)
		if c.want == "" {
			if n, ok := cfg.AppendedCPUs(); err != nil || !ok || n != 2 {
				t.Errorf("%q: %v, AppendedCPUs %d %v", c.debian, err, n, ok)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.debian, err, c.want)
		}
	}
	for _, c := range []struct{ conf, sysconfig, want string }{
		{"path /var/crash\n", "KDUMP_COMMANDLINE_APPEND=\"irqpoll nr_cpus=x\"\n", "sysconfig:1: KDUMP_COMMANDLINE_APPEND: nr_cpus=x: want a number of CPUs of at least 1"},
		{"path /var/crash\ncapture_cpus 2\n", "KDUMP_COMMANDLINE_APPEND=\"nr_cpus=3\"\n",
			"sysconfig:1: KDUMP_COMMANDLINE_APPEND: nr_cpus= and kdump.conf's capture_cpus 2 (line 2) both set the capture kernel's CPUs; keep one"},
		{"path /var/crash\n", "KDUMP_COMMANDLINE_APPEND=\"nr_cpus=010\"\n", "nr_cpus=010: want a number of CPUs of at least 1, in decimal"},
		{"path /var/crash\n", "KDUMP_COMMANDLINE_APPEND=\"nr_cpus=+3\"\n", "nr_cpus=+3: want a number"},
		{"path /var/crash\n", "KDUMP_COMMANDLINE_APPEND=\"nr_cpus=3\"\n", ""},
		// Fedora's stock file appends nr_cpus=1; capture_cpus auto gives way to it,
		// with a warning (below).
		{"path /var/crash\ncapture_cpus auto\n", "KDUMP_COMMANDLINE_APPEND=\"irqpoll nr_cpus=3\"\n", ""},
	} {
		cfg, err := Parse(strings.NewReader(c.conf), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseShellVars(strings.NewReader(c.sysconfig), "sysconfig")
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.ApplySysconfig(v)
		if c.want == "" {
			if n, ok := cfg.AppendedCPUs(); err != nil || !ok || n != 3 {
				t.Errorf("%q: %v, AppendedCPUs %d %v", c.sysconfig, err, n, ok)
			}
			auto := strings.Contains(c.conf, "auto")
			if warned := strings.Contains(strings.Join(cfg.Warnings, "\n"), "sysconfig:1: kdump.conf's capture_cpus auto (line 2) is not used: nr_cpus= in KDUMP_COMMANDLINE_APPEND sets the capture kernel's CPUs"); warned != auto {
				t.Errorf("%q with %q: warnings %q", c.sysconfig, c.conf, cfg.Warnings)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q with %q: error %v, want one containing %q", c.sysconfig, c.conf, err, c.want)
		}
	}
}
