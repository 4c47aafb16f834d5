package lab

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// Extra crashes of the 6.12 guest for the signature test: the same bug on another
// boot (another KASLR offset), and another bug. Small guests: only the crash matters.
var (
	sysrqAgain = labVariant{name: "6.12-sysrq-again", kernel: testenv.Kernel612, cpu: "max", kaslr: true, levels: 5,
		crash: plan.CrashSysrq, memoryMiB: 768}
	initExit = labVariant{name: "6.12-init-exit", kernel: testenv.Kernel612, cpu: "max", kaslr: true, levels: 5,
		crash: plan.CrashInitExit, memoryMiB: 768}
)

func variantNamed(t *testing.T, name string) labVariant {
	for _, v := range labVariants {
		if v.name == name {
			return v
		}
	}
	t.Fatalf("no lab variant %q", name)
	return labVariant{}
}

// TestLabCrashInfo checks, on each variant's sysrq crash, the crash summary from the
// log and every CPU's instruction pointer resolved through the kernel's own kallsyms
// tables against the guest's /proc/kallsyms.
func TestLabCrashInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	for _, v := range labVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			res := crashFor(t, v)
			rep := crashReport(t, res)
			if rep.Reason != "Kernel panic - not syncing: sysrq triggered crash" || rep.Kind != crashinfo.Panic {
				t.Errorf("crash reason %q (%s), want the sysrq panic", rep.Reason, rep.Kind)
			}
			if !hasFrame(rep, "sysrq_handle_crash") {
				t.Errorf("call trace lacks sysrq_handle_crash: %v", rep.Frames)
			}
			checkSymbols(t, res, rep)
			checkInfoCrash(t, guestGokdump(t), res, rep)
		})
	}
}

// TestLabSignature crashes the 6.12 guest twice the same way (sysrq-c) with KASLR on,
// and once another way (init exits), and checks that the same bug gives the same
// signature on different boots and offsets, and the other bug another. The 6.1 sysrq
// crash, a different kernel build, gives the same signature as well: its trace differs
// only in generic frames and compiler clone suffixes.
func TestLabSignature(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	vs := []labVariant{variantNamed(t, "6.12-5level-kaslr"), sysrqAgain, initExit, variantNamed(t, "6.1-5level-kaslr")}
	results := make([]*Result, len(vs))
	t.Run("crash", func(t *testing.T) {
		for i, v := range vs {
			t.Run(v.name, func(t *testing.T) {
				t.Parallel()
				results[i] = crashFor(t, v)
			})
		}
	})
	if t.Failed() {
		return
	}
	reps := make([]*crashinfo.Report, len(vs))
	offsets := make([]uint64, len(vs))
	for i, res := range results {
		reps[i] = crashReport(t, res)
		offsets[i] = kernelOffset(t, res)
		t.Logf("%s: KERNELOFFSET 0x%x, signature %s %q %q", vs[i].name, offsets[i], reps[i].Signature, reps[i].SignatureReason, reps[i].SignatureFrames)
	}
	sysrq1, sysrq2, other, sysrq61 := reps[0], reps[1], reps[2], reps[3]
	if offsets[0] == offsets[1] || offsets[0] == 0 {
		t.Errorf("the two 6.12 sysrq crashes have KERNELOFFSET 0x%x and 0x%x: not two different KASLR placements", offsets[0], offsets[1])
	}
	if sysrq1.Signature != sysrq2.Signature {
		t.Errorf("same crash, different boots: signatures %s and %s", sysrq1.Signature, sysrq2.Signature)
	}
	if sysrq61.Signature != sysrq1.Signature {
		t.Errorf("sysrq crash on 6.1 and 6.12: signatures %s (%q) and %s (%q)", sysrq61.Signature, sysrq61.SignatureFrames,
			sysrq1.Signature, sysrq1.SignatureFrames)
	}
	if other.Signature == sysrq1.Signature {
		t.Errorf("init exit and sysrq crash share signature %s", other.Signature)
	}
	want := "Kernel panic - not syncing: Attempted to kill init! exitcode=0x" + strconv.FormatInt(plan.InitExitCode<<8, 16)
	if !strings.HasPrefix(other.Reason, "Kernel panic - not syncing: Attempted to kill init! exitcode=0x") ||
		!strings.HasSuffix(other.Reason, strconv.FormatInt(plan.InitExitCode<<8, 16)) || other.Comm != "init" || !hasFrame(other, "do_exit") {
		t.Errorf("init exit: reason %q (want %q), comm %q, frames %v", other.Reason, want, other.Comm, other.Frames)
	}
	checkSymbols(t, results[2], other)
}

