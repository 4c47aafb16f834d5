package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gokdump/gokdump/internal/pid1"
	"github.com/gokdump/gokdump/lab/plan"
)

// initProcess is PID 1's work: the basic mounts, then the job this initramfs holds.
// It does not return when the job ends: the machine powers off.
func initProcess(ctx context.Context, e *env) error {
	if os.Getpid() != 1 {
		return errors.New("must run as PID 1 of an initramfs (it powers the machine off when done)")
	}
	err := pid1.MountBasics()
	if err == nil {
		if _, serr := os.Stat(plan.Path); serr == nil {
			err = runLabGuest(ctx, e.stdout)
		} else if isCaptureService() {
			err = runCaptureService(ctx, e.stdout)
		} else {
			err = fmt.Errorf("no job: neither the lab plan %s nor a kdump configuration with /proc/vmcore is in this initramfs", plan.Path)
		}
	}
	if err != nil {
		fmt.Fprintln(e.stdout, plan.Line("%s %v", plan.EventError, err))
	}
	return pid1.PowerOff(e.stdout, "gokdump init")
}
