package crashinfo

import (
	"fmt"
	"time"

	"github.com/gokdump/gokdump/internal/ranges"
	"github.com/gokdump/gokdump/kallsyms"
	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// DumpInfo is what a dump tells about the crashed machine: what "gokdump info" prints,
// the capture's status file records and "gokdump list" can show. Its JSON form is a
// stable interface (docs/info-json.md): fields are only ever added. Addresses are
// strings "0x..." (JSON numbers cannot hold every 64-bit value exactly); sizes and
// counts are numbers. A field that the dump cannot tell is left out, and why goes to
// Warnings.
type DumpInfo struct {
	File       string `json:"file"`
	Format     string `json:"format"`
	Flattened  bool   `json:"flattened,omitempty"`
	Incomplete bool   `json:"incomplete"`
	// Dump is set for a filtered dump (kdump-compressed): how it was made.
	Dump *DumpSummary `json:"dump,omitempty"`

	Kernel      KernelSummary `json:"kernel"`
	CrashTime   string        `json:"crash_time,omitempty"` // RFC 3339, UTC
	CPUs        int           `json:"cpus"`
	CrashingCPU *int          `json:"crashing_cpu,omitempty"`

	Memory MemorySummary `json:"memory"`

	PageSize      int64  `json:"page_size,omitempty"`
	PagingLevels  int    `json:"paging_levels,omitempty"`
	KASLR         *bool  `json:"kaslr,omitempty"`
	KASLROffset   string `json:"kaslr_offset,omitempty"`
	PhysBase      string `json:"phys_base,omitempty"`
	DirectMapBase string `json:"direct_map_base,omitempty"`

	// Crash is what the kernel log says crashed (package crashinfo).
	Crash *CrashSummary `json:"crash,omitempty"`
	// CPURegisters is each CPU's saved instruction and stack pointer, the crashing
	// CPU first, with the instruction pointer resolved through the kernel's own
	// symbol table (package kallsyms) when the dump locates it.
	CPURegisters []CPURegisters `json:"cpu_registers,omitempty"`
	// Symbols says where symbol names came from.
	Symbols *SymbolSummary `json:"symbols,omitempty"`

	Warnings []string `json:"warnings,omitempty"`

	// UTSNameErr is why Kernel.Version, Machine and Nodename are empty: the kernel's
	// page tables or its init_uts_ns could not be read (nil when they were). It is not
	// in the JSON, where Warnings says it.
	UTSNameErr error `json:"-"`
}

// KernelSummary is the crashed kernel: uname(2) as it would have answered, and the
// build ID of its vmlinux.
type KernelSummary struct {
	Release  string `json:"release,omitempty"`
	Version  string `json:"version,omitempty"`
	Machine  string `json:"machine,omitempty"`
	Nodename string `json:"nodename,omitempty"`
	BuildID  string `json:"build_id,omitempty"`
}

// MemorySummary is the physical memory the dump describes, each byte once.
type MemorySummary struct {
	TotalBytes uint64        `json:"total_bytes"`
	Ranges     []MemoryRange `json:"ranges"`
}

// CrashSummary is the final crash report of the kernel log: a [Report] with its
// addresses as strings.
type CrashSummary struct {
	Kind            string       `json:"kind"`   // panic, oops, warning, hung-task
	Reason          string       `json:"reason"` // the report's first line
	Panic           string       `json:"panic,omitempty"`
	TimestampNs     uint64       `json:"timestamp_ns"`
	CPU             *int         `json:"cpu,omitempty"`
	PID             *int         `json:"pid,omitempty"`
	Comm            string       `json:"comm,omitempty"`
	Frames          []CrashFrame `json:"frames,omitempty"`
	Signature       string       `json:"signature"`
	SignatureReason string       `json:"signature_reason"`
	SignatureFrames []string     `json:"signature_frames"`
	Notes           []string     `json:"notes,omitempty"`
}

// CrashFrame is one call trace line, "function+0xoffset/0xsize [module]".
type CrashFrame struct {
	Function string `json:"function"`
	Offset   string `json:"offset"`
	Size     string `json:"size"`
	Module   string `json:"module,omitempty"`
	Reliable bool   `json:"reliable"`
	Context  string `json:"context,omitempty"`
}

// CPURegisters is one NT_PRSTATUS note: CPU is the note's index, which is the CPU
// number when every possible CPU saved its registers (the lab's and most machines').
type CPURegisters struct {
	CPU      int    `json:"cpu"`
	PID      int    `json:"pid"`
	Crashed  bool   `json:"crashed,omitempty"`
	UserMode bool   `json:"user_mode,omitempty"`
	RIP      string `json:"rip"`
	RSP      string `json:"rsp"`
	Symbol   string `json:"symbol,omitempty"`
}

// SymbolSummary says which symbol table resolved addresses.
type SymbolSummary struct {
	Source   string `json:"source"` // "kallsyms": the kernel's own tables, found through VMCOREINFO
	Count    int    `json:"count"`
	Encoding string `json:"encoding"` // how the tables store addresses (kallsyms.Encoding)
}

// DumpSummary says how a kdump-compressed dump was filtered and compressed.
type DumpSummary struct {
	DumpLevel   int    `json:"dump_level"`
	Compression string `json:"compression"`
	DumpedPages uint64 `json:"dumped_pages"`
}

// MemoryRange is one run of physical memory the dump holds, [Start, End].
type MemoryRange struct {
	Start string `json:"start"`
	End   string `json:"end"` // last byte, inclusive, as /proc/iomem prints ranges
	Bytes uint64 `json:"bytes"`
}

func hexAddr(v uint64) string { return fmt.Sprintf("0x%x", v) }

// Options choose what Describe reads beyond the dump's headers.
type Options struct {
	// NoCrash leaves out what needs the kernel log and the kernel's symbol table:
	// Crash, CrashingCPU, CPURegisters and Symbols. The capture uses it to name the
	// crashed machine without the time and memory those take.
	NoCrash bool
}

// Describe builds the report of a dump. Only a dump without VMCOREINFO is an error:
// everything else that cannot be read becomes a warning, because a half-readable dump is
// exactly when someone needs it most.
func Describe(f *vmcore.File, opts Options) (*DumpInfo, error) {
	r := &DumpInfo{File: f.Name, Format: string(f.Format), Flattened: f.Flattened, Incomplete: f.Incomplete()}
	info, err := f.VMCOREINFO()
	if err != nil {
		return nil, err
	}
	warn := func(format string, a ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(format, a...)) }
	if k := f.Kdump; k != nil {
		r.Dump = &DumpSummary{DumpLevel: k.DumpLevel(), Compression: k.Codec.String()}
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
		r.KASLROffset = hexAddr(off)
		on := off != 0
		r.KASLR = &on
	}

	prs, err := f.PRStatus()
	if err != nil {
		warn("CPU notes: %v", err)
	}
	r.CPUs = len(prs)

	for _, m := range physRanges(f) {
		r.Memory.Ranges = append(r.Memory.Ranges, MemoryRange{Start: hexAddr(m.Start), End: hexAddr(m.End - 1), Bytes: m.End - m.Start})
		r.Memory.TotalBytes += m.End - m.Start
	}

	k, err := kernel.Open(f)
	if err != nil {
		warn("kernel page tables: %v", err)
		r.UTSNameErr = err
		return r, nil
	}
	r.PagingLevels = k.Layout.PagingLevels
	r.PhysBase = hexAddr(k.Layout.PhysBase)
	r.DirectMapBase = hexAddr(k.Layout.DirectMapBase)
	if !opts.NoCrash {
		addCrash(r, k, info, prs, warn)
	}
	uts, err := k.UTSName()
	if err != nil {
		warn("utsname: %v", err)
		r.UTSNameErr = err
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
func addCrash(r *DumpInfo, k *kernel.Kernel, info *vmcore.VMCOREINFO, prs []vmcore.PRStatus, warn func(string, ...any)) {
	var rep *Report
	log, err := printk.Read(k, info)
	if err != nil {
		warn("kernel log: %v", err)
	}
	if log != nil {
		rep, err = Analyze(log.Records)
		if err != nil {
			warn("crash: %v", err)
		}
	}
	crashed := -1
	if rep != nil {
		c := &CrashSummary{Kind: string(rep.Kind), Reason: rep.Reason, Panic: rep.Panic, TimestampNs: rep.TimestampNs,
			Comm: rep.Comm, Signature: rep.Signature, SignatureReason: rep.SignatureReason,
			SignatureFrames: rep.SignatureFrames, Notes: rep.Notes}
		if rep.CPU >= 0 {
			c.CPU = &rep.CPU
		}
		if rep.PID >= 0 {
			c.PID = &rep.PID
		}
		for _, f := range rep.Frames {
			c.Frames = append(c.Frames, CrashFrame{Function: f.Function, Offset: hexAddr(f.Offset), Size: hexAddr(f.Size),
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
		r.Symbols = &SymbolSummary{Source: "kallsyms", Count: syms.Len(), Encoding: string(syms.Encoding)}
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
		c := CPURegisters{CPU: i, PID: int(p.Pid), Crashed: i == crashed, RIP: hexAddr(p.Regs.RIP), RSP: hexAddr(p.Regs.RSP)}
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
func crashingNote(rep *Report, prs []vmcore.PRStatus, warn func(string, ...any)) int {
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

// physRanges merges the PT_LOADs' physical ranges. The kernel-text PT_LOAD describes
// memory that a direct-map PT_LOAD describes too, so it is left out (kernel.TextAliases)
// and overlapping ranges are merged rather than counted twice.
func physRanges(f *vmcore.File) []ranges.Range {
	alias := kernel.TextAliases(f)
	rs := make([]ranges.Range, 0, len(f.Loads))
	for i, l := range f.Loads {
		if l.MemSize == 0 || alias[i] {
			continue
		}
		end := l.Phys + l.MemSize
		if end < l.Phys { // wrapped: a damaged header, keep what fits
			end = ^uint64(0)
		}
		rs = append(rs, ranges.Range{Start: l.Phys, End: end})
	}
	return ranges.Merge(rs)
}
