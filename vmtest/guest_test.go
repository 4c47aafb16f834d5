package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/synth"
)

type fakeCrasher struct{ synced, crashed *int }

func (c fakeCrasher) Sync()        { *c.synced++ }
func (c fakeCrasher) Crash() error { *c.crashed++; return errors.New("fake crash returned") }

func fakeGuest(t *testing.T, cmdline, spec string) (*Guest, *[]string, *int) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	os.WriteFile(filepath.Join(dir, "proc/cmdline"), []byte(cmdline+"\n"), 0o644)
	if spec != "" {
		p := filepath.Join(dir, "root", SpecPath)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(spec), 0o600)
	}
	var loaded []string
	crashed, synced := 0, 0
	g := &Guest{Root: filepath.Join(dir, "root"), Proc: filepath.Join(dir, "proc"),
		Load: func(k, i, c string) error {
			loaded = append(loaded, k, i, c)
			return nil
		},
		Crasher: fakeCrasher{&synced, &crashed},
	}
	return g, &loaded, &crashed
}

// TestGuest: the product's init is the test's first kernel only with the flag and the
// spec both; it then loads the capture kernel as the spec says and crashes.
func TestGuest(t *testing.T) {
	spec := `{"version":1,"cmdline":"irqpoll nr_cpus=1 console=ttyS0"}`
	if g, _, _ := fakeGuest(t, "console=ttyS0 crashkernel=256M gokdump.vmtest=1", spec); !g.IsFirstKernel() {
		t.Error("flag and spec: not the first kernel")
	}
	if g, _, _ := fakeGuest(t, "console=ttyS0 gokdump.vmtest=1", ""); g.IsFirstKernel() {
		t.Error("no spec: taken as the first kernel")
	}
	if g, _, _ := fakeGuest(t, "console=ttyS0 gokdump.vmtest=10 xgokdump.vmtest=1", spec); g.IsFirstKernel() {
		t.Error("no flag: taken as the first kernel")
	}

	g, loaded, crashed := fakeGuest(t, "gokdump.vmtest=1", spec)
	var con strings.Builder
	err := g.Run(&con)
	if err == nil || *crashed != 1 {
		t.Errorf("Run: %v, crashed %d", err, *crashed)
	}
	want := []string{filepath.Join(g.Root, KernelPath), filepath.Join(g.Root, InitrdPath), "irqpoll nr_cpus=1 console=ttyS0"}
	if strings.Join(*loaded, "|") != strings.Join(want, "|") {
		t.Errorf("loaded %q, want %q", *loaded, want)
	}
	if !strings.Contains(con.String(), lineArmed) || !strings.Contains(con.String(), lineCrashing) {
		t.Errorf("console %q", con.String())
	}

	// A load the kernel refuses: no crash, the reason returned.
	g, _, crashed = fakeGuest(t, "gokdump.vmtest=1", spec)
	g.Load = func(k, i, c string) error { return errors.New("kexec: load capture kernel: cannot allocate memory") }
	con.Reset()
	if err := g.Run(&con); err == nil || !strings.Contains(err.Error(), "arming the capture kernel: kexec") || *crashed != 0 || strings.Contains(con.String(), lineArmed) {
		t.Errorf("refused load: %v, crashed %d, console %q", err, *crashed, con.String())
	}
	// A spec of another version: refused.
	g, _, crashed = fakeGuest(t, "gokdump.vmtest=1", `{"version":2,"cmdline":"x"}`)
	if err := g.Run(&con); err == nil || !strings.Contains(err.Error(), "version 2") || *crashed != 0 {
		t.Errorf("version 2: %v", err)
	}
}

// TestVerdictFromConsole: without a dump, the reason is read from where the console
// stops.
func TestVerdictFromConsole(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ console, want string }{
		{"Run /init as init process\ngokdump init: error: no job: the capture service needs /etc/kdump.conf and a non-empty /proc/vmcore\n",
			"the first kernel failed: no job: the capture service needs /etc/kdump.conf and a non-empty /proc/vmcore (the image's gokdump predates"},
		{"gokdump init: error: vmtest: arming the capture kernel: kexec: load capture kernel: cannot allocate memory\n",
			"the first kernel failed: vmtest: arming the capture kernel: kexec"},
		{"[ 1.0] boot\n", "the first kernel never armed the capture kernel"},
		{lineArmed + "\n" + lineCrashing + "\n[ 9.1] Kernel panic\n", "the capture kernel did not start saving"},
		{lineArmed + "\ngokdump: saving the crashed kernel's memory (/proc/vmcore) with /etc/kdump.conf\ngokdump: capture failed: target: device not found: no LABEL=gokdump-vmtest after 30s\r\n",
			"the capture failed: target: device not found: no LABEL=gokdump-vmtest after 30s"},
		{lineArmed + "\ngokdump: saving the crashed kernel's memory\n", "the capture saved no dump; scratch disk: /var/crash does not exist"},
	} {
		p := filepath.Join(dir, "console.log")
		os.WriteFile(p, []byte(c.console), 0o600)
		res := &Result{Release: "r"}
		got := verdict(res, readConsole(p), nil, errors.New("/var/crash does not exist"))
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("console %q: reason %q, want %q...", c.console, got, c.want)
		}
	}
	// A VM stopped at its timeout under KVM: the reason says so and suggests TCG.
	p := filepath.Join(dir, "console.log")
	os.WriteFile(p, []byte("[ 0.0] Linux version\n"), 0o600)
	res := &Result{Accel: AccelKVM}
	stopped := fmt.Errorf("the VM was stopped after 10m0s: %w", context.DeadlineExceeded)
	if got := verdict(res, readConsole(p), stopped, nil); got != "the first kernel never armed the capture kernel; the VM was stopped after 10m0s: context deadline exceeded; guests that hang under KVM may run under TCG: try --accel tcg" {
		t.Errorf("KVM timeout: %q", got)
	}
	res.Accel = AccelTCG
	if got := verdict(res, readConsole(p), stopped, nil); strings.Contains(got, "--accel") {
		t.Errorf("TCG timeout: %q", got)
	}
	p = filepath.Join(dir, "long.log")
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteString("line\n")
	}
	b.WriteString("last\r\n")
	os.WriteFile(p, []byte(b.String()), 0o600)
	if got := tail(p, 3); got != "line\nline\nlast" {
		t.Errorf("tail = %q", got)
	}
}

