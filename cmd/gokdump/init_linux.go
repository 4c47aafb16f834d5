package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/gokdump/gokdump/internal/pid1"
	"github.com/gokdump/gokdump/vmtest"
)

// initProcess is PID 1's work: the basic mounts, then the capture service. It does not
// return when the job ends: the machine powers off.
func initProcess(ctx context.Context, e *env) error {
	if os.Getpid() != 1 {
		return errors.New("must run as PID 1 of an initramfs (it powers the machine off when done)")
	}
	err := pid1.MountBasics()
	if err == nil {
		if isCaptureService() {
			err = runCaptureService(ctx, e.stdout)
		} else if g := (&vmtest.Guest{}); g.IsFirstKernel() {
			// gokdump test --vm's first kernel: arm and crash (a VM, never a real boot).
			err = g.Run(e.stdout)
		} else {
			err = fmt.Errorf("no job: the capture service needs %s and a non-empty /proc/vmcore", captureConfigPath)
		}
	}
	if err != nil {
		// The console line the real-crash lab's host watches for in service mode
		// (lab/plan.InitErrorPrefix): keep the two the same.
		fmt.Fprintf(e.stdout, "gokdump init: error: %v\n", err)
	}
	return pid1.PowerOff(e.stdout, "gokdump init")
}
