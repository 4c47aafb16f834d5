package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gokdump/gokdump/capture"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/service"
)

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
	info, err := readCaptureInfo("/" + service.CaptureInfoPath)
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
	}
	if info != nil {
		flow.Modules = info.Modules
		flow.Dir = info.Device.Dir
	}
	flow.Target, flow.TargetErr = captureTarget(cfg, info)
	_, err = flow.Run(ctx)
	if err == nil {
		err = errors.New("the machine did not stop after the final action")
	}
	return err
}

// readCaptureInfo reads what the image builder found in the first kernel.
func readCaptureInfo(path string) (*service.CaptureInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var info service.CaptureInfo
	if err := json.NewDecoder(io.LimitReader(f, 4<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, m := range info.Modules {
		if !filepath.IsAbs(m) {
			return nil, fmt.Errorf("%s: module path %q is not absolute", path, m)
		}
	}
	return &info, nil
}
