package service

import (
	"strings"
	"testing"

	"github.com/gokdump/gokdump/config"
)

func TestChooseCaptureCPUs(t *testing.T) {
	auto := config.Default()
	for _, c := range []struct {
		name            string
		cfg             *config.Config
		reserved, need1 int64
		online          int
		want            int
		set             bool
		why             string
	}{
		{"too small for a second CPU", auto, 256 << 20, 250 << 20, 8, 1, true, "auto: reservation 256 MiB, estimate 250 MiB"},
		{"room for exactly one more", auto, 256 << 20, 256<<20 - PerCaptureCPU, 8, 2, true, "auto"},
		{"room for many, capped", auto, 1 << 30, 128 << 20, 64, MaxAutoCaptureCPUs, true, "at most 4"},
		{"room for many, few online", auto, 1 << 30, 128 << 20, 2, 2, true, "2 CPUs online"},
		{"reservation below the estimate", auto, 128 << 20, 200 << 20, 8, 1, true, "auto"},
		{"capture_cpus", mustConfig(t, "capture_cpus 3\n"), 128 << 20, 200 << 20, 1, 3, true, "capture_cpus 3 in kdump.conf:1"},
		{"kdump_commandline_append", mustConfig(t, "kdump_commandline_append nr_cpus=2\n"), 1 << 30, 0, 8, 2, false, "nr_cpus=2 in kdump_commandline_append"},
	} {
		got := ChooseCaptureCPUs(c.cfg, c.reserved, c.need1, c.online)
		if got.N != c.want || got.Set != c.set || !strings.Contains(got.Why, c.why) {
			t.Errorf("%s: %+v; want %d CPUs, set %v, why containing %q", c.name, got, c.want, c.set, c.why)
		}
	}
}

func TestCountCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3": 4, "0-3,5,7-8": 7, "": 1, "x": 1, "3-1": 1} {
		if got := countCPUList(in); got != want {
			t.Errorf("countCPUList(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestStartCaptureCPUs: start puts the chosen nr_cpus on the capture command line
// once, records it for status, and leaves an appended nr_cpus= alone.
func TestStartCaptureCPUs(t *testing.T) {
	m := newFakeMachine(t)
	m.Kexec = &fakeKexec{}
	m.setKexecFiles("new", false, 512<<20)
	m.write("sys/devices/system/cpu/online", "0-7\n")
	for _, c := range []struct {
		conf string
		want string
		n    int
	}{
		// The fake image is tiny: 512 MiB leaves room for the most auto gives.
		{"ext4 /dev/vdb\n", "nr_cpus=4", 4},
		{"ext4 /dev/vdb\ncapture_cpus 2\n", "nr_cpus=2", 2},
		{"ext4 /dev/vdb\nkdump_commandline_append nr_cpus=3\n", "nr_cpus=3", 3},
	} {
		res, err := m.Start(StartOptions{Config: mustConfig(t, c.conf), ConfigData: []byte(c.conf), Self: m.path("usr/sbin/gokdump")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(" "+res.Cmdline+" ", " "+c.want+" ") || strings.Count(res.Cmdline, "nr_cpus=") != 1 || res.CPUs.N != c.n {
			t.Errorf("%q: command line %q, CPUs %+v; want %s once", c.conf, res.Cmdline, res.CPUs, c.want)
		}
		st, err := m.ReadStatus(mustConfig(t, c.conf))
		if err != nil {
			t.Fatal(err)
		}
		if st.CaptureCPUs != c.n || st.CaptureCPUsWhy != res.CPUs.Why {
			t.Errorf("%q: status says %d CPUs (%s)", c.conf, st.CaptureCPUs, st.CaptureCPUsWhy)
		}
	}
	// The crashed machine's memory counts as in Estimate: 64 KiB per GiB of 7 TiB is
	// 448 MiB, which leaves the 512 MiB reservation no room for a second CPU.
	m.write("proc/meminfo", "MemTotal:       7516192768 kB\n")
	res, err := m.Start(StartOptions{Config: mustConfig(t, "ext4 /dev/vdb\n"), ConfigData: []byte("ext4 /dev/vdb\n"), Self: m.path("usr/sbin/gokdump")})
	if err != nil {
		t.Fatal(err)
	}
	if res.CPUs.N != 1 {
		t.Errorf("6 TiB machine in 512 MiB: %d capture CPUs (%s); the per-GiB cost was left out", res.CPUs.N, res.CPUs.Why)
	}
}