// crashReport reads the log of a lab capture and finds the crash in it.
func crashReport(t *testing.T, res *Result) *crashinfo.Report {
	t.Helper()
	f, err := vmcore.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, err := printk.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := crashinfo.Analyze(log.Records)
	if err != nil {
		t.Fatal(err)
	}
	// The crash came from the lab's init (PID 1, a Go program: any of its threads
	// may have made the system call, each with comm "init").
	if rep.Comm != "init" || rep.PID <= 0 || rep.CPU < 0 || rep.CPU >= res.Facts.CPUs || len(rep.Notes) != 0 {
		t.Errorf("crashed task %q pid %d on CPU %d (notes %q), want init on one of %d CPUs", rep.Comm, rep.PID, rep.CPU, rep.Notes, res.Facts.CPUs)
	}
	if len(rep.SignatureFrames) == 0 || len(rep.Signature) != 16 {
		t.Errorf("signature %q from frames %q", rep.Signature, rep.SignatureFrames)
	}
	return rep
}

func hasFrame(rep *crashinfo.Report, fn string) bool {
	for _, f := range rep.Frames {
		if f.Function == fn && f.Reliable {
			return true
		}
	}
	return false
}

func kernelOffset(t *testing.T, res *Result) uint64 {
	f, err := vmcore.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	off, ok := info.KernelOffset()
	if !ok {
		t.Fatalf("%s: no KERNELOFFSET", res.Vmcore)
	}
	return off
}

// guestSymbol is a line of the guest's /proc/kallsyms.
type guestSymbol struct {
	addr uint64
	typ  byte
	name string
}

