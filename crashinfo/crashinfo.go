package crashinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/printk"
)

// Kind is what started the final crash report.
type Kind string

const (
	Panic    Kind = "panic"     // "Kernel panic - not syncing: ..." with no report before it
	Oops     Kind = "oops"      // an oops, BUG, general protection fault, lockup ...
	Warning  Kind = "warning"   // "WARNING: ..." that panicked (panic_on_warn)
	HungTask Kind = "hung-task" // "INFO: task ... blocked for more than ..." that panicked
)

// ErrNoCrash is returned when the log holds no panic and no oops report: a dump taken
// on purpose from a running kernel, or a log cut before the crash.
var ErrNoCrash = errors.New("crashinfo: the kernel log holds no panic or oops report")

// Report is the final crash as the kernel reported it.
type Report struct {
	Kind   Kind
	Reason string // the report's first line, as printed
	// Panic is the panic message (after "Kernel panic - not syncing: ") when the
	// crash went through panic(), else "".
	Panic       string
	Seq         uint64 // of the record holding Reason
	TimestampNs uint64 // of that record

	// CPU, PID and Comm are the crashing CPU and task from the report's
	// "CPU: N [UID: U] PID: P Comm: C ..." line; -1 and "" when the log does not tell.
	CPU, PID int
	Comm     string

	// Frames is the report's call trace, top first. For an oops it starts with the
	// function the faulting instruction was in (the report's kernel-mode "RIP:" line).
	Frames []Frame

	// Signature is a stable hash of the normalized reason and the top frames
	// (SignatureFrames): the same bug gives the same signature on every boot, with
	// any KASLR offset, PID, CPU or address.
	Signature       string
	SignatureReason string   // the reason with numbers and addresses replaced by "N"
	SignatureFrames []string // the function names hashed

	// Notes say where the log was inconsistent with itself (a CPU line whose PID is
	// not the record's caller) or where a value came from a fallback.
	Notes []string
}

// Frame is one line of a call trace: "function+0xoffset/0xsize [module]".
type Frame struct {
	Function     string
	Offset, Size uint64
	Module       string // "" for the kernel image
	// Reliable is false for frames printed with "? ": addresses found on the stack
	// that the unwinder could not prove to be return addresses.
	Reliable bool
	// Context is the stack the frame was on: "" for the task's stack, else the
	// marker the kernel printed ("IRQ", "NMI", "SOFTIRQ", "#DF", ...); "RIP" for the
	// faulting function of an oops, from its register dump.
	Context string
}

// String formats the frame as the kernel prints it.
func (f Frame) String() string {
	s := fmt.Sprintf("%s+0x%x/0x%x", f.Function, f.Offset, f.Size)
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	if !f.Reliable {
		s = "? " + s
	}
	return s
}

// Limits on how far the parser looks: a report is printed in one go.
const (
	// RelatedWindow is how long before a panic an oops, WARNING or hung-task report
	// by the same caller may start and still be the panic's cause.
	RelatedWindow = 10 * time.Second
	// reportLines bounds the lines after a report's first line searched for its
	// CPU line and call trace (an OOM report's memory summary is long).
	reportLines = 600
	// subHeaderLines: an "Oops:" line this close after a "BUG:" line is the same report.
	subHeaderLines = 12
	// maxFrames bounds the frames kept from one trace.
	maxFrames = 256
	// SignatureFrameCount is how many frames the signature hashes.
	SignatureFrameCount = 5
)

// line is one line of the log: records may hold several (continuation lines).
type line struct {
	rec  int
	text string
}

type header struct {
	at   int // index into lines
	kind Kind
	sub  bool // an "Oops:"-style line that follows the real first line of its report
}

var panicPrefix = "Kernel panic - not syncing: "

