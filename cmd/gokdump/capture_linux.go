package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gokdump/gokdump/capture"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/service"
)

// The capture service: what gokdump does as PID 1 of the capture initramfs that
// "gokdump initramfs" / "gokdump start" build (package service), when the crashed
// kernel's memory is in /proc/vmcore. The flow itself is package capture; this file
// only wires the image's configuration into a capture.Flow.

// captureConfigPath is the configuration inside the capture initramfs.
const captureConfigPath = "/" + service.ConfigPath

// isCaptureService says whether this PID 1 is the capture service: the crashed
// kernel's memory is there and so is the configuration the image was built with.
func isCaptureService() bool {
	st, err := os.Stat("/proc/vmcore")
	if err != nil || st.Size() == 0 {
		return false
	}
	_, err = os.Stat(captureConfigPath)
	return err == nil
}

// runCaptureService saves the dump and takes the final or failure action. It returns
// only when that action could not be taken (or the configuration is unreadable);
// initProcess then powers the machine off.
func runCaptureService(ctx context.Context, con io.Writer) error {
	cfg, err := loadConfig(captureConfigPath, true)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	info, err := service.ReadCaptureInfo("/" + service.CaptureInfoPath)
	if err != nil {
		fmt.Fprintf(con, "gokdump: warning: %v\n", err)
	}
	col, err := capture.ParseCollector(cfg.Collector)
	if err != nil {
		return fmt.Errorf("capture: %s: %w", cfg.File, err)
	}
	flow := &capture.Flow{
		Config:     cfg,
		Collector:  col,
		Vmcore:     "/proc/vmcore",
		Machine:    capture.Kernel{},
		Console:    con,
		LoadModule: func(p string) error { return kmod.LoadFile(p, "") },
		HookDirs:   [2]string{capture.PreHookDir, capture.PostHookDir},
	}
	flow.Wire(info)
	_, err = flow.Run(ctx)
	if err == nil {
		err = errors.New("the machine did not stop after the final action")
	}
	return err
}
