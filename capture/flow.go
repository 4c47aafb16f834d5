package capture

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
	"github.com/gokdump/gokdump/volume"
)

// Target is where the dump is saved: Mount makes it reachable and returns the directory
// kdump.conf's path is relative to; Unmount flushes and releases it.
// *target.Local is one.
type Target interface {
	Mount(ctx context.Context) (root string, err error)
	Unmount() error
	String() string
}

// Machine performs the final and failure actions.
type Machine interface {
	Reboot() error
	Halt() error
	PowerOff() error
}

// DumpWriter is the file the dump is written to (an *os.File).
type DumpWriter interface {
	io.Writer
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
}

// Collector is core_collector, parsed (ParseCollector) with the same parser "gokdump
// dump" uses.
type Collector struct {
	Args []string // as configured, for the status file
	// Options are the collector's; DumpLevel is set from Levels. SizeLimit is
	// makedumpfile's -L.
	Options collector.Options
	// Levels are makedumpfile's -d levels; a dump that does not fit is retried with
	// the next one, as makedumpfile does. Empty means level 0.
	Levels []mm.DumpLevel
}

// Timeouts bound each step. Zero fields take the defaults of DefaultTimeouts.
type Timeouts struct {
	Target time.Duration // find and mount the target (the device wait is inside it)
	Hook   time.Duration // each of kdump_pre and kdump_post
	Dmesg  time.Duration // read and save the kernel log
	Dump   time.Duration // the collector
	Shell  time.Duration // failure_action shell
}

// DefaultTimeouts: the dump's bound is for terabytes at disk speed, the others for a
// machine whose devices are slow to appear.
var DefaultTimeouts = Timeouts{
	Target: 90 * time.Second,
	Hook:   5 * time.Minute,
	Dmesg:  2 * time.Minute,
	Dump:   12 * time.Hour,
	Shell:  time.Hour,
}

// Flow is one run of the capture. Fields left nil take the real system's behaviour.
type Flow struct {
	Config    *config.Config
	Collector Collector
	// MachineID is the crashed machine's machine-id as start recorded it ("" :
	// none): written into the status file, and how keep_dumps on a server shared by
	// many machines knows this machine's dumps.
	MachineID string
	// Target is nil when the configuration names none this initramfs can reach
	// (TargetErr says why): the capture then fails and failure_action runs.
	Target    Target
	TargetErr error
	// Raw is the raw partition of kdump.conf's raw (RawTargetFor); when set, the
	// dump is written there instead of to Target.
	Raw RawTarget
	// Remote is a target reached over a connection (ssh) instead of Target.
	Remote RemoteTarget
	// S3 is the bucket of s3_capture yes: the crash goes there instead of Target.
	S3 *S3Target
	// Network brings up the way to a network target (netconf.Up) before the
	// target is reached, bounded by Timeouts.Target; nil for local targets.
	Network func(ctx context.Context) error
	// Dir is the dumps' directory on the mounted target, when it is not Config.Path:
	// the image builder's service.DumpDevice.Dir, for a path on a file system the
	// first kernel mounted somewhere else than "/".
	Dir string
	// Stack is the LVM/md layout under the target recorded at arming (nil: none):
	// Activate (nil: ActivateLinux) brings it up before the target is mounted, and
	// the links udev would make are made under DevDir ("" : /dev).
	Stack    *volume.Stack
	Activate Activator
	DevDir   string
	// Rootfs is the machine's root file system, where failure_action dump_to_rootfs
	// saves when the target fails (RootfsTarget); nil when the image records none
	// (RootfsErr says why). RootfsDir is the dumps' directory on it ("" : Config.Path);
	// RootfsStack the LVM/md layout under it, brought up as Stack is.
	Rootfs      Target
	RootfsErr   error
	RootfsDir   string
	RootfsStack *volume.Stack

	Vmcore   string // the crashed kernel's memory: /proc/vmcore
	Machine  Machine
	Console  io.Writer
	Timeouts Timeouts

	// Modules are module files to load first, in order (dependencies first), with
	// LoadModule (kmod.LoadFile in the capture kernel).
	Modules    []string
	LoadModule func(path string) error

	Now func() time.Time // default time.Now
	// CreateDump creates the dump file (default: os.OpenFile, new, mode 0600).
	CreateDump func(name string) (DumpWriter, error)
	// RunHook runs a hook and returns its exit code (default: exec, output on Console).
	RunHook func(ctx context.Context, path string, args ...string) (int, error)
	// Shell is the shell failure_action shell runs ("" : /bin/sh when it exists).
	Shell string
	// Memory watches free memory during the collection (memory.go): a capture
	// kernel short of memory says so in the status file instead of dying.
	Memory MemoryWatch
	// HookDirs are the directories of the programs run before and after the dump
	// (/etc/kdump/pre.d and post.d, PreHookDir and PostHookDir, in the capture
	// initramfs); empty: none are run.
	HookDirs [2]string
}