// classify says whether a line starts (or continues) a crash report.
func classify(s string) (kind Kind, sub, ok bool) {
	switch {
	case strings.HasPrefix(s, panicPrefix):
		return Panic, false, true
	case strings.HasPrefix(s, "Oops: "), strings.HasPrefix(s, "Oops#"), s == "Oops":
		// "Oops: 0002 [#1] PREEMPT SMP NOPTI" (6.9+: "Oops: general protection
		// fault, ...") follows the BUG line of the same report, when there is one.
		return Oops, true, true
	case strings.HasPrefix(s, "general protection fault"),
		strings.HasPrefix(s, "divide error: "), strings.HasPrefix(s, "invalid opcode: "),
		strings.HasPrefix(s, "stack segment: "), strings.HasPrefix(s, "double fault: "),
		strings.HasPrefix(s, "int3: "), strings.HasPrefix(s, "traps: "):
		// x86 die() headers ("general protection fault: 0000 [#1] SMP"); a
		// preceding BUG line owns them as for "Oops:".
		return Oops, true, true
	case strings.HasPrefix(s, "BUG: "), strings.HasPrefix(s, "kernel BUG at "),
		strings.HasPrefix(s, "Unable to handle kernel "), strings.HasPrefix(s, "watchdog: BUG: "),
		strings.HasPrefix(s, "watchdog: Watchdog detected hard LOCKUP"),
		strings.HasPrefix(s, "UBSAN: "), strings.HasPrefix(s, "Internal error: "):
		return Oops, false, true
	case strings.HasPrefix(s, "WARNING: "):
		return Warning, false, true
	case strings.HasPrefix(s, "INFO: task ") && strings.Contains(s, " blocked for more than "):
		return HungTask, false, true
	}
	return "", false, false
}

// Analyze finds the final crash in a kernel log (records oldest first).
func Analyze(recs []printk.Record) (*Report, error) {
	var lines []line
	for i := range recs {
		for _, l := range strings.Split(recs[i].Text, "\n") {
			lines = append(lines, line{rec: i, text: strings.TrimRight(l, "\r")})
		}
	}
	var heads []header
	lastPanic := -1
	for i, l := range lines {
		if k, sub, ok := classify(l.text); ok {
			heads = append(heads, header{at: i, kind: k, sub: sub})
			if k == Panic {
				lastPanic = len(heads) - 1
			}
		}
	}

	var start header
	panicLine := -1
	switch {
	case lastPanic >= 0:
		p := heads[lastPanic]
		panicLine = p.at
		start = p
		if lastPanic > 0 {
			o := heads[lastPanic-1]
			if o.kind != Panic && related(recs, lines, o.at, p.at) {
				start = reportStart(heads, lastPanic-1)
			}
		}
	default:
		found := false
		for i := len(heads) - 1; i >= 0; i-- {
			if heads[i].kind == Oops {
				start, found = reportStart(heads, i), true
				break
			}
		}
		if !found {
			return nil, ErrNoCrash
		}
	}

	first := lines[start.at]
	rep := &Report{
		Kind:        start.kind,
		Reason:      first.text,
		Seq:         recs[first.rec].Seq,
		TimestampNs: recs[first.rec].TimestampNs,
		CPU:         -1,
		PID:         -1,
	}
	if panicLine >= 0 {
		rep.Panic = strings.TrimPrefix(lines[panicLine].text, panicPrefix)
	}
	end := min(len(lines), start.at+reportLines)
	rep.task(recs, lines, start.at, end)
	rep.trace(lines, start.at, end)
	rep.SignatureReason, rep.SignatureFrames, rep.Signature = Signature(rep.Reason, rep.Frames)
	return rep, nil
}

// related reports whether the report starting at line o caused the panic at line p:
// the same caller printed both (when the log records callers) within RelatedWindow.
func related(recs []printk.Record, lines []line, o, p int) bool {
	ro, rp := &recs[lines[o].rec], &recs[lines[p].rec]
	if rp.TimestampNs < ro.TimestampNs || rp.TimestampNs-ro.TimestampNs > uint64(RelatedWindow) {
		return false
	}
	if ro.HasCaller && rp.HasCaller && ro.CallerID != rp.CallerID {
		return false
	}
	return p-o <= reportLines
}

// reportStart returns the first line of the report heads[i] belongs to: an
// "Oops:"-style line shortly after a "BUG:" line continues that report.
func reportStart(heads []header, i int) header {
	h := heads[i]
	if h.sub && i > 0 {
		prev := heads[i-1]
		if prev.kind == Oops && !prev.sub && h.at-prev.at <= subHeaderLines {
			return prev
		}
	}
	return h
}

// cpuLine matches dump_stack_print_info's line: "CPU: 1 PID: 88 Comm: init ..." (3.10
// to 6.9), "CPU: 1 UID: 0 PID: 134 Comm: init ..." (6.10+).
var cpuLine = regexp.MustCompile(`^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.*)$`)

// oldPidLine is the same information before 3.10: "Pid: 1, comm: swapper Not tainted ...".
var oldPidLine = regexp.MustCompile(`^Pid: (\d+), comm: (.*)$`)

