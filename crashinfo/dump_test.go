package crashinfo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/internal/synth"
	"github.com/gokdump/gokdump/vmcore"
)

// describe reads the report of the dump at path, and returns it as Describe built it
// and as it reads back from its JSON (what "gokdump info --json" prints).
func describe(t *testing.T, path string) (built, back *crashinfo.DumpInfo) {
	t.Helper()
	f, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	built, err = crashinfo.Describe(f, crashinfo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(built, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	back = new(crashinfo.DumpInfo)
	if err := json.Unmarshal(out, back); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return built, back
}

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

func TestDescribeCrash(t *testing.T) {
	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	c, path := synth.Temp(t, cfg)
	built, r := describe(t, path)
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q", r.Warnings)
	}
	cr := r.Crash
	if cr == nil {
		t.Fatalf("no crash section: %+v", r)
	}
	if cr.Kind != "panic" || cr.Reason != "Kernel panic - not syncing: sysrq triggered crash" || cr.Panic != "sysrq triggered crash" ||
		cr.Comm != "init" || cr.PID == nil || *cr.PID != 101 || cr.CPU == nil || *cr.CPU != 1 || cr.TimestampNs != 13_813_898_000 {
		t.Errorf("crash %+v", cr)
	}
	if len(cr.Frames) != 5 || cr.Frames[1] != (crashinfo.CrashFrame{Function: "_printk", Offset: "0x64", Size: "0x80"}) ||
		cr.Frames[2] != (crashinfo.CrashFrame{Function: "sysrq_handle_crash", Offset: "0x1a", Size: "0x20", Reliable: true}) {
		t.Errorf("frames %+v", cr.Frames)
	}
	if strings.Join(cr.SignatureFrames, " ") != "sysrq_handle_crash __handle_sysrq write_sysrq_trigger" || len(cr.Signature) != 16 {
		t.Errorf("signature %s of %q", cr.Signature, cr.SignatureFrames)
	}
	if r.CrashingCPU == nil || *r.CrashingCPU != 1 {
		t.Errorf("crashing_cpu %v", r.CrashingCPU)
	}
	want := []crashinfo.CPURegisters{
		{CPU: 1, PID: 101, Crashed: true, RIP: hex(c.RIPs[1]), RSP: hex(cfg.Kernel.DirectMapBase + 0x104000), Symbol: "__crash_kexec+0x8/0x38"},
		{CPU: 0, PID: 100, RIP: hex(c.RIPs[0]), RSP: hex(cfg.Kernel.DirectMapBase + 0x100000), Symbol: "default_idle+0x10/0x18"},
	}
	if fmt.Sprint(r.CPURegisters) != fmt.Sprint(want) {
		t.Errorf("cpu_registers\n got %+v\nwant %+v", r.CPURegisters, want)
	}
	if r.Symbols == nil || *r.Symbols != (crashinfo.SymbolSummary{Source: "kallsyms", Count: 7, Encoding: "absolute-percpu"}) {
		t.Errorf("symbols %+v", r.Symbols)
	}

	var text bytes.Buffer
	built.WriteText(&text)
	for _, w := range []string{
		"crash:          Kernel panic - not syncing: sysrq triggered crash\n",
		"task:           init (pid 101) on CPU 1\n",
		"signature:      " + cr.Signature + " (sysrq_handle_crash __handle_sysrq write_sysrq_trigger)\n",
		"call trace:     panic+0x344/0x3a0\n                ? _printk+0x64/0x80\n",
		"cpu 1 (crashed): pid 101, rip " + hex(c.RIPs[1]) + " __crash_kexec+0x8/0x38\n",
		"cpu 0:          pid 100, rip " + hex(c.RIPs[0]) + " default_idle+0x10/0x18\n",
		"symbols:        7 from the kernel's kallsyms tables\n",
	} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text output lacks %q:\n%s", w, text.String())
		}
	}
}

// A dump without a log or kallsyms tables (a kernel before 6.0, or a damaged one):
// the crash section and symbols are left out, and the warnings say why.
func TestDescribeCrashUnsupported(t *testing.T) {
	c, path := synth.Temp(t, synth.Default())
	_, r := describe(t, path)
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

// A release in init_uts_ns that disagrees with OSRELEASE means translation went wrong;
// the report says so instead of giving a wrong version silently. (Every copy of the
// string is changed: the text-map and direct-map PT_LOADs both hold the kernel image.)
func TestDescribeWarnsOnMismatchedUTS(t *testing.T) {
	cfg := synth.Default()
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Replace(c.Image, []byte("6.1.0-56-amd64\x00\x00"), []byte("6.1.0-99-amd64\x00\x00"), -1)
	p := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	_, r := describe(t, p)
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "differs from VMCOREINFO OSRELEASE") {
		t.Errorf("no warning: %q", r.Warnings)
	}
}

// NoCrash leaves out what needs the log and the symbol table, and nothing else; the
// capture names the machine with it.
func TestDescribeNoCrash(t *testing.T) {
	cfg := synth.Default()
	if err := cfg.AddCrash(); err != nil {
		t.Fatal(err)
	}
	_, path := synth.Temp(t, cfg)
	f, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := crashinfo.Describe(f, crashinfo.Options{NoCrash: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Crash != nil || d.CrashingCPU != nil || d.CPURegisters != nil || d.Symbols != nil || len(d.Warnings) != 0 || d.UTSNameErr != nil {
		t.Errorf("crash %+v, crashing CPU %v, registers %+v, symbols %+v, warnings %q, utsname %v",
			d.Crash, d.CrashingCPU, d.CPURegisters, d.Symbols, d.Warnings, d.UTSNameErr)
	}
	if d.Kernel.Release != cfg.Release || d.Kernel.Nodename != cfg.Nodename || d.Kernel.Version != cfg.Version ||
		d.CrashTime != "2025-11-26T04:53:50Z" || d.CPUs != cfg.CPUs || d.PagingLevels != 4 {
		t.Errorf("kernel %+v, crash time %q, cpus %d, paging levels %d", d.Kernel, d.CrashTime, d.CPUs, d.PagingLevels)
	}
}

// Page tables that do not translate leave the kernel's uname unknown: the warning and
// UTSNameErr say why, and the rest of the report is there.
func TestDescribeWithoutPageTables(t *testing.T) {
	cfg := synth.Default()
	c, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Clone(c.Image)
	// The page tables are the last MiB of the kernel image; the RAM is the end of the file.
	tables := len(img) - len(c.RAM) + int(cfg.Kernel.ImagePhys+cfg.Kernel.ImageSize) - 1<<20
	clear(img[tables : tables+1<<20])
	p := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	built, r := describe(t, p)
	if built.UTSNameErr == nil || r.UTSNameErr != nil || r.Kernel.Nodename != "" || r.Kernel.Release != cfg.Release ||
		len(r.Warnings) != 1 || !strings.HasPrefix(r.Warnings[0], "kernel page tables: ") ||
		!strings.HasSuffix(r.Warnings[0], built.UTSNameErr.Error()) || r.Memory.TotalBytes != cfg.Kernel.RAMSize {
		t.Errorf("UTSNameErr %v, kernel %+v, warnings %q, memory %d", built.UTSNameErr, r.Kernel, r.Warnings, r.Memory.TotalBytes)
	}
}