// Run does the whole capture and then the final or failure action; it returns the
// status recorded (also when the action could not be taken: the caller decides what
// PID 1 does then) and the action's error. With failure_action dump_to_rootfs, a save
// the target made fail is done again on the root file system (Rootfs), and the status
// returned is that second save's.
func (f *Flow) Run(ctx context.Context) (*dumpdir.Status, error) {
	f.defaults()
	st, src := f.open()
	if src != nil {
		defer src.Close()
		var fault error
		failed := func(err error) *dumpdir.Status {
			fault = f.fail(st, err, true)
			return st
		}
		if f.Network != nil {
			// A dead network is the target's fault: dump_to_rootfs may save locally.
			fault = f.bringUpNetwork(ctx, st)
		}
		switch {
		case fault != nil:
		case f.Raw != nil:
			// A raw partition that cannot be opened or written is the target's
			// fault; an incomplete raw dump is kept there for the next boot.
			if st = f.saveRaw(ctx, src, st); st.Result == dumpdir.Failed {
				fault = errors.New(st.Error)
			}
		case f.S3 != nil:
			if st = f.saveS3(ctx, src, st, failed); st.Result == dumpdir.Failed && fault == nil {
				fault = errors.New(st.Error)
			}
		case f.Remote != nil && f.TargetErr == nil:
			if st = f.saveRemote(ctx, src, st, failed); st.Result == dumpdir.Failed && fault == nil {
				fault = errors.New(st.Error)
			}
		default:
			fault = f.saveTo(ctx, src, st, destination{target: f.Target, err: f.TargetErr, dir: f.Dir, stack: f.Stack, hooks: true,
				shared: f.Config.Target.Kind == config.TargetNFS})
		}
		if fault != nil && f.Config.FailureAction == config.ActionDumpToRootfs {
			return f.dumpToRootfs(ctx, src, st)
		}
	}
	if st.Result != dumpdir.Complete && st.Result != dumpdir.Skipped && f.Config.FailureAction == config.ActionDumpToRootfs {
		f.logf("failure_action dump_to_rootfs: not tried: the dump failed for a reason the root file system does not change (%s)", st.Error)
	}
	return st, f.act(ctx, config.Action(st.Action))
}

// actionFor is the action after a save that ended as st says: final_action after a
// complete or skipped dump, failure_action otherwise. failure_action dump_to_rootfs
// stands only for a failure the target is at fault for (targetFault): for any other,
// and after a save that was already dump_to_rootfs's (st.Fallback), it is reboot,
// failure_action's default.
func (f *Flow) actionFor(st *dumpdir.Status, targetFault bool) config.Action {
	a := f.Config.FailureAction
	switch {
	case st.Result == dumpdir.Complete || st.Result == dumpdir.Skipped:
		a = f.Config.FinalAction
	case a == config.ActionDumpToRootfs && (!targetFault || st.Fallback != nil):
		a = config.ActionReboot
	}
	if a == "" {
		a = config.ActionReboot
	}
	return a
}