// commEnd finds where the comm ends in the rest of a CPU line: comm (at most 15
// bytes, spaces allowed) is followed by "Kdump: loaded ", then the taint state.
func commOf(rest string) string {
	cut := len(rest)
	for _, m := range []string{" Kdump: loaded", " Not tainted", " Tainted: "} {
		if i := strings.Index(rest, m); i >= 0 && i < cut {
			cut = i
		}
	}
	if cut == len(rest) {
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			cut = i
		}
	}
	return rest[:cut]
}

// task fills CPU, PID and Comm from the first CPU line of the report and checks them
// against the caller id of the record that holds it.
func (rep *Report) task(recs []printk.Record, lines []line, from, end int) {
	for i := from; i < end; i++ {
		l := lines[i].text
		if m := cpuLine.FindStringSubmatch(l); m != nil {
			rep.CPU, _ = strconv.Atoi(m[1])
			rep.PID, _ = strconv.Atoi(m[2])
			rep.Comm = commOf(m[3])
		} else if m := oldPidLine.FindStringSubmatch(l); m != nil {
			rep.PID, _ = strconv.Atoi(m[1])
			rep.Comm = commOf(m[2])
		} else {
			continue
		}
		r := &recs[lines[i].rec]
		if id, isCPU, ok := r.Caller(); ok {
			switch {
			case isCPU && rep.CPU >= 0 && int(id) != rep.CPU:
				rep.Notes = append(rep.Notes, fmt.Sprintf("the CPU line says CPU %d, its record was logged from CPU %d", rep.CPU, id))
			case !isCPU && int(id) != rep.PID:
				rep.Notes = append(rep.Notes, fmt.Sprintf("the CPU line says PID %d, its record was logged by PID %d", rep.PID, id))
			}
		}
		return
	}
	// No CPU line: the caller id of the report's first record still names the
	// task or the CPU (5.1+ with CONFIG_PRINTK_CALLER, always since 5.10).
	if id, isCPU, ok := recs[lines[from].rec].Caller(); ok {
		if isCPU {
			rep.CPU = int(id)
		} else {
			rep.PID = int(id)
		}
		rep.Notes = append(rep.Notes, "no CPU line in the report: the task or CPU is the record's caller id")
	}
}

// frameRe matches a call trace line: optional "[<address>]" (before 4.14), optional
// "? " (unreliable), "function+0xoff/0xsize", optional " [module]".
var frameRe = regexp.MustCompile(`^\s*(?:\[<[0-9a-f]+>\]\s*)?(\? )?([^\s+?]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([^\]\s]+)\])?`)

// ripRe matches a kernel-mode "RIP: 0010:function+0xoff/0xsize" register line
// (older: "RIP: 0010:[<ffffffff81>]  [<ffffffff81>] function+0x16/0x20").
var ripRe = regexp.MustCompile(`^RIP: 0010:(?:\[<[0-9a-f]+>\]\s+\[<[0-9a-f]+>\]\s+)?([^\s+]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[([^\]\s]+)\])?`)

// regLine matches the register dump lines the kernel prints inside a trace (the user
// registers of a syscall: "RIP: 0033:0x40a8ae", "RSP: ...", "Code: ...", "R10: ...").
var regLine = regexp.MustCompile(`^(?:RIP|RSP|RAX|RBX|RCX|RDX|RSI|RDI|RBP|R\d{1,2}|FS|GS|CS|DS|ES|CR\d|DR\d|Code|EFLAGS|ORIG_RAX|PKRU): `)

// trace reads the first "Call Trace:" of the report, after the faulting function of
// an oops (its kernel-mode RIP line, printed before the trace).
func (rep *Report) trace(lines []line, from, end int) {
	i := from
	for ; i < end; i++ {
		l := strings.TrimSpace(lines[i].text)
		if rep.Kind != Panic && len(rep.Frames) == 0 {
			if m := ripRe.FindStringSubmatch(l); m != nil {
				rep.Frames = append(rep.Frames, frame(m[1], m[2], m[3], m[4], true, "RIP"))
				continue
			}
		}
		if l == "Call Trace:" {
			break
		}
		// A later report (the panic after an oops) would start another trace.
		if i > from {
			if _, sub, ok := classify(l); ok && !sub {
				return
			}
		}
	}
	ctx := ""
	for i++; i < end && len(rep.Frames) < maxFrames; i++ {
		l := lines[i].text
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "</") && strings.HasSuffix(t, ">"):
			ctx = ""
		case strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">") && len(t) <= 16:
			ctx = strings.Trim(t, "<>")
			if ctx == "TASK" || ctx == "EOI" {
				ctx = ""
			}
		case regLine.MatchString(t):
			// registers of the interrupted context, inside the trace
		default:
			m := frameRe.FindStringSubmatch(l)
			if m == nil || !strings.HasPrefix(l, " ") {
				return
			}
			rep.Frames = append(rep.Frames, frame(m[2], m[3], m[4], m[5], m[1] == "", ctx))
		}
	}
}

