package main

import (
	"context"
	"fmt"

	"github.com/gokdump/gokdump/printk"
)

func init() {
	register(&command{
		name:    "dmesg",
		summary: "the crashed kernel's log, as vmcore-dmesg prints it",
		run:     runDmesg,
	})
}

func runDmesg(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "dmesg", `[--json] DUMP

Prints the kernel log of the crashed kernel, byte for byte as kexec-tools' vmcore-dmesg
does: "[seconds.micros] text" per record, bytes that are not printable written as \xNN.
Reads every layout of the log (the lockless ring of 5.10+, the records of 3.5-5.9 and the
character ring of older kernels) from the dump's VMCOREINFO alone. When the log is
damaged, the records before the damage are printed and the error says where it stopped.`)
	asJSON := fs.Bool("json", false, "print one JSON object per record (seq, timestamp_ns, caller, level, facility, text)")
	f, code := openDumpArg(e, fs, args)
	if f == nil {
		return code
	}
	defer f.Close()
	log, readErr := printk.ReadFile(f)
	if log != nil {
		var werr error
		if *asJSON {
			werr = log.WriteJSON(e.stdout)
		} else {
			werr = log.WriteText(e.stdout)
		}
		if werr != nil {
			fmt.Fprintf(e.stderr, "gokdump dmesg: writing the log: %v\n", werr)
			return 1
		}
	}
	if readErr != nil {
		fmt.Fprintf(e.stderr, "gokdump dmesg: %v\n", readErr)
		return 1
	}
	return 0
}
