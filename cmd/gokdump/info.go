package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gokdump/gokdump/crashinfo"
)

func init() {
	register(&command{
		name:    "info",
		summary: "what a dump holds: kernel, crash time, CPUs, memory, paging, KASLR, what crashed",
		run:     runInfo,
	})
}

// runInfo prints the dump's report (crashinfo.Describe) as text or as the JSON whose
// fields docs/info-json.md documents.
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
	r, err := crashinfo.Describe(f, crashinfo.Options{})
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
	r.WriteText(e.stdout)
	return 0
}