func frame(fn, off, size, mod string, reliable bool, ctx string) Frame {
	o, _ := strconv.ParseUint(off, 16, 64)
	s, _ := strconv.ParseUint(size, 16, 64)
	return Frame{Function: fn, Offset: o, Size: s, Module: mod, Reliable: reliable, Context: ctx}
}

// GenericFrames are the functions Signature leaves out: they report a crash, take the
// machine down, deliver an exception or interrupt, or enter the kernel, and appear
// in the traces of every bug alike. What is left characterises the bug: the faulting
// function and its callers.
var GenericFrames = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`
		dump_stack dump_stack_lvl show_stack show_trace_log_lvl
		panic vpanic nmi_panic check_panic_on_warn crash_kexec __crash_kexec
		__warn warn_slowpath_fmt warn_slowpath_null report_bug handle_bug
		exc_invalid_op asm_exc_invalid_op invalid_op do_invalid_op do_error_trap do_trap
		die __die oops_end no_context __bad_area_nosemaphore bad_area_nosemaphore bad_area
		kernelmode_fixup_or_oops page_fault_oops do_user_addr_fault do_kern_addr_fault
		__do_page_fault do_page_fault exc_page_fault asm_exc_page_fault page_fault
		exc_general_protection asm_exc_general_protection general_protection do_general_protection
		watchdog watchdog_timer_fn check_hung_uninterruptible_tasks kthread ret_from_fork ret_from_fork_asm
		__hrtimer_run_queues hrtimer_interrupt __sysvec_apic_timer_interrupt sysvec_apic_timer_interrupt
		asm_sysvec_apic_timer_interrupt apic_timer_interrupt smp_apic_timer_interrupt
		entry_SYSCALL_64_after_hwframe entry_SYSCALL_64 do_syscall_64 x64_sys_call
	`) {
		GenericFrames[f] = true
	}
}

// compilerSuffix matches the suffixes the compiler gives clones of a function
// (".cold", ".isra.0", ".constprop.0", ".part.0", ".lto_priv.0", ".llvm.123"): they
// differ between builds of the same source.
var compilerSuffix = regexp.MustCompile(`(?:\.(?:cold|isra|constprop|part|lto_priv|llvm)(?:\.\d+)?)+$`)

var (
	offsetRe  = regexp.MustCompile(`\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+`)
	hexRe     = regexp.MustCompile(`0x[0-9a-fA-F]+|\b[0-9a-fA-F]{8,}\b`)
	decimalRe = regexp.MustCompile(`(^|[^A-Za-z0-9_])\d+`)
	spacesRe  = regexp.MustCompile(`\s+`)
)

// NormalizeReason strips what differs between two occurrences of one bug from a
// report's first line: offsets in symbol references, addresses, and numbers
// (CPU, PID, line numbers, seconds, exit codes) not part of an identifier.
func NormalizeReason(reason string) string {
	s := offsetRe.ReplaceAllString(reason, "")
	s = hexRe.ReplaceAllString(s, "N")
	s = decimalRe.ReplaceAllString(s, "${1}N")
	return strings.TrimSpace(spacesRe.ReplaceAllString(s, " "))
}

// Signature hashes the normalized reason and the first SignatureFrameCount reliable
// frames that are not GenericFrames, with compiler clone suffixes removed. It returns
// the normalized reason, the function names used and the first 16 hex digits of the
// SHA-256 of "reason\nf1\nf2...".
func Signature(reason string, frames []Frame) (string, []string, string) {
	norm := NormalizeReason(reason)
	var fns []string
	for _, f := range frames {
		if len(fns) == SignatureFrameCount {
			break
		}
		fn := compilerSuffix.ReplaceAllString(f.Function, "")
		if !f.Reliable || GenericFrames[fn] {
			continue
		}
		fns = append(fns, fn)
	}
	sum := sha256.Sum256([]byte(strings.Join(append([]string{norm}, fns...), "\n")))
	return norm, fns, hex.EncodeToString(sum[:8])
}