func (f *Flow) defaults() {
	if f.Console == nil {
		f.Console = io.Discard
	}
	if f.Now == nil {
		f.Now = time.Now
	}
	if f.CreateDump == nil {
		f.CreateDump = func(name string) (DumpWriter, error) {
			return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if f.RunHook == nil {
		f.RunHook = f.execHook
	}
	if f.Vmcore == "" {
		f.Vmcore = "/proc/vmcore"
	}
	d := DefaultTimeouts
	for _, p := range []struct {
		v *time.Duration
		d time.Duration
	}{
		{&f.Timeouts.Target, d.Target}, {&f.Timeouts.Hook, d.Hook}, {&f.Timeouts.Dmesg, d.Dmesg},
		{&f.Timeouts.Dump, d.Dump}, {&f.Timeouts.Shell, d.Shell},
	} {
		if *p.v <= 0 {
			*p.v = p.d
		}
	}
}

func (f *Flow) logf(format string, args ...any) {
	fmt.Fprintf(f.Console, "gokdump: "+format+"\n", args...)
}

// fail records a failed save in st (and the action it leads to) and returns err when
// the target is at fault for it (targetFault), nil otherwise.
func (f *Flow) fail(st *dumpdir.Status, err error, targetFault bool) error {
	st.Result, st.Error, st.End = dumpdir.Failed, err.Error(), f.Now().UTC()
	st.Action = string(f.actionFor(st, targetFault))
	f.logf("capture failed: %v", err)
	if targetFault {
		return err
	}
	return nil
}

// open starts the status, loads the modules and opens the crashed kernel's memory; it
// returns a nil source (and a failed status) when that cannot be read.
func (f *Flow) open() (*dumpdir.Status, *vmcore.File) {
	st := &dumpdir.Status{Version: dumpdir.StatusVersion, Start: f.Now().UTC(), Host: "127.0.0.1", MachineID: f.MachineID, CollectorArgs: f.Collector.Args}
	f.logf("saving the crashed kernel's memory (%s) with %s", f.Vmcore, f.Config.File)

	for _, m := range f.Modules {
		if f.LoadModule == nil {
			break
		}
		if err := f.LoadModule(m); err != nil {
			// A module the target does not need after all should not stop the dump:
			// finding the target says what is really missing.
			st.Warnings = append(st.Warnings, fmt.Sprintf("loading %s: %v", m, err))
			f.logf("warning: loading module %s: %v", m, err)
		}
	}

	src, err := vmcore.Open(f.Vmcore)
	if err != nil {
		f.fail(st, err, false)
		return st, nil
	}
	f.recordKernel(src, st)
	f.logf("crashed kernel %s on host %q", st.KernelRelease, st.Host)
	return st, src
}

// bringUpNetwork brings up the way to a network target (Network), bounded by the
// target's timeout; a failure is recorded in st as the target's and returned.
func (f *Flow) bringUpNetwork(ctx context.Context, st *dumpdir.Status) error {
	f.logf("bringing up the network")
	nctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
	err := f.Network(nctx)
	cancel()
	if err != nil {
		return f.fail(st, fmt.Errorf("network: %w", err), true)
	}
	return nil
}

// ownDump says whether a dump directory on a server many machines may share is this
// machine's: named with its host name and its status file carrying its machine-id.
// A dump of another machine with the same host name (a clone), or of a gokdump that
// did not record machine-ids, is not.
func (f *Flow) ownDump(st *dumpdir.Status, host string, s *dumpdir.Status) bool {
	return f.MachineID != "" && host == st.Host && s != nil && s.MachineID == f.MachineID
}

// destination is where saveTo saves: the configured target, or the root file system
// for failure_action dump_to_rootfs.
type destination struct {
	target Target
	err    error         // why target is nil
	dir    string        // the dumps' directory on it ("" : Config.Path)
	stack  *volume.Stack // the LVM/md layout under it, brought up before mounting
	hooks  bool          // run kdump_pre and kdump_post (the configured target's save only)
	// shared is a file system many machines may dump to (nfs): keep_dumps counts and
	// removes only this machine's dumps there.
	shared bool
}

// saveTo saves the dump on d, recording what happened in st (the status file in the
// dump directory, st.Action the action that follows). It returns the error when the
// save failed because of the target, the failures failure_action dump_to_rootfs is
// for, and nil otherwise. The target is at fault when it
//   - is not configured in a way the capture can reach, cannot be found in time, or
//     does not mount;
//   - refuses the dump's directories or files (creating them, writing the status);
//   - fails a write, sync, close or rename of the dump itself: a full disk (after every
//     dump level was tried), an I/O error, a file system gone read-only.
//
// It is not when the crashed kernel's memory cannot be read (opening it, or a page the
// collector cannot read: the root file system would get the same), the dump reached
// core_collector's size limit (-L, a bound the administrator set), or the dump took
// longer than its time limit (trying again would take as long). A dump cut short on
// the target stays there as vmcore-incomplete, marked incomplete in its header and
// in its status file, whatever follows.
func (f *Flow) saveTo(ctx context.Context, src *vmcore.File, st *dumpdir.Status, d destination) error {
	cfg := f.Config
	if d.target == nil {
		err := d.err
		if err == nil {
			err = errors.New("no dump target configured")
		}
		return f.fail(st, err, true)
	}
	st.Target = d.target.String()
	if err := f.bringUpStack(ctx, d.stack); err != nil {
		return f.fail(st, err, true)
	}
	f.logf("mounting the dump target %s", st.Target)
	tctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
	root, err := d.target.Mount(tctx)
	cancel()
	if err != nil {
		return f.fail(st, err, true)
	}
	defer func() {
		if err := d.target.Unmount(); err != nil {
			f.logf("warning: unmounting %s: %v", st.Target, err)
		}
	}()
	dumpDir := cfg.Path
	if d.dir != "" {
		dumpDir = d.dir
	}
	base := filepath.Join(root, dumpDir)
	if err := os.MkdirAll(base, 0o700); err != nil {
		return f.fail(st, err, true)
	}

	layout := dumpdir.Fedora
	if cfg.Layout == config.LayoutDebian {
		layout = dumpdir.Debian
	}
	if d.hooks {
		if msg := f.preHooks(ctx, st); msg != "" {
			st.Result, st.Error = dumpdir.Skipped, msg
			st.Action = string(f.actionFor(st, false))
			if dir, _, derr := dumpdir.CreateLayout(base, st.Host, st.Start, layout); derr == nil {
				st.Dir = dir
				st.End = f.Now().UTC()
				f.recordStatus(dir, st)
			}
			return nil
		}
	}

	if cfg.KeepDumps > 0 {
		// Before writing: the room the old dumps take may be what the new one needs.
		// With uploads set up (gokdump upload, not s3_capture), a dump not yet in
		// the fleet's store is its only copy: uploaded ones go first, and one not
		// uploaded is never removed.
		var spare, mine func(dumpdir.Dump) bool
		if cfg.S3.Enabled() && !cfg.S3.Capture {
			spare = func(d dumpdir.Dump) bool {
				_, err := os.Lstat(filepath.Join(d.Dir, dumpdir.UploadedFile))
				return err != nil
			}
		}
		if d.shared {
			mine = func(d dumpdir.Dump) bool { return f.ownDump(st, d.Host, d.Status) }
		}
		var removed, spared []string
		var err error
		if d.shared && f.MachineID == "" {
			err = fmt.Errorf("keep_dumps %d is not applied on %s: the image records no machine-id to tell this machine's dumps from others'", cfg.KeepDumps, st.Target)
		} else {
			removed, spared, err = dumpdir.Prune(base, cfg.KeepDumps-1, mine, spare)
		}
		st.Pruned = removed
		if len(removed) > 0 {
			f.logf("keep_dumps %d: removed %s", cfg.KeepDumps, strings.Join(removed, ", "))
		}
		if len(spared) > 0 {
			msg := fmt.Sprintf("keep_dumps %d: kept %s: not yet uploaded (gokdump upload)", cfg.KeepDumps, strings.Join(spared, ", "))
			st.Warnings = append(st.Warnings, msg)
			f.logf("%s", msg)
		}
		if err != nil {
			st.Warnings = append(st.Warnings, err.Error())
			f.logf("warning: %v", err)
		}
	}

	dir, names, err := dumpdir.CreateLayout(base, st.Host, st.Start, layout)
	if err != nil {
		return f.fail(st, err, true)
	}
	st.Dir = dir
	st.Result, st.Error = dumpdir.Incomplete, "capture in progress"
	if err := dumpdir.WriteStatus(dir, st, true); err != nil {
		return f.fail(st, fmt.Errorf("writing %s: %w", filepath.Join(dir, dumpdir.StatusFile), err), true)
	}
	f.logf("saving to %s", dir)

	if cfg.NoDmesg {
		f.logf("not saving the kernel log (dump_dmesg 0)")
	} else if err := f.saveDmesg(ctx, src, dir, names, st); err != nil {
		// The dump is worth more than the log: go on, as Fedora does.
		st.Warnings = append(st.Warnings, "kernel log: "+err.Error())
		f.logf("warning: saving %s: %v", names.Dmesg, err)
	}

	derr := f.saveDump(ctx, src, dir, names, st)
	exit := 0
	switch {
	case derr == nil:
		st.Result, st.Error = dumpdir.Complete, ""
	case st.Dump == names.DumpIncomplete:
		st.Result, st.Error, exit = dumpdir.Incomplete, derr.Error(), 1
		f.logf("the dump is incomplete: %v", derr)
	default:
		st.Result, st.Error, exit = dumpdir.Failed, derr.Error(), 1
		f.logf("saving the dump failed: %v", derr)
	}
	var fault error
	if derr != nil && errors.As(derr, new(*targetError)) {
		fault = derr
	}

	if d.hooks {
		f.postHook(ctx, st, exit)
	}
	st.End = f.Now().UTC()
	st.Action = string(f.actionFor(st, fault != nil))
	f.recordStatus(dir, st)
	if st.Result == dumpdir.Complete {
		f.logf("saved %s (%d bytes) in %s", filepath.Join(dir, names.Dump), st.DumpBytes, st.End.Sub(st.Start).Round(time.Second))
	}
	return fault
}

// dumpToRootfs is failure_action dump_to_rootfs after the configured target failed
// (first says how): the dump is saved again, in a new dump directory under path on the
// root file system (Rootfs, which the capture mounts read-write), as a normal save is
// but without the hooks, which belong to the configured target's save; then
// final_action follows. When that fails too, the machine reboots, failure_action's
// default. (kdump-utils runs its dump_to_rootfs and then final_action, whatever the
// second save did; gokdump takes final_action only after a saved dump, so that a
// final_action halt or poweroff does not leave a machine down with no dump.)
func (f *Flow) dumpToRootfs(ctx context.Context, src *vmcore.File, first *dumpdir.Status) (*dumpdir.Status, error) {
	f.logf("failure_action dump_to_rootfs: saving to %s failed (%s); saving to the root file system instead", first.Target, first.Error)
	st := &dumpdir.Status{
		Version: dumpdir.StatusVersion, Start: f.Now().UTC(), Host: first.Host, CollectorArgs: first.CollectorArgs,
		KernelRelease: first.KernelRelease, KernelVersion: first.KernelVersion, CrashTime: first.CrashTime,
		Fallback: &dumpdir.Fallback{Action: string(config.ActionDumpToRootfs), Target: first.Target, Error: first.Error, Dir: first.Dir},
	}
	// Warnings about reading the crashed kernel hold for this save too.
	for _, w := range first.Warnings {
		if strings.HasPrefix(w, "host name: ") || strings.HasPrefix(w, "loading ") {
			st.Warnings = append(st.Warnings, w)
		}
	}
	rootErr := f.RootfsErr
	if f.Rootfs == nil && rootErr == nil {
		rootErr = errors.New("the image records no root file system (rebuild it with gokdump start)")
	}
	if rootErr != nil {
		rootErr = fmt.Errorf("dump_to_rootfs: %w", rootErr)
	}
	f.saveTo(ctx, src, st, destination{target: f.Rootfs, err: rootErr, dir: f.RootfsDir, stack: f.RootfsStack})
	if st.Result == dumpdir.Complete {
		f.logf("failure_action dump_to_rootfs: the dump is saved on the root file system in %s", st.Dir)
	} else {
		f.logf("failure_action dump_to_rootfs: saving to the root file system failed too (%s): rebooting", st.Error)
	}
	return st, f.act(ctx, config.Action(st.Action))
}

// The hook directories of kdump-utils, carried into the capture initramfs at the
// same paths (service): every executable file in them runs, in lexical order.
const (
	PreHookDir  = "/etc/kdump/pre.d"
	PostHookDir = "/etc/kdump/post.d"
)

// maxHookFiles bounds the programs run from one hook directory.
const maxHookFiles = 256

// hookFiles lists the executable files of a hook directory in lexical (byte) order;
// none when it does not exist.
func hookFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir) // sorted by name
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		if len(out) == maxHookFiles {
			return out, fmt.Errorf("%s: more than %d programs; the rest are not run", dir, maxHookFiles)
		}
		out = append(out, p)
	}
	return out, nil
}

