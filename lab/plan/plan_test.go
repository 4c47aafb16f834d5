package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func valid() *Plan {
	return &Plan{
		Release:         "6.1.0-56-amd64",
		Modules:         []string{"/lib/modules/6.1.0-56-amd64/kernel/drivers/block/virtio_blk.ko"},
		PageCacheMiB:    128,
		AnonMiB:         128,
		CaptureExtra:    []string{"nr_cpus=1"},
		Crash:           CrashSysrq,
		Capture:         CaptureRawTar,
		DiskWaitSeconds: 60,
	}
}

func TestRoundTrip(t *testing.T) {
	p := valid()
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if q.Release != p.Release || len(q.Modules) != 1 || q.Modules[0] != p.Modules[0] || q.AnonMiB != 128 ||
		q.CaptureExtra[0] != "nr_cpus=1" || q.DiskWaitSeconds != 60 {
		t.Errorf("round trip: %+v", q)
	}
}

func TestServiceRoundTrip(t *testing.T) {
	p := valid()
	p.Capture, p.KdumpConf = CaptureService, "ext4 LABEL=gokdump-dumps\nfinal_action poweroff\n"
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Read(bytes.NewReader(data))
	if err != nil || q.Capture != CaptureService || q.KdumpConf != p.KdumpConf {
		t.Errorf("round trip: %+v %v", q, err)
	}
}

func TestReadRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Plan){
		"no release":    func(p *Plan) { p.Release = "" },
		"negative size": func(p *Plan) { p.AnonMiB = -1 },
		"huge size":     func(p *Plan) { p.PageCacheMiB = 1 << 20 },
		"crash method":  func(p *Plan) { p.Crash = "reboot" },
		"capture":       func(p *Plan) { p.Capture = "" },
		"relative":      func(p *Plan) { p.Modules = []string{"virtio_blk.ko"} },
		"disk wait":     func(p *Plan) { p.DiskWaitSeconds = 100000 },
		"no kdump.conf": func(p *Plan) { p.Capture = CaptureService },
		"stray conf":    func(p *Plan) { p.KdumpConf = "path /var/crash\n" },
		"none crashes":  func(p *Plan) { p.Capture = CaptureNone },
		"root raw-tar":  func(p *Plan) { p.Root = &Root{Device: DiskRef("root"), FSType: "ext4"} },
		"empty argv":    func(p *Plan) { p.Setup = []Command{{}} },
		"relative prog": func(p *Plan) { p.Setup = []Command{Cmd("lvm", "pvs")} },
		"builtin arity": func(p *Plan) { p.AfterArm = []Command{Cmd(BuiltinWipe, "/dev/vdb")} },
		"builtin name":  func(p *Plan) { p.AfterArm = []Command{Cmd("lab:format", "/dev/vdb")} },
		"long timeout":  func(p *Plan) { p.Setup = []Command{{Argv: []string{"/sbin/lvm"}, TimeoutSeconds: 3600}} },
		"bad disk ref":  func(p *Plan) { p.Setup = []Command{Cmd("/sbin/mdadm", "{disk:x")} },
		"long serial":   func(p *Plan) { p.Setup = []Command{Cmd("/sbin/mdadm", DiskRef(strings.Repeat("s", 21)))} },
		"root no type": func(p *Plan) {
			p.Capture, p.KdumpConf, p.Root = CaptureService, "ext4 /dev/vdb\n", &Root{Device: "/dev/vdb"}
		},
	} {
		p := valid()
		mutate(p)
		if _, err := p.Marshal(); err == nil {
			t.Errorf("%s: Marshal accepted %+v", name, p)
		}
	}
	for _, in := range []string{"", "{", `{"release":"x","unknown":1}`, "[1]"} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%q): no error", in)
		}
	}
}

func TestParseLine(t *testing.T) {
	for in, want := range map[string]string{
		Line("armed"):                           "armed",
		Line("release=%s", "6.1.0") + "\r\n":    "release=6.1.0",
		"[    6.4] noise " + Line("saved"):      "saved",
		Line("%s %v", EventError, "disk: gone"): "error: disk: gone",
	} {
		got, ok := ParseLine(in)
		if !ok || got != want {
			t.Errorf("ParseLine(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "GOKDUMP-LAB", "GOKDUMP-LABX armed", "[ 1.0] sysrq: Trigger a crash"} {
		if got, ok := ParseLine(in); ok {
			t.Errorf("ParseLine(%q) = %q, want no match", in, got)
		}
	}
}

func FuzzRead(f *testing.F) {
	data, err := valid().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"release":"r","crash":"sysrq-c","capture":"raw-tar","modules":["/a"]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Read returned a plan Validate rejects: %v", err)
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Read(bytes.NewReader(out)); err != nil {
			t.Fatalf("re-reading a marshalled plan: %v", err)
		}
	})
}

