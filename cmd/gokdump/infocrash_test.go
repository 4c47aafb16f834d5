package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/arch/x86/x86test"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/kallsyms/kallsymstest"
	"github.com/gokdump/gokdump/printk/printktest"
)

// Where withCrash puts the synthetic kernel's log and symbol tables, in its direct map.
const (
	crashRingPhys   = 0x1000000
	crashTablesPhys = 0x1400000
)

// crashLog is a 6.12 sysrq crash on CPU 1 by PID 101, the task synth's second CPU
// note holds.
var crashLog = []printktest.Message{
	{Text: "Run /init as init process", TimestampNs: 5_863_756_494, CallerID: 1, Level: 6},
	{Text: "sysrq: Trigger a crash", TimestampNs: 13_813_586_000, CallerID: 101, Level: 6},
	{Text: "Kernel panic - not syncing: sysrq triggered crash", TimestampNs: 13_813_898_000, CallerID: 101, Level: 0},
	{Text: "CPU: 1 UID: 0 PID: 101 Comm: init Kdump: loaded Not tainted 6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1", TimestampNs: 13_816_310_000, CallerID: 101, Level: 4},
	{Text: "Call Trace:", TimestampNs: 13_816_796_000, CallerID: 101, Level: 4},
	{Text: " <TASK>", TimestampNs: 13_817_549_000, CallerID: 101, Level: 4},
	{Text: " panic+0x344/0x3a0", TimestampNs: 13_817_903_000, CallerID: 101, Level: 4},
	{Text: " ? _printk+0x64/0x80", TimestampNs: 13_818_281_000, CallerID: 101, Level: 4},
	{Text: " sysrq_handle_crash+0x1a/0x20", TimestampNs: 13_818_335_000, CallerID: 101, Level: 4},
	{Text: " __handle_sysrq+0xa7/0x1a0", TimestampNs: 13_818_534_000, CallerID: 101, Level: 4},
	{Text: " write_sysrq_trigger+0x59/0x80", TimestampNs: 13_818_588_000, CallerID: 101, Level: 4},
	{Text: " </TASK>", TimestampNs: 13_820_410_000, CallerID: 101, Level: 4},
}

