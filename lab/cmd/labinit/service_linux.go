package main

// The real-crash lab's guest in service mode (plan.CaptureService): the first kernel
// arms the way a machine does, with kdump.conf and the real gokdump's "start"; the
// capture kernel then boots the image start built, whose /init is that gokdump binary
// (its capture service), not this program.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokdump/gokdump/lab/plan"
)

// armServiceTimeout bounds "gokdump start" in the guest (it builds and compresses the
// capture initramfs under TCG).
const armServiceTimeout = 5 * time.Minute

// armService writes the plan's kdump.conf and runs "gokdump start" with the gokdump
// binary the host put at plan.GokdumpPath, as a machine's kdump service would. start
// puts the binary it runs as (/proc/self/exe) into the capture initramfs as /init.
func (g *labGuest) armService(ctx context.Context) error {
	// A machine has a name; the capture names the dump directory after it.
	if err := unix.Sethostname([]byte(plan.ServiceHostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	root := "/"
	if g.plan.Root != nil {
		if err := g.mountRoot(); err != nil {
			return err
		}
		root = plan.RootMount
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, plan.KdumpConfPath), []byte(g.plan.KdumpConf), 0o600); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, armServiceTimeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, plan.GokdumpPath, "start", "--config", plan.KdumpConfPath, "--kernel", plan.KernelPath)
	cmd.Stdout, cmd.Stderr = g.con, g.con
	cmd.Env = commandEnv
	cmd.WaitDelay = 5 * time.Second
	if root != "/" {
		// As on an installed machine: gokdump, its kdump.conf and the kernel are the
		// root disk's, and "/" in its mountinfo is that disk.
		cmd.SysProcAttr = &unix.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gokdump start: %w", err)
	}
	g.say("service-start-seconds=%.1f", time.Since(start).Seconds())
	return checkLoaded("gokdump start succeeded")
}
