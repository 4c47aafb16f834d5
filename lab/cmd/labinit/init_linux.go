package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/internal/pid1"
	"github.com/gokdump/gokdump/lab/plan"
)

// run is PID 1's work: the basic mounts, the plan's job, then power off. It returns an
// exit code only when it refuses to run or the machine would not power off (PID 1's
// exit then panics the kernel, and panic= reboots it).
func run(ctx context.Context, console, stderr io.Writer) int {
	if os.Getpid() != 1 {
		fmt.Fprintln(stderr, "labinit: must run as PID 1 of the lab's initramfs (it powers the machine off when done)")
		return 1
	}
	err := pid1.MountBasics()
	if err == nil {
		err = runLabGuest(ctx, console)
	}
	if err != nil {
		fmt.Fprintln(console, plan.Line("%s %v", plan.EventError, err))
	}
	pid1.PowerOff(console, "labinit")
	return 1
}