// withCrash gives a synthetic dump a kernel log holding crashLog and kallsyms tables
// that name the instruction pointers synth stores (_text + 0x1000 + 0x10*cpu).
func withCrash(t *testing.T, cfg *synth.Config) {
	t.Helper()
	ring := printktest.NewLockless(5, 12)
	for _, m := range crashLog {
		if _, err := ring.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	text := 0xffffffff81000000 + cfg.Kernel.KASLROffset
	tab := kallsymstest.Tables{AbsolutePercpu: true, Symbols: []kallsyms.Symbol{
		{Name: "fixed_percpu_data", Type: 'A', Addr: 0},
		{Name: "_text", Type: 'T', Addr: text},
		{Name: "_stext", Type: 'T', Addr: text},
		{Name: "default_idle", Type: 'T', Addr: text + 0xff0},
		{Name: "__crash_kexec", Type: 'T', Addr: text + 0x1008},
		{Name: "panic", Type: 'T', Addr: text + 0x1040},
		{Name: "_etext", Type: 'T', Addr: text + 0x2000},
	}}
	dm := cfg.Kernel.DirectMapBase
	if dm == 0 {
		dm = 0xffff888000000000
	}
	ringImg, ringLines := ring.Image(dm + crashRingPhys)
	tabImg, tabLines, err := tab.Image(dm + crashTablesPhys)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Extra = append(append(append(cfg.Extra, ringLines...), tabLines...), fmt.Sprintf("SYMBOL(_stext)=%x", text))
	cfg.Place = func(ram []byte, k *x86test.Kernel) error {
		if k.TextVirt != text {
			return fmt.Errorf("synth put _text at 0x%x, the tables say 0x%x", k.TextVirt, text)
		}
		copy(ram[crashRingPhys:], ringImg)
		copy(ram[crashTablesPhys:], tabImg)
		return nil
	}
}

func TestInfoCrash(t *testing.T) {
	cfg := synth.Default()
	withCrash(t, &cfg)
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.WriteFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "info", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r infoReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q", r.Warnings)
	}
	cr := r.Crash
	if cr == nil {
		t.Fatalf("no crash section:\n%s", out)
	}
	if cr.Kind != "panic" || cr.Reason != "Kernel panic - not syncing: sysrq triggered crash" || cr.Panic != "sysrq triggered crash" ||
		cr.Comm != "init" || cr.PID == nil || *cr.PID != 101 || cr.CPU == nil || *cr.CPU != 1 || cr.TimestampNs != 13_813_898_000 {
		t.Errorf("crash %+v", cr)
	}
	if len(cr.Frames) != 5 || cr.Frames[1] != (crashFrame{Function: "_printk", Offset: "0x64", Size: "0x80"}) ||
		cr.Frames[2] != (crashFrame{Function: "sysrq_handle_crash", Offset: "0x1a", Size: "0x20", Reliable: true}) {
		t.Errorf("frames %+v", cr.Frames)
	}
	if strings.Join(cr.SignatureFrames, " ") != "sysrq_handle_crash __handle_sysrq write_sysrq_trigger" || len(cr.Signature) != 16 {
		t.Errorf("signature %s of %q", cr.Signature, cr.SignatureFrames)
	}
	if r.CrashingCPU == nil || *r.CrashingCPU != 1 {
		t.Errorf("crashing_cpu %v", r.CrashingCPU)
	}
	want := []cpuRegisters{
		{CPU: 1, PID: 101, Crashed: true, RIP: hex(c.RIPs[1]), RSP: hex(cfg.Kernel.DirectMapBase + 0x104000), Symbol: "__crash_kexec+0x8/0x38"},
		{CPU: 0, PID: 100, RIP: hex(c.RIPs[0]), RSP: hex(cfg.Kernel.DirectMapBase + 0x100000), Symbol: "default_idle+0x10/0x18"},
	}
	if fmt.Sprint(r.CPURegisters) != fmt.Sprint(want) {
		t.Errorf("cpu_registers\n got %+v\nwant %+v", r.CPURegisters, want)
	}
	if r.Symbols == nil || *r.Symbols != (symbolSummary{Source: "kallsyms", Count: 7, Encoding: "absolute-percpu"}) {
		t.Errorf("symbols %+v", r.Symbols)
	}

	code, text, _ := runCmd(t, "info", path)
	for _, w := range []string{
		"crash:          Kernel panic - not syncing: sysrq triggered crash\n",
		"task:           init (pid 101) on CPU 1\n",
		"signature:      " + cr.Signature + " (sysrq_handle_crash __handle_sysrq write_sysrq_trigger)\n",
		"call trace:     panic+0x344/0x3a0\n                ? _printk+0x64/0x80\n",
		"cpu 1 (crashed): pid 101, rip " + hex(c.RIPs[1]) + " __crash_kexec+0x8/0x38\n",
		"cpu 0:          pid 100, rip " + hex(c.RIPs[0]) + " default_idle+0x10/0x18\n",
		"symbols:        7 from the kernel's kallsyms tables\n",
	} {
		if code != 0 || !strings.Contains(text, w) {
			t.Errorf("text output (exit %d) lacks %q:\n%s", code, w, text)
		}
	}
}

// A dump without a log or kallsyms tables (a kernel before 6.0, or a damaged one):
// the crash section and symbols are left out, and the warnings say why.
func TestInfoCrashUnsupported(t *testing.T) {
	c, err := synth.New(synth.Default())
	if err != nil {
		t.Fatal(err)
	}
	path, err := c.WriteFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "info", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r infoReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Crash != nil || r.Symbols != nil || r.CrashingCPU != nil {
		t.Errorf("crash %+v symbols %+v crashing CPU %v from a dump without log or tables", r.Crash, r.Symbols, r.CrashingCPU)
	}
	w := strings.Join(r.Warnings, "\n")
	if len(r.Warnings) != 2 || !strings.Contains(w, "kernel log: ") || !strings.Contains(w, "no kernel log to read") ||
		!strings.Contains(w, "symbols: kallsyms: VMCOREINFO does not locate the kallsyms tables (kernels before 6.0 do not export them)") {
		t.Errorf("warnings %q", r.Warnings)
	}
	// The registers are still shown, unresolved.
	if len(r.CPURegisters) != 2 || r.CPURegisters[0].Symbol != "" || r.CPURegisters[0].RIP != hex(c.RIPs[0]) {
		t.Errorf("cpu_registers %+v", r.CPURegisters)
	}
}