func TestCommandsRoundTrip(t *testing.T) {
	p := valid()
	p.Crash, p.Capture, p.KdumpConf = CrashNone, CaptureService, "ext4 LABEL=root\n"
	p.Setup = []Command{
		Cmd("/sbin/lvm", "pvcreate", "--config", LVMConfig, DiskRef("pv1")),
		{Argv: []string{BuiltinMount, DiskRef("dumps"), "/var/crash", "ext4"}, TimeoutSeconds: 30},
	}
	p.AfterArm = []Command{{Argv: []string{BuiltinWipe, DiskRef("m2"), "4096", "4096"}, MayFail: true}}
	p.Root = &Root{Device: DiskRef("root"), FSType: "ext4"}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Setup) != 2 || q.Setup[1].Timeout() != 30 || q.Setup[0].Timeout() != DefaultCommandTimeout ||
		q.Setup[0].Argv[4] != "{disk:pv1}" || len(q.AfterArm) != 1 || !q.AfterArm[0].MayFail || *q.Root != *p.Root {
		t.Errorf("round trip: %+v", q)
	}
	// A boot-only run that arms nothing.
	p.Capture, p.KdumpConf, p.Root = CaptureNone, "", nil
	if _, err := p.Marshal(); err != nil {
		t.Errorf("boot-only plan: %v", err)
	}
}

func TestExpandDisks(t *testing.T) {
	devs := map[string]string{"pv1": "/dev/vdc", "pv2": "/dev/vdd"}
	dev := func(s string) (string, error) {
		if d, ok := devs[s]; ok {
			return d, nil
		}
		return "", fmt.Errorf("no disk %q", s)
	}
	for in, want := range map[string]string{
		"plain":        "plain",
		DiskRef("pv1"): "/dev/vdc",
		"--devices=" + DiskRef("pv1") + "," + DiskRef("pv2"): "--devices=/dev/vdc,/dev/vdd",
		DiskRef("pv1") + DiskRef("pv1"):                      "/dev/vdc/dev/vdc",
	} {
		if got, err := ExpandDisks(in, dev); err != nil || got != want {
			t.Errorf("ExpandDisks(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{DiskRef("gone"), "{disk:pv1", "{disk:}"} {
		if got, err := ExpandDisks(in, dev); err == nil {
			t.Errorf("ExpandDisks(%q) = %q, want an error", in, got)
		}
	}
}

func TestCrashMethods(t *testing.T) {
	for _, m := range []string{CrashSysrq, CrashInitExit} {
		p := valid()
		p.Crash = m
		data, err := p.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		q, err := Read(bytes.NewReader(data))
		if err != nil || q.Crash != m {
			t.Errorf("%s: read back %+v, %v", m, q, err)
		}
	}
}

func TestBenchPlan(t *testing.T) {
	job := BenchJob{Tool: "gokdump", Config: "-d 31 -l", Argv: []string{GokdumpPath, "dump", BenchVmcore, BenchOutput}}
	good := Plan{Release: "r", Crash: CrashSysrq, Capture: CaptureBench, Bench: &Bench{Jobs: []BenchJob{job}, Runs: 3}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(p *Plan){
		"no bench":          func(p *Plan) { p.Bench = nil },
		"bench with raw":    func(p *Plan) { p.Capture = CaptureRawTar },
		"no jobs":           func(p *Plan) { p.Bench.Jobs = nil },
		"zero runs":         func(p *Plan) { p.Bench.Runs = 0 },
		"relative program":  func(p *Plan) { p.Bench.Jobs = []BenchJob{{Tool: "x", Config: "y", Argv: []string{"gokdump"}}} },
		"relative file":     func(p *Plan) { p.Bench.Files = []string{"lib/x.so"} },
		"timeout too large": func(p *Plan) { p.Bench.TimeoutSeconds = 99999 },
	} {
		p := good
		b := *good.Bench
		p.Bench = &b
		mod(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var s BenchSample
	ok, err := ParseBenchLine(`bench-sample {"tool":"gokdump","run":2}`, BenchSampleEvent, &s)
	if !ok || err != nil || s.Tool != "gokdump" || s.Run != 2 {
		t.Errorf("ParseBenchLine: %v %v %+v", ok, err, s)
	}
	if ok, _ := ParseBenchLine("bench-done", BenchSampleEvent, &s); ok {
		t.Error("another event parsed as a sample")
	}
	if ok, err := ParseBenchLine(`bench-sample {"tool":`, BenchSampleEvent, &s); !ok || err == nil {
		t.Errorf("a cut line: %v %v", ok, err)
	}
}