// runHookDir runs every program of dir with args, as kdump-utils does: a failure is
// a warning and the next one runs.
func (f *Flow) runHookDir(ctx context.Context, dir string, st *dumpdir.Status, args ...string) {
	if dir == "" {
		return
	}
	files, err := hookFiles(dir)
	if err != nil {
		st.Warnings = append(st.Warnings, err.Error())
		f.logf("warning: %v", err)
	}
	for _, p := range files {
		code, err := f.hook(ctx, filepath.Base(dir), p, args...)
		if err != nil || code != 0 {
			msg := fmt.Sprintf("%s exited with status %d", p, code)
			if err != nil {
				msg = fmt.Sprintf("%s: %v", p, err)
			}
			st.Warnings = append(st.Warnings, msg)
			f.logf("warning: %s; going on", msg)
		}
	}
}

// preHooks runs kdump_pre, then the programs of /etc/kdump/pre.d, as kdump-utils
// does: when kdump_pre fails the dump is skipped (the message says why, and nothing
// else runs); a failing pre.d program is only a warning.
func (f *Flow) preHooks(ctx context.Context, st *dumpdir.Status) (skip string) {
	if pre := f.Config.Pre; pre != "" {
		code, err := f.hook(ctx, "kdump_pre", pre)
		st.PreHookExit = &code
		if err != nil || code != 0 {
			msg := fmt.Sprintf("kdump_pre %s exited with status %d: the dump is skipped", pre, code)
			if err != nil {
				msg = fmt.Sprintf("kdump_pre %s: %v: the dump is skipped", pre, err)
			}
			f.logf("%s", msg)
			return msg
		}
	}
	f.runHookDir(ctx, f.HookDirs[0], st)
	return ""
}

