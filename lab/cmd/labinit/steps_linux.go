package main

// The plan's commands (plan.Command): Setup before arming, AfterArm after it, run
// without a shell, each bounded by its timeout, with their output on the console.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokdump/gokdump/lab/plan"
)

// commandEnv is the environment of the plan's commands: no udev in the guest, so
// libdevmapper (lvm, dmsetup) makes the /dev nodes itself.
var commandEnv = []string{
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"DM_DISABLE_UDEV=1",
	"LVM_SUPPRESS_FD_WARNINGS=1",
}

// runCommands runs one phase's commands in order; the first failure that may not fail
// ends the phase with its error.
func (g *labGuest) runCommands(ctx context.Context, phase string, cmds []plan.Command) error {
	for i, c := range cmds {
		argv := make([]string, len(c.Argv))
		for j, a := range c.Argv {
			var err error
			if argv[j], err = plan.ExpandDisks(a, g.findDisk); err != nil {
				return fmt.Errorf("%s[%d] %q: %w", phase, i, c.Argv, err)
			}
		}
		g.say("run %s: %s", phase, strings.Join(argv, " "))
		start := time.Now()
		err := g.runCommand(ctx, argv, time.Duration(c.Timeout())*time.Second)
		took := time.Since(start).Seconds()
		if err == nil {
			g.say("ran %s: ok (%.1fs)", phase, took)
			continue
		}
		if c.MayFail {
			g.say("ran %s: failed (%.1fs, may fail): %v", phase, took, err)
			continue
		}
		g.say("ran %s: failed (%.1fs): %v", phase, took, err)
		return fmt.Errorf("%s[%d] %s: %w", phase, i, strings.Join(argv, " "), err)
	}
	return nil
}

// runCommand runs one command (a builtin or a program) within timeout.
func (g *labGuest) runCommand(ctx context.Context, argv []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if strings.HasPrefix(argv[0], "lab:") {
		// The builtins are system calls that return promptly; the timeout bounds
		// the programs.
		return runBuiltin(argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv
	cmd.Stdout, cmd.Stderr = g.con, g.con
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("killed after %s: %w", timeout, ctx.Err())
	}
	return err
}

// runBuiltin runs one of plan's builtins (argument counts are checked by the plan).
func runBuiltin(argv []string) error {
	switch argv[0] {
	case plan.BuiltinMount:
		data := ""
		if len(argv) > 4 {
			data = argv[4]
		}
		return mountAt(argv[1], argv[2], argv[3], 0, data)
	case plan.BuiltinUmount:
		if err := unix.Unmount(argv[1], 0); err != nil {
			return fmt.Errorf("umount %s: %w", argv[1], err)
		}
		return nil
	case plan.BuiltinWipe:
		off, err1 := strconv.ParseInt(argv[2], 10, 64)
		n, err2 := strconv.ParseInt(argv[3], 10, 64)
		if err1 != nil || err2 != nil || off < 0 || n < 0 || n > 1<<30 {
			return fmt.Errorf("%s %s: offset %q and length %q must be decimal byte counts (length at most 1 GiB)",
				argv[0], argv[1], argv[2], argv[3])
		}
		return wipe(argv[1], off, n)
	}
	return fmt.Errorf("unknown builtin %q", argv[0])
}

// mountAt mounts dev on dir (made if missing).
func mountAt(dev, dir, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", dev, fstype, dir, err)
	}
	return nil
}

// wipe writes n zero bytes at off of dev and syncs them. No O_EXCL: the device may be
// held by md or device-mapper, which is the point.
func wipe(dev string, off, n int64) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	zero := make([]byte, min(n, 1<<20))
	for done := int64(0); done < n; {
		k := min(int64(len(zero)), n-done)
		if _, err := f.WriteAt(zero[:k], off+done); err != nil {
			f.Close()
			return fmt.Errorf("wipe %s at %d: %w", dev, off+done, err)
		}
		done += k
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mountRoot mounts the plan's root-on-disk file system on plan.RootMount and binds
// /proc, /sys and /dev into it, as a machine's root looks to its services.
func (g *labGuest) mountRoot() error {
	r := g.plan.Root
	dev, err := plan.ExpandDisks(r.Device, g.findDisk)
	if err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if err := mountAt(dev, plan.RootMount, r.FSType, 0, ""); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		if err := mountAt(d, filepath.Join(plan.RootMount, d), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("root: %w", err)
		}
	}
	for _, d := range []string{"etc", "run", "tmp", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(plan.RootMount, d), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("root: %w", err)
		}
	}
	g.say("root %s (%s) mounted on %s", dev, r.FSType, plan.RootMount)
	return nil
}
