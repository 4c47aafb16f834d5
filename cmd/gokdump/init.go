package main

import (
	"context"
	"fmt"
)

// The "init" command is what gokdump does as PID 1 of an initramfs (run() picks it when
// the process is PID 1 and has no arguments): the capture service (the image "gokdump
// initramfs" builds holds /etc/kdump.conf; in the capture kernel, with /proc/vmcore, it
// saves the dump: package capture, capture_linux.go). The real-crash lab's guest is a
// program of its own (lab/cmd/labinit), not part of this binary.
func init() {
	register(&command{
		name:    "init",
		summary: "run as PID 1 of the capture initramfs: save the dump as kdump.conf says",
		run:     runInit,
	})
}

func runInit(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "init", `

Runs as the init process (PID 1) of the capture initramfs that "gokdump initramfs"
builds: mounts /proc, /sys and /dev and, with /etc/kdump.conf and /proc/vmcore present,
saves the dump as kdump.conf says and takes its final_action (or failure_action). It
powers the machine off when the job ends without rebooting or on any error. Refuses to
run as another PID.`)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := initProcess(ctx, e); err != nil {
		fmt.Fprintf(e.stderr, "gokdump init: %v\n", err)
		return 1
	}
	return 0
}