// guestKallsyms reads the kernel image's symbols (not the modules') from the guest's
// saved /proc/kallsyms, in its order: the kernel's table order, by address.
func guestKallsyms(t *testing.T, path string) []guestSymbol {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []guestSymbol
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 { // module symbols carry a fourth field, "[module]"
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil || len(fs[1]) != 1 {
			t.Fatalf("%s: %q", path, sc.Text())
		}
		out = append(out, guestSymbol{a, fs[1][0], fs[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSymbols decodes the kernel's kallsyms tables from the dump and compares them
// with the guest's own /proc/kallsyms: every symbol, then each CPU's saved RIP.
func checkSymbols(t *testing.T, res *Result, rep *crashinfo.Report) {
	f, err := vmcore.Open(res.Vmcore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := kallsyms.ReadFile(f)
	if err != nil {
		t.Fatalf("kallsyms: %v", err)
	}
	truth := guestKallsyms(t, res.Facts.Kallsyms)
	if tab.Len() != len(truth) {
		t.Errorf("%d symbols decoded, the guest's /proc/kallsyms has %d", tab.Len(), len(truth))
	}
	bad := 0
	for i, s := range tab.Symbols() {
		if i >= len(truth) {
			break
		}
		if g := truth[i]; s.Addr != g.addr || s.Type != g.typ || s.Name != g.name {
			if bad++; bad <= 5 {
				t.Errorf("symbol %d: decoded %016x %c %s, guest %016x %c %s", i, s.Addr, s.Type, s.Name, g.addr, g.typ, g.name)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d symbols differ from the guest's", bad, len(truth))
	}

	prs, err := f.PRStatus()
	if err != nil {
		t.Fatal(err)
	}
	for cpu, p := range prs {
		rip := p.Regs.RIP
		loc, ok := tab.Lookup(rip)
		if p.Regs.CS&3 == 3 {
			if ok {
				t.Errorf("CPU %d was in user mode at 0x%x, resolved to %v", cpu, rip, loc)
			}
			continue
		}
		// The guest's answer: the last symbol at or below rip, the first of its
		// aliases, sized to the next higher address.
		j := sort.Search(len(truth), func(i int) bool { return truth[i].addr > rip })
		if j == 0 || j == len(truth) {
			t.Errorf("CPU %d RIP 0x%x is outside the guest's kallsyms", cpu, rip)
			continue
		}
		k := j - 1
		for k > 0 && truth[k-1].addr == truth[k].addr {
			k--
		}
		want := kallsyms.Location{Symbol: kallsyms.Symbol{Name: truth[k].name, Type: truth[k].typ, Addr: truth[k].addr},
			Offset: rip - truth[k].addr, Size: truth[j].addr - truth[k].addr}
		if !ok || loc != want {
			t.Errorf("CPU %d RIP 0x%x: resolved %v (%v), guest kallsyms %v", cpu, rip, loc, ok, want)
		}
		t.Logf("CPU %d pid %d RIP 0x%x %v", cpu, p.Pid, rip, loc)
		// The crashing CPU saved its registers in the kexec path (crash_setup_regs
		// inlined into __crash_kexec), the others where the NMI found them.
		if cpu == rep.CPU {
			if loc.Name != "__crash_kexec" || int(p.Pid) != rep.PID {
				t.Errorf("crashing CPU %d: pid %d RIP in %s, want pid %d in __crash_kexec", cpu, p.Pid, loc.Name, rep.PID)
			}
		}
	}
}

// checkInfoCrash checks the crash section of "gokdump info --json".
func checkInfoCrash(t *testing.T, bin string, res *Result, rep *crashinfo.Report) {
	out, err := exec.Command(bin, "info", "--json", res.Vmcore).Output()
	if err != nil {
		t.Fatalf("gokdump info: %v\n%s", err, out)
	}
	var r struct {
		CrashingCPU *int `json:"crashing_cpu"`
		Crash       *struct {
			Reason, Comm, Signature string
			PID                     *int `json:"pid"`
			Frames                  []struct{ Function string }
		}
		CPURegisters []struct {
			CPU     int
			PID     int
			Crashed bool
			Symbol  string
		} `json:"cpu_registers"`
		Symbols *struct{ Count int }
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Crash == nil || r.Crash.Reason != rep.Reason || r.Crash.Signature != rep.Signature || r.Crash.Comm != rep.Comm ||
		r.Crash.PID == nil || *r.Crash.PID != rep.PID || len(r.Crash.Frames) != len(rep.Frames) {
		t.Errorf("info crash section %+v, want %q %s %s pid %d", r.Crash, rep.Reason, rep.Signature, rep.Comm, rep.PID)
	}
	if r.CrashingCPU == nil || *r.CrashingCPU != rep.CPU {
		t.Errorf("info crashing_cpu %v, log CPU %d", r.CrashingCPU, rep.CPU)
	}
	if len(r.CPURegisters) != res.Facts.CPUs || !r.CPURegisters[0].Crashed || r.CPURegisters[0].CPU != rep.CPU ||
		!strings.HasPrefix(r.CPURegisters[0].Symbol, "__crash_kexec+0x") {
		t.Errorf("info cpu_registers %+v: want %d, crashing CPU %d first in __crash_kexec", r.CPURegisters, res.Facts.CPUs, rep.CPU)
	}
	if r.Symbols == nil || r.Symbols.Count == 0 {
		t.Errorf("info symbols %+v", r.Symbols)
	}
}