// postHook runs the programs of /etc/kdump/post.d, then kdump_post, if there is
// one, each with the capture's exit code as $1 (kdump-utils' order); a failure is a
// warning.
func (f *Flow) postHook(ctx context.Context, st *dumpdir.Status, exit int) {
	f.runHookDir(ctx, f.HookDirs[1], st, strconv.Itoa(exit))
	if post := f.Config.Post; post != "" {
		code, err := f.hook(ctx, "kdump_post", post, strconv.Itoa(exit))
		st.PostHookExit = &code
		if err != nil || code != 0 {
			st.Warnings = append(st.Warnings, fmt.Sprintf("kdump_post %s: exit %d %v", post, code, err))
		}
	}
}

func (f *Flow) recordStatus(dir string, st *dumpdir.Status) {
	if err := dumpdir.WriteStatus(dir, st, false); err != nil {
		f.logf("warning: writing %s: %v", filepath.Join(dir, dumpdir.StatusFile), err)
	}
}

// recordKernel fills in what the dump's report (crashinfo.Describe, without the log
// and symbols that "gokdump info" reads too) says about the crashed machine. Each fact
// is best effort: a dump whose kernel cannot be read is still worth saving.
func (f *Flow) recordKernel(src *vmcore.File, st *dumpdir.Status) {
	d, err := crashinfo.Describe(src, crashinfo.Options{NoCrash: true})
	if err == nil {
		st.KernelRelease = d.Kernel.Release
		st.CrashTime, _ = time.Parse(time.RFC3339, d.CrashTime)
		if h := dumpdir.SafeHost(d.Kernel.Nodename); h != "" {
			st.Host = h
		}
		st.KernelVersion = d.Kernel.Version
		err = d.UTSNameErr
	}
	if err != nil {
		st.Warnings = append(st.Warnings, "host name: "+err.Error())
		f.logf("warning: reading the crashed kernel's host name: %v (using %s)", err, st.Host)
	}
}

