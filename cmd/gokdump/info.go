package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/gokdump/gokdump/arch/x86"
	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

func init() {
	register(&command{
		name:    "info",
		summary: "what a dump holds: kernel, crash time, CPUs, memory, paging, KASLR, what crashed",
		run:     runInfo,
	})
}

// infoReport is what "gokdump info" tells about a dump. Its JSON form is a stable
// interface (docs/info-json.md): fields are only ever added. Addresses are strings
// "0x..." (JSON numbers cannot hold every 64-bit value exactly); sizes and counts are
// numbers. A field that the dump cannot tell is left out, and why goes to Warnings.
type infoReport struct {
	File       string `json:"file"`
	Format     string `json:"format"`
	Flattened  bool   `json:"flattened,omitempty"`
	Incomplete bool   `json:"incomplete"`
	// Dump is set for a filtered dump (kdump-compressed): how it was made.
	Dump *dumpSummary `json:"dump,omitempty"`

	Kernel struct {
		Release  string `json:"release,omitempty"`
		Version  string `json:"version,omitempty"`
		Machine  string `json:"machine,omitempty"`
		Nodename string `json:"nodename,omitempty"`
		BuildID  string `json:"build_id,omitempty"`
	} `json:"kernel"`
	CrashTime   string `json:"crash_time,omitempty"` // RFC 3339, UTC
	CPUs        int    `json:"cpus"`
	CrashingCPU *int   `json:"crashing_cpu,omitempty"`

	Memory struct {
		TotalBytes uint64        `json:"total_bytes"`
		Ranges     []memoryRange `json:"ranges"`
	} `json:"memory"`

	PageSize      int64  `json:"page_size,omitempty"`
	PagingLevels  int    `json:"paging_levels,omitempty"`
	KASLR         *bool  `json:"kaslr,omitempty"`
	KASLROffset   string `json:"kaslr_offset,omitempty"`
	PhysBase      string `json:"phys_base,omitempty"`
	DirectMapBase string `json:"direct_map_base,omitempty"`

	// Crash is what the kernel log says crashed (package crashinfo).
	Crash *crashSummary `json:"crash,omitempty"`
	// CPURegisters is each CPU's saved instruction and stack pointer, the crashing
	// CPU first, with the instruction pointer resolved through the kernel's own
	// symbol table (package kallsyms) when the dump locates it.
	CPURegisters []cpuRegisters `json:"cpu_registers,omitempty"`
	// Symbols says where symbol names came from.
	Symbols *symbolSummary `json:"symbols,omitempty"`

	Warnings []string `json:"warnings,omitempty"`
}

// crashSummary is the final crash report of the kernel log.
type crashSummary struct {
	Kind            string       `json:"kind"`   // panic, oops, warning, hung-task
	Reason          string       `json:"reason"` // the report's first line
	Panic           string       `json:"panic,omitempty"`
	TimestampNs     uint64       `json:"timestamp_ns"`
	CPU             *int         `json:"cpu,omitempty"`
	PID             *int         `json:"pid,omitempty"`
	Comm            string       `json:"comm,omitempty"`
	Frames          []crashFrame `json:"frames,omitempty"`
	Signature       string       `json:"signature"`
	SignatureReason string       `json:"signature_reason"`
	SignatureFrames []string     `json:"signature_frames"`
	Notes           []string     `json:"notes,omitempty"`
}

// crashFrame is one call trace line, "function+0xoffset/0xsize [module]".
type crashFrame struct {
	Function string `json:"function"`
	Offset   string `json:"offset"`
	Size     string `json:"size"`
	Module   string `json:"module,omitempty"`
	Reliable bool   `json:"reliable"`
	Context  string `json:"context,omitempty"`
}

// cpuRegisters is one NT_PRSTATUS note: CPU is the note's index, which is the CPU
// number when every possible CPU saved its registers (the lab's and most machines').
type cpuRegisters struct {
	CPU      int    `json:"cpu"`
	PID      int    `json:"pid"`
	Crashed  bool   `json:"crashed,omitempty"`
	UserMode bool   `json:"user_mode,omitempty"`
	RIP      string `json:"rip"`
	RSP      string `json:"rsp"`
	Symbol   string `json:"symbol,omitempty"`
}

