package main

import (
	"context"
	"fmt"
)

// The "init" command is what gokdump does as PID 1 of an initramfs (run() picks it when
// the process is PID 1 and has no arguments). It knows two jobs: the real-crash lab's
// guest (when the lab plan file exists, see package lab/plan), and the capture service
// (the image "gokdump initramfs" builds holds /etc/kdump.conf; in the capture kernel,
// with /proc/vmcore, it saves the dump: package capture, capture_linux.go).
func init() {
	register(&command{
		name:    "init",
		summary: "run as PID 1 of a gokdump initramfs (the capture service, or the real-crash lab guest)",
		run:     runInit,
	})
}

func runInit(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "init", `

Runs as the init process (PID 1) of a gokdump initramfs: mounts /proc, /sys and /dev,
and does the job the initramfs was built for. In the capture initramfs that "gokdump
initramfs" builds (/etc/kdump.conf) with /proc/vmcore present, it saves the dump as
kdump.conf says and takes its final_action (or failure_action). With the lab plan
(/etc/gokdump/lab.json) it is the real-crash lab's guest: in the first kernel it saves
facts, runs a workload, arms the capture kernel and crashes; in the capture kernel it
saves /proc/vmcore to a disk. It powers the machine off when a job ends without
rebooting or on any error. Refuses to run as another PID.`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := initProcess(ctx, e); err != nil {
		fmt.Fprintf(e.stderr, "gokdump init: %v\n", err)
		return 1
	}
	return 0
}