// saveDmesg writes the crashed kernel's log as vmcore-dmesg does, to the -incomplete
// name first, and notes the panic line.
func (f *Flow) saveDmesg(ctx context.Context, src *vmcore.File, dir string, names dumpdir.Names, st *dumpdir.Status) error {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dmesg)
	defer cancel()
	// The reader sends what it found instead of writing st: on a timeout it is left
	// behind while the capture goes on writing st.
	type result struct {
		panicLine string
		err       error
	}
	done := make(chan result, 1)
	tmp := filepath.Join(dir, names.DmesgIncomplete)
	go func() {
		log, err := printk.ReadFile(src)
		if err != nil {
			done <- result{err: err}
			return
		}
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			done <- result{err: err}
			return
		}
		pw := &panicWriter{}
		bw := bufio.NewWriterSize(io.MultiWriter(out, pw), 256<<10)
		err = log.WriteText(bw)
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		done <- result{pw.found, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		// The reading goroutine is left behind; PID 1 ends with the machine.
		return fmt.Errorf("gave up after %s", f.Timeouts.Dmesg)
	}
	st.PanicLine = r.panicLine
	if r.err != nil {
		return r.err
	}
	if err := os.Rename(tmp, filepath.Join(dir, names.Dmesg)); err != nil {
		return err
	}
	st.Dmesg = names.Dmesg
	if st.PanicLine != "" {
		f.logf("%s", st.PanicLine)
	}
	return dumpdir.SyncDir(dir)
}

