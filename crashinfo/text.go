package crashinfo

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report as "gokdump info" does: one "key: value" line per fact,
// the memory ranges, crash and CPU lines indented under their key.
func (r *DumpInfo) WriteText(w io.Writer) {
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