// symbolSummary says which symbol table resolved addresses.
type symbolSummary struct {
	Source   string `json:"source"` // "kallsyms": the kernel's own tables, found through VMCOREINFO
	Count    int    `json:"count"`
	Encoding string `json:"encoding"` // how the tables store addresses (kallsyms.Encoding)
}

// dumpSummary says how a kdump-compressed dump was filtered and compressed.
type dumpSummary struct {
	DumpLevel   int    `json:"dump_level"`
	Compression string `json:"compression"`
	DumpedPages uint64 `json:"dumped_pages"`
}

// memoryRange is one run of physical memory the dump holds, [Start, End].
type memoryRange struct {
	Start string `json:"start"`
	End   string `json:"end"` // last byte, inclusive, as /proc/iomem prints ranges
	Bytes uint64 `json:"bytes"`
}

func runInfo(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "info", `[--json] DUMP

Prints what a dump holds: the crashed kernel's release, version and build ID, the crash
time (UTC), the number of CPUs, the physical memory ranges, the paging mode, the KASLR
offset, phys_base and the direct-map base; and what crashed, from the kernel log: the
panic or oops line, the crashing CPU and task, the call trace and a signature that is
the same for the same bug on every boot; and each CPU's saved instruction pointer as
symbol+offset, from the kernel's own symbol table (kernels 6.0 and later). Reads ELF vmcores (including /proc/vmcore),
kdump-compressed dumps and their flattened form (makedumpfile's and gokdump's).`)
	asJSON := fs.Bool("json", false, "print JSON (field names are stable, see docs/info-json.md)")
	f, code := openDumpArg(e, fs, args)
	if f == nil {
		return code
	}
	defer f.Close()
	r, err := buildInfo(f)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump info: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(e.stderr, "gokdump info: %v\n", err)
			return 1
		}
		return 0
	}
	writeInfoText(e.stdout, r)
	return 0
}

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

// buildInfo gathers the report. Only a dump without VMCOREINFO is an error: everything
// else that cannot be read becomes a warning, because a half-readable dump is exactly
// when someone needs info most.
func buildInfo(f *vmcore.File) (*infoReport, error) {
	r := &infoReport{File: f.Name, Format: string(f.Format), Flattened: f.Flattened, Incomplete: f.Incomplete()}
	info, err := f.VMCOREINFO()
	if err != nil {
		return nil, err
	}
	warn := func(format string, a ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(format, a...)) }
	if k := f.Kdump; k != nil {
		r.Dump = &dumpSummary{DumpLevel: k.DumpLevel(), Compression: k.Codec.String()}
		if r.Dump.DumpedPages, err = f.DumpedPages(); err != nil {
			warn("dumped pages: %v", err)
		}
	}

	r.Kernel.Release, _ = info.OSRelease()
	r.Kernel.BuildID, _ = info.BuildID()
	if t, ok := info.CrashTime(); ok {
		r.CrashTime = t.UTC().Format(time.RFC3339)
	}
	if ps, ok := info.PageSize(); ok {
		r.PageSize = int64(ps)
	}
	if off, ok := info.KernelOffset(); ok {
		r.KASLROffset = hex(off)
		on := off != 0
		r.KASLR = &on
	}

	prs, err := f.PRStatus()
	if err != nil {
		warn("CPU notes: %v", err)
	}
	r.CPUs = len(prs)

	for _, m := range physRanges(f.Loads) {
		r.Memory.Ranges = append(r.Memory.Ranges, memoryRange{Start: hex(m.start), End: hex(m.end - 1), Bytes: m.end - m.start})
		r.Memory.TotalBytes += m.end - m.start
	}

	k, err := kernel.Open(f)
	if err != nil {
		warn("kernel page tables: %v", err)
		return r, nil
	}
	r.PagingLevels = k.Layout.PagingLevels
	r.PhysBase = hex(k.Layout.PhysBase)
	r.DirectMapBase = hex(k.Layout.DirectMapBase)
	addCrash(r, k, info, prs, warn)
	uts, err := k.UTSName()
	if err != nil {
		warn("utsname: %v", err)
		return r, nil
	}
	r.Kernel.Version = uts.Version
	r.Kernel.Machine = uts.Machine
	r.Kernel.Nodename = uts.Nodename
	if r.Kernel.Release == "" {
		r.Kernel.Release = uts.Release
	} else if uts.Release != r.Kernel.Release {
		warn("init_uts_ns release %q differs from VMCOREINFO OSRELEASE %q: page tables or symbols are wrong", uts.Release, r.Kernel.Release)
	}
	return r, nil
}

