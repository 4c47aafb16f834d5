package main

// The lab guest's jobs: the first kernel's (facts, workload, arming, crash) and, in
// the lab's own capture (plan.CaptureRawTar), the capture kernel's. The host side and
// the protocol are in packages lab and lab/plan.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/initramfs"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kexec"
	"github.com/gokdump/gokdump/kmod"
	"github.com/gokdump/gokdump/lab/plan"
	"golang.org/x/sys/unix"
)

// labGuest carries the plan and the console through the guest's steps.
type labGuest struct {
	plan *plan.Plan
	con  io.Writer
	kmsg *os.File // /dev/kmsg, nil when it cannot be opened
}

func (g *labGuest) say(format string, args ...any) {
	line := plan.Line(format, args...)
	fmt.Fprintln(g.con, line)
	// A write to the console only queues the line for the UART; a crash right after it
	// (the "armed" line comes just before sysrq-c) loses what is still queued. Wait until
	// the line is out (tcdrain: TCSBRK with a non-zero argument).
	if f, ok := g.con.(*os.File); ok {
		_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	}
	// The serial driver sends a tty's bytes a FIFO (16 bytes) at a time, and a kernel
	// message printed meanwhile lands between two of them, splitting our line so that
	// the host finds no event in it (a fresh make test once lost "armed" that way). The
	// same line through the kernel log is printed whole, between kernel messages: the
	// host takes whichever copy arrives intact. Best effort (/dev/kmsg may rate-limit).
	if g.kmsg != nil {
		_, _ = g.kmsg.WriteString(line + "\n")
	}
}

// runLabGuest does the lab's work in whichever kernel this is: the capture kernel has a
// non-empty /proc/vmcore.
func runLabGuest(ctx context.Context, con io.Writer) error {
	f, err := os.Open(plan.Path)
	if err != nil {
		return err
	}
	p, err := plan.Read(f)
	f.Close()
	if err != nil {
		return err
	}
	g := &labGuest{plan: p, con: con}
	if k, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		defer k.Close()
		g.kmsg = k
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	if rel := unix.ByteSliceToString(u.Release[:]); rel != p.Release {
		return fmt.Errorf("the plan was made for kernel %s, this is %s", p.Release, rel)
	}
	for _, m := range p.Modules {
		if err := loadModule(m); err != nil {
			return err
		}
	}
	if st, err := os.Stat("/proc/vmcore"); err == nil && st.Size() > 0 {
		if p.Capture == plan.CaptureBench {
			return g.bench(ctx)
		}
		return g.capture(ctx)
	}
	return g.first(ctx)
}

// loadModule loads one kernel module file (.ko, .ko.xz, ...); one already loaded is fine.
func loadModule(path string) error {
	return kmod.LoadFile(path, "")
}

