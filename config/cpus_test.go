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