// addCrash fills the crash section from the kernel log, and the CPUs' registers with
// their symbols from the kernel's kallsyms tables.
func addCrash(r *infoReport, k *kernel.Kernel, info *vmcore.VMCOREINFO, prs []vmcore.PRStatus, warn func(string, ...any)) {
	var rep *crashinfo.Report
	log, err := printk.Read(k, info)
	if err != nil {
		warn("kernel log: %v", err)
	}
	if log != nil {
		rep, err = crashinfo.Analyze(log.Records)
		if err != nil {
			warn("crash: %v", err)
		}
	}
	crashed := -1
	if rep != nil {
		c := &crashSummary{Kind: string(rep.Kind), Reason: rep.Reason, Panic: rep.Panic, TimestampNs: rep.TimestampNs,
			Comm: rep.Comm, Signature: rep.Signature, SignatureReason: rep.SignatureReason,
			SignatureFrames: rep.SignatureFrames, Notes: rep.Notes}
		if rep.CPU >= 0 {
			c.CPU = &rep.CPU
		}
		if rep.PID >= 0 {
			c.PID = &rep.PID
		}
		for _, f := range rep.Frames {
			c.Frames = append(c.Frames, crashFrame{Function: f.Function, Offset: hex(f.Offset), Size: hex(f.Size),
				Module: f.Module, Reliable: f.Reliable, Context: f.Context})
		}
		r.Crash = c
		crashed = crashingNote(rep, prs, warn)
		if crashed >= 0 {
			r.CrashingCPU = &crashed
		}
	}

	syms, err := kallsyms.Read(k, info)
	if err != nil {
		warn("symbols: %v", err)
	} else {
		r.Symbols = &symbolSummary{Source: "kallsyms", Count: syms.Len(), Encoding: string(syms.Encoding)}
	}
	order := make([]int, 0, len(prs))
	if crashed >= 0 {
		order = append(order, crashed)
	}
	for i := range prs {
		if i != crashed {
			order = append(order, i)
		}
	}
	for _, i := range order {
		p := &prs[i]
		c := cpuRegisters{CPU: i, PID: int(p.Pid), Crashed: i == crashed, RIP: hex(p.Regs.RIP), RSP: hex(p.Regs.RSP)}
		// The low two bits of CS are the privilege level the CPU was running at.
		c.UserMode = p.Regs.CS&3 == 3
		if syms != nil && !c.UserMode {
			if loc, ok := syms.Lookup(p.Regs.RIP); ok {
				c.Symbol = loc.String()
			}
		}
		r.CPURegisters = append(r.CPURegisters, c)
	}
}

// crashingNote returns the index of the NT_PRSTATUS note of the CPU the log says
// crashed, checked against the PID that note holds; -1 when it cannot tell.
func crashingNote(rep *crashinfo.Report, prs []vmcore.PRStatus, warn func(string, ...any)) int {
	if rep.CPU >= 0 && rep.CPU < len(prs) && (rep.PID < 0 || int(prs[rep.CPU].Pid) == rep.PID) {
		return rep.CPU
	}
	if rep.PID > 0 {
		for i := range prs {
			if int(prs[i].Pid) == rep.PID {
				if rep.CPU >= 0 {
					warn("crash: the log says CPU %d crashed running PID %d; that PID is in CPU note %d", rep.CPU, rep.PID, i)
				}
				return i
			}
		}
	}
	if rep.CPU >= 0 {
		warn("crash: the log says CPU %d crashed running PID %d; no CPU note holds that PID", rep.CPU, rep.PID)
	}
	return -1
}

type physRange struct{ start, end uint64 } // [start, end)

// physRanges merges the PT_LOADs' physical ranges. The kernel-text PT_LOAD describes
// memory that a direct-map PT_LOAD describes too, so overlapping ranges are merged
// rather than counted twice.
func physRanges(loads []vmcore.Segment) []physRange {
	rs := make([]physRange, 0, len(loads))
	for _, l := range loads {
		if l.MemSize == 0 || l.Virt >= x86.KernelTextMap && len(loads) > 1 {
			// The text map is an alias of memory other loads describe; it counts
			// only when it is all the dump has.
			continue
		}
		end := l.Phys + l.MemSize
		if end < l.Phys { // wrapped: a damaged header, keep what fits
			end = ^uint64(0)
		}
		rs = append(rs, physRange{l.Phys, end})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, r.end)
			continue
		}
		out = append(out, r)
	}
	return out
}