// findDisk waits (bounded) for the virtio disk whose serial number is serial and
// returns its /dev path.
func (g *labGuest) findDisk(serial string) (string, error) {
	deadline := time.Now().Add(time.Duration(g.plan.DiskWaitSeconds) * time.Second)
	for {
		dev, err := diskBySerial("/sys/block", serial)
		if err == nil {
			if _, serr := os.Stat("/dev/" + dev); serr == nil {
				return "/dev/" + dev, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no disk with serial %q after %ds", serial, g.plan.DiskWaitSeconds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// diskBySerial returns the name of the block device under sysBlock whose serial file
// holds serial.
func diskBySerial(sysBlock, serial string) (string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "serial"))
		if err == nil && strings.TrimSpace(string(data)) == serial {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("no block device with serial %q in %s", serial, sysBlock)
}

// tarDisk is a tar archive written from byte 0 of a raw disk.
type tarDisk struct {
	f  *os.File
	bw *bufio.Writer
	tw *tar.Writer
}

func openTarDisk(dev string) (*tarDisk, error) {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	return &tarDisk{f: f, bw: bw, tw: tar.NewWriter(bw)}, nil
}

// add writes one member of size bytes read from r (exactly size: tar checks it).
func (d *tarDisk) add(name string, size int64, r io.Reader) error {
	err := d.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, Typeflag: tar.TypeReg, ModTime: time.Now()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.CopyBuffer(d.tw, r, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (d *tarDisk) addBytes(name string, data []byte) error {
	return d.add(name, int64(len(data)), bytes.NewReader(data))
}

// close ends the archive and makes sure it reached the disk.
func (d *tarDisk) close() error {
	err := d.tw.Close()
	if err == nil {
		err = d.bw.Flush()
	}
	if err == nil {
		err = d.f.Sync()
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// first is the first kernel's job: facts, workload, the Setup commands, arm, the
// AfterArm commands, crash (the plan's method; CrashNone powers off instead).
func (g *labGuest) first(ctx context.Context) error {
	if err := g.saveFacts(); err != nil {
		return fmt.Errorf("facts: %w", err)
	}
	g.say("%s", plan.EventFacts)
	if err := g.staleFill(g.plan.StaleMiB); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	anon, err := g.workload()
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	if err := g.runCommands(ctx, "setup", g.plan.Setup); err != nil {
		return err
	}
	arm := g.arm
	switch g.plan.Capture {
	case plan.CaptureService:
		arm = func() error { return g.armService(ctx) }
	case plan.CaptureNone:
		arm = nil
	}
	if arm != nil {
		if err := arm(); err != nil {
			return fmt.Errorf("arming: %w", err)
		}
		g.say("%s", plan.EventArmed)
	}
	if err := g.runCommands(ctx, "after-arm", g.plan.AfterArm); err != nil {
		return err
	}
	unix.Sync()
	if g.plan.Crash == plan.CrashNone {
		anon[0] = 0
		g.say("%s", plan.EventDone)
		return nil // run powers the machine off
	}
	if g.plan.Crash == plan.CrashInitExit {
		// PID 1 exiting is a panic ("Attempted to kill init!") in do_exit.
		anon[0] = 0
		os.Exit(plan.InitExitCode)
	}
	if err := os.WriteFile("/proc/sys/kernel/sysrq", []byte("1\n"), 0); err != nil {
		return err
	}
	err = os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
	// Still here: the kernel did not crash, or did not reach the capture kernel.
	anon[0] = 0 // keep the workload's memory alive up to the crash
	return fmt.Errorf("still running after sysrq-c (write: %v)", err)
}

// saveFacts writes what the host checks the dump against to the facts disk, and
// prints the short ones on the console too.
func (g *labGuest) saveFacts() error {
	// Addresses in /proc/kallsyms are shown to root only when kptr_restrict allows.
	_ = os.WriteFile("/proc/sys/kernel/kptr_restrict", []byte("0\n"), 0)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return err
	}
	un := plan.Uname{
		Release: unix.ByteSliceToString(u.Release[:]),
		Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}
	unJSON, err := json.Marshal(un)
	if err != nil {
		return err
	}
	files := []struct {
		name, path string
		limit      int64
	}{
		{plan.FactsCmdline, "/proc/cmdline", 64 << 10},
		{plan.FactsIomem, "/proc/iomem", 1 << 20},
		{plan.FactsMeminfo, "/proc/meminfo", 64 << 10},
		{plan.FactsCPUs, "/sys/devices/system/cpu/online", 4 << 10},
		{plan.FactsKallsyms, "/proc/kallsyms", 128 << 20},
	}
	contents := map[string][]byte{plan.FactsUname: unJSON}
	for _, f := range files {
		data, err := smallfile.Read(f.path, f.limit)
		if err != nil {
			return err
		}
		contents[f.name] = data
	}
	if log, err := kernelLog(); err == nil {
		contents[plan.FactsDmesg] = log
	}
	dev, err := g.findDisk(plan.DiskFacts)
	if err != nil {
		return err
	}
	d, err := openTarDisk(dev)
	if err != nil {
		return err
	}
	for _, name := range []string{plan.FactsUname, plan.FactsCmdline, plan.FactsIomem, plan.FactsMeminfo,
		plan.FactsCPUs, plan.FactsKallsyms, plan.FactsDmesg} {
		if data, ok := contents[name]; ok {
			if err := d.addBytes(name, data); err != nil {
				d.close()
				return err
			}
		}
	}
	if err := d.close(); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	g.say("release=%s", un.Release)
	g.say("version=%s", un.Version)
	g.say("machine=%s", un.Machine)
	g.say("cpus=%s", strings.TrimSpace(string(contents[plan.FactsCPUs])))
	for _, line := range strings.Split(string(contents[plan.FactsIomem]), "\n") {
		if strings.HasSuffix(line, " : System RAM") && !strings.HasPrefix(line, " ") {
			g.say("system-ram=%s", strings.TrimSuffix(line, " : System RAM"))
		}
		if strings.HasSuffix(line, " : Crash kernel") {
			g.say("crash-kernel=%s", strings.TrimSpace(strings.TrimSuffix(line, " : Crash kernel")))
		}
	}
	return nil
}

// kernelLog reads the kernel's log buffer (syslog(2) READ_ALL), bounded to 16 MiB.
func kernelLog() ([]byte, error) {
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > 16<<20 {
		return nil, fmt.Errorf("kernel log buffer size %d", n)
	}
	buf := make([]byte, n)
	m, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return nil, err
	}
	return buf[:m], nil
}

// workload puts recognisable data in memory: a tmpfs file (page cache) and touched
// anonymous memory, each page starting with its marker and number. The anonymous
// mapping is returned so it stays alive until the crash.
func (g *labGuest) workload() ([]byte, error) {
	const page = 4096
	// Proactive compaction (5.9+) isolates pages from the LRU to move them, in the
	// background; a page isolated when the kernel crashes is neither page cache nor
	// user memory by its struct page, and every dump tool keeps it. The tests hold the
	// dump to "no workload page kept": keep compaction out of the way (best effort:
	// older kernels have no such knob).
	_ = os.WriteFile("/proc/sys/vm/compaction_proactiveness", []byte("0\n"), 0)
	dir := "/lab-pagecache"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	size := fmt.Sprintf("size=%dm", g.plan.PageCacheMiB+16)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, size); err != nil {
		return nil, fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, page)
	for i := 0; i < g.plan.PageCacheMiB<<20/page; i++ {
		fillPage(buf, plan.MarkerPageCache, i)
		if _, err := bw.Write(buf); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	n := g.plan.AnonMiB << 20
	if n == 0 {
		n = page
	}
	anon, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	for i := 0; i < n/page; i++ {
		fillPage(anon[i*page:(i+1)*page], plan.MarkerAnon, i)
	}
	g.say("workload page-cache-mib=%d anon-mib=%d", g.plan.PageCacheMiB, g.plan.AnonMiB)
	return anon, nil
}

// fillPage writes "marker<n>\n" at the start of p and a non-zero pattern after it, so
// the page is neither zero nor identical to its neighbours.
func fillPage(p []byte, marker string, n int) {
	k := copy(p, marker+strconv.Itoa(n)+"\n")
	for i := k; i < len(p); i++ {
		p[i] = byte(n + i)
	}
}

// arm builds the capture initramfs from this one (this binary as /init, the same
// modules and plan) and loads the capture kernel with kexec_file_load.
func (g *labGuest) arm() error {
	a := initramfs.New()
	if err := a.AddFileFrom("init", 0o755, "/proc/self/exe"); err != nil {
		return err
	}
	if err := a.AddFileFrom(plan.Path, 0o644, plan.Path); err != nil {
		return err
	}
	for _, m := range g.plan.Modules {
		if err := a.AddFileFrom(m, 0o644, m); err != nil {
			return err
		}
	}
	if err := g.addBenchFiles(a); err != nil {
		return err
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run"} {
		if err := a.AddDir(d, 0o755); err != nil {
			return err
		}
	}
	if err := a.AddDevice("dev/console", os.ModeCharDevice|0o600, 5, 1); err != nil {
		return err
	}
	initrd := "/run/capture-initrd.img"
	if err := a.WriteFile(initrd, initramfs.None); err != nil {
		return err
	}
	cmdline, err := smallfile.Read("/proc/cmdline", 64<<10)
	if err != nil {
		return err
	}
	captureCmdline := kexec.CaptureCmdline(strings.TrimSpace(string(cmdline)), g.plan.CaptureExtra)
	g.say("capture-cmdline=%s", captureCmdline)
	if err := kexec.LoadCrash(plan.KernelPath, initrd, captureCmdline); err != nil {
		return err
	}
	return checkLoaded("kexec_file_load returned")
}

// checkLoaded asks the kernel whether a capture kernel is loaded after done (what
// loaded it) succeeded: the crash that follows would otherwise reach no capture kernel.
func checkLoaded(done string) error {
	st, err := kexec.ReadState()
	if err != nil {
		return err
	}
	if !st.CrashLoaded {
		return fmt.Errorf("%s but the kernel says no capture kernel is loaded", done)
	}
	return nil
}

// capture is the capture kernel's job: save /proc/vmcore and this command line (which
// holds elfcorehdr=) as a tar archive on the vmcore disk.
func (g *labGuest) capture(ctx context.Context) error {
	cmdline, err := smallfile.Read("/proc/cmdline", 64<<10)
	if err != nil {
		return err
	}
	g.say("capture-kernel cmdline=%s", strings.TrimSpace(string(cmdline)))
	dev, err := g.findDisk(plan.DiskVmcore)
	if err != nil {
		return err
	}
	vf, err := os.Open("/proc/vmcore")
	if err != nil {
		return err
	}
	defer vf.Close()
	st, err := vf.Stat()
	if err != nil {
		return err
	}
	g.say("vmcore-size=%d", st.Size())
	d, err := openTarDisk(dev)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := d.addBytes(plan.VmcoreCmdline, cmdline); err != nil {
		d.close()
		return err
	}
	// Hide os.File's WriteTo so the copy reads in add's 1 MiB chunks.
	if err := d.add(plan.VmcoreFile, st.Size(), struct{ io.Reader }{vf}); err != nil {
		d.close()
		return err
	}
	if err := d.close(); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	g.say("vmcore-seconds=%.1f", time.Since(start).Seconds())
	g.say("%s", plan.EventSaved)
	return nil
}