// panicWriter finds the first panic line in the text written to it, holding at most
// one line (bounded) at a time.
type panicWriter struct {
	line  []byte
	found string
}

const maxLogLine = 64 << 10

func (p *panicWriter) Write(b []byte) (int, error) {
	n := len(b)
	for p.found == "" && len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if len(p.line) < maxLogLine {
			p.line = append(p.line, b[:min(i, maxLogLine-len(p.line))]...)
		}
		if i == len(b) {
			break
		}
		if l, ok := dumpdir.PanicLine(string(p.line)); ok {
			p.found = l
		}
		p.line = p.line[:0]
		b = b[i+1:]
	}
	return n, nil
}

// saveDump runs the collector into vmcore-incomplete and renames it vmcore when the
// dump is complete. st.Dump names the file that exists afterwards, if any.
func (f *Flow) saveDump(ctx context.Context, src *vmcore.File, dir string, names dumpdir.Names, st *dumpdir.Status) error {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dump)
	defer cancel()
	tmp := filepath.Join(dir, names.DumpIncomplete)
	w, err := f.CreateDump(tmp)
	if err != nil {
		return &targetError{err}
	}
	out := onTarget(w)
	st.Dump = names.DumpIncomplete
	opts := f.collectorOptions(st)
	err = f.collect(ctx, src, out, opts, st, func() error { return out.Truncate(0) })
	if serr := out.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("syncing %s: %w", tmp, serr)
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", tmp, cerr)
	}
	if fi, serr := os.Stat(tmp); serr == nil {
		st.DumpBytes = fi.Size()
	}
	if err != nil {
		if !errors.Is(err, collector.ErrIncomplete) && st.DumpBytes == 0 {
			os.Remove(tmp)
			st.Dump = ""
		}
		dumpdir.SyncDir(dir)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, names.Dump)); err != nil {
		return &targetError{err}
	}
	st.Dump = names.Dump
	if err := dumpdir.SyncDir(dir); err != nil {
		return &targetError{err}
	}
	return nil
}

// collectorOptions are core_collector's options with progress lines on the console
// and each warning logged and kept in st (and passed to a Warn already set).
func (f *Flow) collectorOptions(st *dumpdir.Status) collector.Options {
	opts := f.Collector.Options
	opts.Progress = &progressLines{w: f.Console, every: 10 * time.Second, now: f.Now}
	warn := opts.Warn
	opts.Warn = func(msg string) {
		st.Warnings = append(st.Warnings, msg)
		f.logf("warning: %s", msg)
		if warn != nil {
			warn(msg)
		}
	}
	return opts
}

// levels are core_collector's dump levels, in the order to try them (0 when none).
func (f *Flow) levels() []mm.DumpLevel {
	if len(f.Collector.Levels) == 0 {
		return []mm.DumpLevel{0}
	}
	return f.Collector.Levels
}

// collect runs the collector into out at each of core_collector's dump levels in
// turn while one does not fit, starting the output again with restart, as
// makedumpfile does, and keeps the last try's statistics in st.
func (f *Flow) collect(ctx context.Context, src *vmcore.File, out io.Writer, opts collector.Options, st *dumpdir.Status, restart func() error) (err error) {
	levels := f.levels()
	var stats *collector.Stats
	ctx, stopWatch := f.Memory.watch(ctx, f.logf)
	defer stopWatch()
	defer func() { err = f.Memory.explain(ctx, err) }()
	for i, level := range levels {
		opts.DumpLevel = level
		f.logf("collecting: dump level %d, %s", level, strings.Join(f.Collector.Args, " "))
		stats, err = collector.Collect(ctx, src, out, opts)
		if err == nil || i == len(levels)-1 || !collector.NoSpace(err) {
			break
		}
		f.logf("dump level %d does not fit (%v); retrying with level %d", level, err, levels[i+1])
		if terr := restart(); terr != nil {
			break
		}
	}
	f.logf("read %s by %s", f.Vmcore, src.ReadMethod())
	if stats != nil {
		// The status file keeps the statistics as JSON: its readers need not import
		// the collector. Stats marshals without fail (numbers, strings and a bool).
		// Its warnings are in st.Warnings already (opts.Warn): not twice.
		s := *stats
		s.Warnings = nil
		st.Collector, _ = json.Marshal(&s)
	}
	return err
}

