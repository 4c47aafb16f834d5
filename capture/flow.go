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
	// Target is nil when the configuration names none this initramfs can reach
	// (TargetErr says why): the capture then fails and failure_action runs.
	Target    Target
	TargetErr error
	// Remote is a target reached over a connection (ssh) instead of Target.
	Remote RemoteTarget
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
}

// Run does the whole capture and then the final or failure action; it returns the
// status recorded (also when the action could not be taken: the caller decides what
// PID 1 does then) and the action's error.
func (f *Flow) Run(ctx context.Context) (*dumpdir.Status, error) {
	f.defaults()
	st := f.save(ctx)
	return st, f.act(ctx, f.actionFor(st.Result))
}

// actionFor is final_action after a complete or skipped dump, failure_action otherwise.
func (f *Flow) actionFor(r dumpdir.Result) config.Action {
	a := f.Config.FailureAction
	if r == dumpdir.Complete || r == dumpdir.Skipped {
		a = f.Config.FinalAction
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

// save runs the steps up to the post hook and returns the final status.
func (f *Flow) save(ctx context.Context) *dumpdir.Status {
	st := &dumpdir.Status{Version: dumpdir.StatusVersion, Start: f.Now().UTC(), Host: "127.0.0.1", CollectorArgs: f.Collector.Args}
	cfg := f.Config
	fail := func(err error) *dumpdir.Status {
		st.Result, st.Error, st.End = dumpdir.Failed, err.Error(), f.Now().UTC()
		st.Action = string(f.actionFor(dumpdir.Failed))
		f.logf("capture failed: %v", err)
		return st
	}
	f.logf("saving the crashed kernel's memory (%s) with %s", f.Vmcore, cfg.File)

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
		return fail(err)
	}
	defer src.Close()
	f.recordKernel(src, st)
	f.logf("crashed kernel %s on host %q", st.KernelRelease, st.Host)

	if f.Network != nil {
		f.logf("bringing up the network")
		nctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
		err := f.Network(nctx)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("network: %w", err))
		}
	}
	if f.Remote != nil && f.TargetErr == nil {
		return f.saveRemote(ctx, src, st, fail)
	}
	if f.Target == nil {
		err := f.TargetErr
		if err == nil {
			err = errors.New("no dump target configured")
		}
		return fail(err)
	}
	st.Target = f.Target.String()
	if err := f.bringUpStack(ctx); err != nil {
		return fail(err)
	}
	f.logf("mounting the dump target %s", st.Target)
	tctx, cancel := context.WithTimeout(ctx, f.Timeouts.Target)
	root, err := f.Target.Mount(tctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := f.Target.Unmount(); err != nil {
			f.logf("warning: unmounting %s: %v", st.Target, err)
		}
	}()
	dumpDir := cfg.Path
	if f.Dir != "" {
		dumpDir = f.Dir
	}
	base := filepath.Join(root, dumpDir)
	if err := os.MkdirAll(base, 0o700); err != nil {
		return fail(err)
	}

	if cfg.Pre != "" {
		code, err := f.hook(ctx, "kdump_pre", cfg.Pre)
		st.PreHookExit = &code
		if err != nil || code != 0 {
			msg := fmt.Sprintf("kdump_pre %s exited with status %d: the dump is skipped", cfg.Pre, code)
			if err != nil {
				msg = fmt.Sprintf("kdump_pre %s: %v: the dump is skipped", cfg.Pre, err)
			}
			f.logf("%s", msg)
			st.Result, st.Error = dumpdir.Skipped, msg
			if dir, derr := dumpdir.Create(base, st.Host, st.Start); derr == nil {
				st.Dir = dir
				st.End = f.Now().UTC()
				st.Action = string(f.actionFor(dumpdir.Skipped))
				f.recordStatus(dir, st)
			}
			return st
		}
	}

	if cfg.KeepDumps > 0 {
		// Before writing: the room the old dumps take may be what the new one needs.
		removed, err := dumpdir.Prune(base, cfg.KeepDumps-1)
		st.Pruned = removed
		if len(removed) > 0 {
			f.logf("keep_dumps %d: removed %s", cfg.KeepDumps, strings.Join(removed, ", "))
		}
		if err != nil {
			st.Warnings = append(st.Warnings, err.Error())
			f.logf("warning: %v", err)
		}
	}

	dir, err := dumpdir.Create(base, st.Host, st.Start)
	if err != nil {
		return fail(err)
	}
	st.Dir = dir
	st.Result, st.Error = dumpdir.Incomplete, "capture in progress"
	if err := dumpdir.WriteStatus(dir, st, true); err != nil {
		return fail(fmt.Errorf("writing %s: %w", filepath.Join(dir, dumpdir.StatusFile), err))
	}
	f.logf("saving to %s", dir)

	if err := f.saveDmesg(ctx, src, dir, st); err != nil {
		// The dump is worth more than the log: go on, as Fedora does.
		st.Warnings = append(st.Warnings, "kernel log: "+err.Error())
		f.logf("warning: saving %s: %v", dumpdir.DmesgFile, err)
	}

	derr := f.saveDump(ctx, src, dir, st)
	exit := 0
	switch {
	case derr == nil:
		st.Result, st.Error = dumpdir.Complete, ""
	case st.Dump == dumpdir.DumpIncompleteFile:
		st.Result, st.Error, exit = dumpdir.Incomplete, derr.Error(), 1
		f.logf("the dump is incomplete: %v", derr)
	default:
		st.Result, st.Error, exit = dumpdir.Failed, derr.Error(), 1
		f.logf("saving the dump failed: %v", derr)
	}

	if cfg.Post != "" {
		code, err := f.hook(ctx, "kdump_post", cfg.Post, strconv.Itoa(exit))
		st.PostHookExit = &code
		if err != nil || code != 0 {
			st.Warnings = append(st.Warnings, fmt.Sprintf("kdump_post %s: exit %d %v", cfg.Post, code, err))
		}
	}
	st.End = f.Now().UTC()
	st.Action = string(f.actionFor(st.Result))
	f.recordStatus(dir, st)
	if st.Result == dumpdir.Complete {
		f.logf("saved %s (%d bytes) in %s", filepath.Join(dir, dumpdir.DumpFile), st.DumpBytes, st.End.Sub(st.Start).Round(time.Second))
	}
	return st
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
func (f *Flow) saveDmesg(ctx context.Context, src *vmcore.File, dir string, st *dumpdir.Status) error {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dmesg)
	defer cancel()
	// The reader sends what it found instead of writing st: on a timeout it is left
	// behind while the capture goes on writing st.
	type result struct {
		panicLine string
		err       error
	}
	done := make(chan result, 1)
	tmp := filepath.Join(dir, dumpdir.DmesgIncompleteFile)
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
	if err := os.Rename(tmp, filepath.Join(dir, dumpdir.DmesgFile)); err != nil {
		return err
	}
	st.Dmesg = dumpdir.DmesgFile
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
func (f *Flow) saveDump(ctx context.Context, src *vmcore.File, dir string, st *dumpdir.Status) error {
	ctx, cancel := context.WithTimeout(ctx, f.Timeouts.Dump)
	defer cancel()
	tmp := filepath.Join(dir, dumpdir.DumpIncompleteFile)
	out, err := f.CreateDump(tmp)
	if err != nil {
		return err
	}
	st.Dump = dumpdir.DumpIncompleteFile
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
	levels := f.Collector.Levels
	if len(levels) == 0 {
		levels = []mm.DumpLevel{0}
	}
	var stats *collector.Stats
	for i, level := range levels {
		opts.DumpLevel = level
		f.logf("collecting: dump level %d, %s", level, strings.Join(f.Collector.Args, " "))
		stats, err = collector.Collect(ctx, src, out, opts)
		if err == nil || i == len(levels)-1 || !collector.NoSpace(err) {
			break
		}
		f.logf("dump level %d does not fit (%v); retrying with level %d", level, err, levels[i+1])
		if terr := out.Truncate(0); terr != nil {
			break
		}
	}
	if stats != nil {
		// The status file keeps the statistics as JSON: its readers need not import
		// the collector. Stats marshals without fail (numbers, strings and a bool).
		// Its warnings are in st.Warnings already (opts.Warn): not twice.
		s := *stats
		s.Warnings = nil
		st.Collector, _ = json.Marshal(&s)
	}
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
	if err := os.Rename(tmp, filepath.Join(dir, dumpdir.DumpFile)); err != nil {
		return err
	}
	st.Dump = dumpdir.DumpFile
	return dumpdir.SyncDir(dir)
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
	case config.ActionDumpToRootfs:
		f.logf("failure_action dump_to_rootfs: the gokdump initramfs has no root file system to save to; rebooting")
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
