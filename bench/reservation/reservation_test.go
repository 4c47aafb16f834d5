package reservation

import (
	"errors"
	"strings"
	"testing"
)

// search runs s against a capture that saves from min MiB up and returns the
// reservations tried.
func search(s *Search, min int) []int {
	var tried []int
	for {
		c, done := s.Next()
		if done {
			return tried
		}
		if len(tried) > 20 {
			panic("search does not end")
		}
		tried = append(tried, c)
		s.Record(Trial{MemoryMiB: s.MemoryMiB, CrashKernelMiB: c, Saved: c >= min})
	}
}

func TestSearchBisects(t *testing.T) {
	for _, min := range []int{88, 120, 128, 136, 200, 208} {
		s := &Search{MemoryMiB: 1024, Fail: 80, OK: 208, Step: 8}
		tried := search(s, min)
		got, exact, ok := s.Minimum()
		if !ok || got != min || !exact {
			t.Errorf("min %d: found %d exact %v ok %v after %v", min, got, exact, ok, tried)
		}
		if len(tried) > 5 {
			t.Errorf("min %d: %d trials %v, want <= 5 for 16 steps", min, len(tried), tried)
		}
		for _, c := range tried {
			if c%8 != 0 {
				t.Errorf("min %d: tried %d, off the 8 MiB grid", min, c)
			}
		}
	}
}

func TestSearchAboveBracket(t *testing.T) {
	// Everything in the bracket fails: the search climbs past the assumed bound and
	// says what it found.
	s := &Search{MemoryMiB: 65536, Fail: 112, OK: 256, Step: 16}
	tried := search(s, 300)
	got, exact, ok := s.Minimum()
	if !ok || got != 304 || !exact {
		t.Errorf("found %d exact %v ok %v after %v", got, exact, ok, tried)
	}
}

func TestSearchBelowBracket(t *testing.T) {
	// Even the bottom of the bracket saves: the result is an upper bound, not exact.
	s := &Search{MemoryMiB: 1024, Fail: 80, OK: 208, Step: 8, MaxTrials: 6}
	search(s, 8)
	got, exact, ok := s.Minimum()
	if !ok || got != 72 || exact || !strings.Contains(s.String(), "at most 72 MiB (nothing smaller tried)") {
		t.Errorf("found %d exact %v ok %v: %s", got, exact, ok, s)
	}
}

func TestSearchMaxTrials(t *testing.T) {
	s := &Search{MemoryMiB: 1024, Fail: 80, OK: 208, Step: 8, MaxTrials: 2}
	if tried := search(s, 128); len(tried) != 2 {
		t.Errorf("tried %v, want 2 trials", tried)
	}
	if _, exact, _ := s.Minimum(); exact {
		t.Errorf("two trials cannot be exact: %s", s)
	}
}

func TestClassify(t *testing.T) {
	boot1 := "[    0.000000] Linux version 6.1.0-57-amd64\nGOKDUMP-LAB armed\n[   19.8] Kernel panic - not syncing: sysrq triggered crash\n"
	boot2 := "[    0.000000] Linux version 6.1.0-57-amd64\n[    0.2] Memory: 163636K/262772K available (14343K kernel code)\n"
	killed := errors.New("lab: QEMU killed after 5m0s: context deadline exceeded")
	for _, c := range []struct {
		console string
		err     error
		want    string
	}{
		{boot1 + boot2 + "[ 2.0] Run /init as init process\ngokdump: collecting: dump level 31\n[ 5.1] gokdump invoked oom-killer: gfp_mask=0x140cca\n", errors.New("x"), "capture: out of memory while collecting (OOM killer)"},
		{boot1 + boot2 + "[ 2.0] Run /init as init process\n[ 2.1] init invoked oom-killer: gfp_mask=0x140cca\n", nil, "capture: out of memory in /init before collecting (OOM killer)"},
		{boot1 + boot2 + "[ 1.7] kworker/u2:0 invoked oom-killer: gfp_mask=0x140cca\n[ 1.8] Out of memory and no killable processes...\n[ 1.8] Kernel panic - not syncing: System is deadlocked on memory\n", nil, "capture: out of memory while booting or unpacking the initramfs (OOM killer)"},
		{boot1 + boot2 + "[ 1.1] Initramfs unpacking failed: write error\n", nil, "capture: initramfs unpacking failed"},
		{boot1 + boot2 + "[ 1.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n", nil, "capture: Kernel panic - not syncing: VFS: Unable to mount root fs"},
		{boot1 + boot2 + "gokdump: collecting: dump level 31\n", killed, "capture: no result before the timeout (hung or silently stopped)"},
		{boot1 + boot2, errors.New("lab: the guest never printed"), "capture: lab: the guest never printed"},
		{boot1 + boot2 + "gokdump: capture failed: target: device not found\n", nil, "capture: gokdump: capture failed: target: device not found"},
		{"[ 0.0] Linux version 6.1\nGOKDUMP-LAB error: arm: kexec_file_load: cannot allocate memory\n", errors.New("lab: the guest failed"), "not armed: GOKDUMP-LAB error: arm: kexec_file_load: cannot allocate memory"},
		{boot1, nil, "capture kernel did not start (the crash did not reach it)"},
		{"[ 0.0] Linux version 6.1\n", killed, "timeout before the capture kernel booted"},
	} {
		if got := Classify(c.console, c.err); got != c.want {
			t.Errorf("Classify(...%q, %v) = %q, want %q", c.console[max(0, len(c.console)-60):], c.err, got, c.want)
		}
	}
}

func TestCaptureMemory(t *testing.T) {
	con := "Memory: 2917840K/67108320K available (14343K kernel code)\n...\nMemory: 163636K/262772K available (14343K kernel code)\n"
	if a, b := CaptureMemory(con); a != 163636 || b != 262772 {
		t.Errorf("CaptureMemory = %d/%d", a, b)
	}
	if a, b := CaptureMemory("Memory: 1K/2K available\n"); a != 0 || b != 0 {
		t.Errorf("one boot only: %d/%d", a, b)
	}
	if n := Recommendation("  total ...\nrecommended: crashkernel=192M\n"); n != 192 {
		t.Errorf("Recommendation = %d", n)
	}
	if n := Recommendation("recommended: crashkernel=1G\n"); n != 1024 {
		t.Errorf("Recommendation 1G = %d", n)
	}
}
