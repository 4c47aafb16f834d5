package main

import (
	"bufio"
	"context"
	"encoding/json"
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

// dmesgRecord is one line of "gokdump dmesg --json". The field names are a stable
// interface: fields are only ever added. A field the kernel's log layout does not record
// is left out.
type dmesgRecord struct {
	Seq         uint64       `json:"seq"`
	TimestampNs uint64       `json:"timestamp_ns"`
	Caller      *dmesgCaller `json:"caller,omitempty"`
	Level       *int         `json:"level,omitempty"`
	Facility    *int         `json:"facility,omitempty"`
	Subsystem   string       `json:"subsystem,omitempty"`
	Device      string       `json:"device,omitempty"`
	// Text is escaped as in the text output ("\xNN" for bytes that are neither printable
	// ASCII nor white space), so it is plain ASCII whatever the kernel stored.
	Text string `json:"text"`
}

// dmesgCaller is who printed: a task (pid) or a CPU in interrupt context.
type dmesgCaller struct {
	PID *uint32 `json:"pid,omitempty"`
	CPU *uint32 `json:"cpu,omitempty"`
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
			werr = writeDmesgJSON(e, log)
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

func writeDmesgJSON(e *env, log *printk.Log) error {
	bw := bufio.NewWriter(e.stdout)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // kernel text is full of <, > and &; keep it readable
	var text []byte
	for i := range log.Records {
		r := &log.Records[i]
		text = printk.AppendEscaped(text[:0], r.Text)
		out := dmesgRecord{Seq: r.Seq, TimestampNs: r.TimestampNs, Subsystem: r.Subsystem, Device: r.Device, Text: string(text)}
		if id, isCPU, ok := r.Caller(); ok {
			if isCPU {
				out.Caller = &dmesgCaller{CPU: &id}
			} else {
				out.Caller = &dmesgCaller{PID: &id}
			}
		}
		if r.Level >= 0 {
			out.Level = &r.Level
		}
		if r.Facility >= 0 {
			out.Facility = &r.Facility
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return bw.Flush()
}