func writeInfoText(w io.Writer, r *infoReport) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-15s %s\n", k+":", v)
		}
	}
	line("file", r.File)
	format := map[string]string{"elf": "ELF vmcore", "kdump-compressed": "kdump-compressed"}[r.Format]
	if format == "" {
		format = r.Format
	}
	if r.Flattened {
		format += " (flattened)"
	}
	if r.Incomplete {
		format += " (INCOMPLETE: the dump was cut short)"
	}
	line("format", format)
	if d := r.Dump; d != nil {
		line("filtering", fmt.Sprintf("dump level %d, %s compression, %d pages dumped", d.DumpLevel, d.Compression, d.DumpedPages))
	}
	line("release", r.Kernel.Release)
	line("version", r.Kernel.Version)
	line("machine", r.Kernel.Machine)
	line("hostname", r.Kernel.Nodename)
	line("build-id", r.Kernel.BuildID)
	line("crash time", r.CrashTime)
	cpus := fmt.Sprint(r.CPUs)
	if r.CrashingCPU != nil {
		cpus += fmt.Sprintf(" (crashed on CPU %d)", *r.CrashingCPU)
	}
	line("cpus", cpus)
	line("memory", fmt.Sprintf("%s in %d range(s)", humanBytes(r.Memory.TotalBytes), len(r.Memory.Ranges)))
	for _, m := range r.Memory.Ranges {
		fmt.Fprintf(w, "%-15s %18s-%-18s %s\n", "", m.Start, m.End, humanBytes(m.Bytes))
	}
	if r.PageSize != 0 {
		line("page size", fmt.Sprint(r.PageSize))
	}
	if r.PagingLevels != 0 {
		line("paging", fmt.Sprintf("%d-level", r.PagingLevels))
	}
	if r.KASLR != nil {
		state := "off"
		if *r.KASLR {
			state = "on"
		}
		line("kaslr", state+", offset "+r.KASLROffset)
	}
	line("phys_base", r.PhysBase)
	line("direct map", r.DirectMapBase)
	if c := r.Crash; c != nil {
		line("crash", c.Reason)
		if c.Panic != "" && !strings.HasSuffix(c.Reason, c.Panic) {
			line("panic", c.Panic)
		}
		var task []string
		if c.Comm != "" {
			task = append(task, c.Comm)
		}
		if c.PID != nil {
			task = append(task, fmt.Sprintf("(pid %d)", *c.PID))
		}
		if c.CPU != nil {
			task = append(task, fmt.Sprintf("on CPU %d", *c.CPU))
		}
		line("task", strings.Join(task, " "))
		line("signature", fmt.Sprintf("%s (%s)", c.Signature, strings.Join(c.SignatureFrames, " ")))
		for i, f := range c.Frames {
			k := ""
			if i == 0 {
				k = "call trace:"
			}
			s := f.Function + "+" + f.Offset + "/" + f.Size
			if f.Module != "" {
				s += " [" + f.Module + "]"
			}
			if !f.Reliable {
				s = "? " + s
			}
			if f.Context != "" {
				s += "  <" + f.Context + ">"
			}
			fmt.Fprintf(w, "%-15s %s\n", k, s)
		}
		for _, n := range c.Notes {
			line("note", n)
		}
	}
	for _, c := range r.CPURegisters {
		k := fmt.Sprintf("cpu %d", c.CPU)
		if c.Crashed {
			k += " (crashed)"
		}
		v := fmt.Sprintf("pid %d, rip %s", c.PID, c.RIP)
		switch {
		case c.Symbol != "":
			v += " " + c.Symbol
		case c.UserMode:
			v += " (user mode)"
		}
		fmt.Fprintf(w, "%-15s %s\n", k+":", v)
	}
	if s := r.Symbols; s != nil {
		line("symbols", fmt.Sprintf("%d from the kernel's kallsyms tables", s.Count))
	}
	for _, wmsg := range r.Warnings {
		line("warning", strings.TrimSpace(wmsg))
	}
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}