// targetError marks an error of the dump file on the target (creating, writing,
// syncing, closing or renaming it), as against one of reading the crashed kernel's
// memory: failure_action dump_to_rootfs is for the first kind.
type targetError struct{ err error }

func (e *targetError) Error() string { return e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

func targetErr(err error) error {
	if err == nil {
		return nil
	}
	return &targetError{err}
}

// targetWriter marks the errors of a dump file as the target's.
type targetWriter struct{ w DumpWriter }

func (t *targetWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	return n, targetErr(err)
}
func (t *targetWriter) WriteAt(p []byte, off int64) (int, error) {
	n, err := t.w.WriteAt(p, off)
	return n, targetErr(err)
}
func (t *targetWriter) Truncate(size int64) error { return targetErr(t.w.Truncate(size)) }
func (t *targetWriter) Sync() error               { return targetErr(t.w.Sync()) }
func (t *targetWriter) Close() error              { return targetErr(t.w.Close()) }

// targetFile is a targetWriter over a file with a descriptor, which the collector
// uses to start writeback early.
type targetFile struct {
	*targetWriter
	fd interface{ Fd() uintptr }
}

func (t *targetFile) Fd() uintptr { return t.fd.Fd() }

func onTarget(w DumpWriter) DumpWriter {
	tw := &targetWriter{w}
	if fd, ok := w.(interface{ Fd() uintptr }); ok {
		return &targetFile{tw, fd}
	}
	return tw
}

// progressLines turns the collector's redrawn progress line ("\r...") into a console
// line at most every so often: a serial console is slow and keeps everything.
type progressLines struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time
	last  time.Time
	cur   []byte
}

func (p *progressLines) Write(b []byte) (int, error) {
	for _, c := range b {
		switch c {
		case '\r', '\n':
			if len(p.cur) > 0 {
				if t := p.now(); t.Sub(p.last) >= p.every || c == '\n' {
					p.last = t
					fmt.Fprintf(p.w, "gokdump: %s\n", strings.TrimSpace(string(p.cur)))
				}
			}
			p.cur = p.cur[:0]
		default:
			if len(p.cur) < 256 {
				p.cur = append(p.cur, c)
			}
		}
	}
	return len(b), nil
}

// hook runs a kdump_pre or kdump_post hook, bounded in time.
func (f *Flow) hook(ctx context.Context, what, path string, args ...string) (int, error) {
	f.logf("running %s %s %s", what, path, strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Hook)
	defer cancel()
	code, err := f.RunHook(ctx, path, args...)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("killed after %s", f.Timeouts.Hook)
	}
	f.logf("%s %s exited with status %d", what, path, code)
	return code, err
}

// execHook runs path directly (no shell: the path and arguments are never parsed),
// with its output on the console.
func (f *Flow) execHook(ctx context.Context, path string, args ...string) (int, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = f.Console, f.Console
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return ee.ExitCode(), nil
		}
		return -1, fmt.Errorf("%s: %v", path, ee)
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// act performs a final or failure action.
func (f *Flow) act(ctx context.Context, a config.Action) error {
	if f.Machine == nil {
		return errors.New("capture: no machine to act on")
	}
	switch a {
	case config.ActionShell:
		sh := f.Shell
		if sh == "" {
			sh = "/bin/sh"
		}
		if _, err := os.Stat(sh); err != nil {
			f.logf("failure_action shell: %s is not in this initramfs (add extra_bins %s); rebooting", sh, sh)
		} else {
			f.logf("failure_action shell: starting %s; the machine reboots when it exits", sh)
			sctx, cancel := context.WithTimeout(ctx, f.Timeouts.Shell)
			cmd := exec.CommandContext(sctx, sh)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, f.Console, f.Console
			if err := cmd.Run(); err != nil {
				f.logf("%s: %v", sh, err)
			}
			cancel()
		}
		return f.action(config.ActionReboot)
	}
	return f.action(a)
}

func (f *Flow) action(a config.Action) error {
	f.logf("action: %s", a)
	switch a {
	case config.ActionReboot:
		return f.Machine.Reboot()
	case config.ActionHalt:
		return f.Machine.Halt()
	case config.ActionPoweroff:
		return f.Machine.PowerOff()
	}
	return fmt.Errorf("capture: unknown action %q", a)
}