// TestVerdictOpensDump: a dump the capture saved passes only when complete, of the
// kernel booted, and readable by gokdump's reader; garbage is a FAIL naming the file.
func TestVerdictOpensDump(t *testing.T) {
	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	_, dump := synth.Temp(t, cfg)
	ok := func() *Result {
		return &Result{Release: cfg.Release, Dump: &dumpdir.Dump{File: dump, Result: dumpdir.Complete, Status: &dumpdir.Status{Result: dumpdir.Complete}}}
	}
	res := ok()
	if r := verdict(res, consoleEvents{armed: true}, nil, nil); r != "" || res.Info == nil || res.Info.Kernel.Release != cfg.Release {
		t.Errorf("a complete dump: reason %q, info %+v", r, res.Info)
	}
	res = ok()
	res.Release = "6.12.0-other"
	if r := verdict(res, consoleEvents{armed: true}, nil, nil); !strings.Contains(r, "not 6.12.0-other") {
		t.Errorf("another kernel's dump: %q", r)
	}
	res = ok()
	res.Dump.Result, res.Dump.Status.Error = dumpdir.Incomplete, "no space left on device"
	if r := verdict(res, consoleEvents{armed: true}, nil, nil); r != "the capture saved an incomplete dump: no space left on device" {
		t.Errorf("an incomplete dump: %q", r)
	}
	bad := filepath.Join(t.TempDir(), "vmcore")
	os.WriteFile(bad, []byte("not a dump"), 0o600)
	res = ok()
	res.Dump.File = bad
	if r := verdict(res, consoleEvents{armed: true}, nil, nil); !strings.HasPrefix(r, "the saved dump vmcore does not open") {
		t.Errorf("garbage: %q", r)
	}
	res = ok()
	res.Dump.File, res.Dump.Result, res.Dump.Status.Error = "", dumpdir.Failed, "collector: reading page 0x1000: EIO"
	if r := verdict(res, consoleEvents{armed: true}, nil, nil); r != "the capture saved no dump file (failed: collector: reading page 0x1000: EIO)" {
		t.Errorf("no dump file: %q", r)
	}
}

// TestCappedConsole: the console log stops growing at its bound, says where it was
// cut, still takes everything QEMU writes, and ends with the last bytes of what it cut
// (the part a FAIL shows), however the writes fall.
func TestCappedConsole(t *testing.T) {
	for _, c := range []struct {
		writes []string
		want   string
	}{
		{[]string{"12345", "67890ab", "cdef"},
			"1234567890\n[gokdump vmtest: output cut here, after 10 bytes]\n\n[gokdump vmtest: 6 bytes left out; the last 4 follow]\ncdef"},
		{[]string{"1234567890", "ab"},
			"1234567890\n[gokdump vmtest: output cut here, after 10 bytes]\n\n[gokdump vmtest: 2 bytes left out; the last 2 follow]\nab"},
		{[]string{"1234567890", "a", "b", "c", "d", "e"},
			"1234567890\n[gokdump vmtest: output cut here, after 10 bytes]\n\n[gokdump vmtest: 5 bytes left out; the last 4 follow]\nbcde"},
		{[]string{"1234567890", "abc", "defgh"},
			"1234567890\n[gokdump vmtest: output cut here, after 10 bytes]\n\n[gokdump vmtest: 8 bytes left out; the last 4 follow]\nefgh"},
		{[]string{"123", "456"}, "123456"},
	} {
		var b bytes.Buffer
		w := newCapped(&b, 10, 4)
		for _, p := range c.writes {
			if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", p, n, err)
			}
		}
		if err := w.finish(); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("writes %q: log %q, want %q", c.writes, b.String(), c.want)
		}
	}
	// Keeping nothing (QEMU's stderr): the cut is noted, finish adds only the count.
	var b bytes.Buffer
	w := newCapped(&b, 3, 0)
	w.Write([]byte("12345"))
	if err := w.finish(); err != nil || b.String() != "123\n[gokdump vmtest: output cut here, after 3 bytes]\n\n[gokdump vmtest: 2 bytes left out; the last 0 follow]\n" {
		t.Errorf("keep 0: %q, %v", b.String(), err)
	}
}
