package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/crashinfo"
	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/kexec"
	"github.com/gokdump/gokdump/service"
	"github.com/gokdump/gokdump/vmcore"
	"golang.org/x/sys/unix"
)

// DefaultQEMU is the emulator run (Debian's and Fedora's package qemu-system-x86).
const DefaultQEMU = "qemu-system-x86_64"

// DefaultTimeout bounds the VM run (both kernels) when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Minute

// Accelerators.
const (
	AccelAuto = "auto" // KVM when /dev/kvm can be opened, else TCG
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// Options say what to test. Zero values take what "gokdump start" armed (or would
// arm) on System.
type Options struct {
	System *service.System // the machine (nil: service.Host())
	// Config is the machine's configuration as start reads it, used for the capture
	// command line when start has not armed in this boot (nil: the image's
	// /etc/kdump.conf).
	Config  *config.Config
	Release string // the kernel release ("" : the one armed, else the running one)
	Kernel  string // the capture kernel image ("" : the one armed, else System.KernelImage)
	Initrd  string // the capture initramfs ("" : the one armed, else System.ImagePath)
	// Cmdline is the capture command line ("" : the one start loaded in this boot,
	// else the one it would load).
	Cmdline string
	// CrashKernel is the reservation in bytes (0: this machine's).
	CrashKernel int64
	MemoryMiB   int           // guest memory (0: the reservation + 512 MiB, at least 768 MiB)
	QEMU        string        // the emulator ("" : DefaultQEMU, looked up in PATH)
	Accel       string        // AccelAuto ("" too), AccelKVM or AccelTCG
	Timeout     time.Duration // the VM run (0: DefaultTimeout)
	// Keep keeps the work directory (console log, scratch disk, initrds, the dump).
	Keep bool
	// TempDir is where the work directory is made ("" : os.TempDir()).
	TempDir string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Result is the verdict.
type Result struct {
	Pass bool
	// Reason says why the test failed ("" when it passed).
	Reason string
	// Dump is the dump the capture saved (nil when none was found); its paths are
	// in Dir, which is removed unless Options.Keep.
	Dump *dumpdir.Dump
	// Info is the report of the dump (crashinfo.Describe) when it opened.
	Info *crashinfo.DumpInfo
	// DumpPath is the dump file's path on the scratch disk's file system.
	DumpPath string
	// ConsoleTail is the end of the VM's serial console (both kernels).
	ConsoleTail string
	// Notes say what the VM test changed from the real setup, and how it ran.
	Notes   []string
	Release string
	Kernel  string
	Initrd  string
	Cmdline string // the capture command line loaded in the VM
	Accel   string
	Elapsed time.Duration
	Dir     string // the work directory ("" once removed)
}

// consoleTailLines is how much of the console a FAIL shows.
const consoleTailLines = 40

// Run boots the capture kernel and initramfs in QEMU as a first kernel that arms and
// crashes, lets the capture save to a scratch disk, and reads the dump back. An error
// means the test could not be run (no QEMU, no image, no reservation size...); a
// test that ran returns a Result, passed or not.
func Run(ctx context.Context, o Options) (*Result, error) {
	var err error
	if o.System == nil {
		o.System = service.Host()
	}
	s := o.System
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	res := &Result{}

	// What to boot: what start armed in this boot, unless told otherwise; an image
	// given without a release is tested with the release it was built for.
	armed, isArmed := s.ArmedNow()
	var img *ImageFiles
	if o.Initrd != "" {
		if img, err = ReadImage(o.Initrd); err != nil {
			return nil, err
		}
	}
	res.Release = o.Release
	switch {
	case res.Release != "":
	case img != nil && img.Info.Release != "":
		res.Release = img.Info.Release
	case isArmed:
		res.Release = armed.Release
	default:
		if res.Release, err = s.Release(); err != nil {
			return nil, err
		}
	}
	useArmed := isArmed && armed.Release == res.Release
	res.Kernel = o.Kernel
	if res.Kernel == "" && useArmed && armed.Kernel != "" {
		res.Kernel = armed.Kernel
	}
	if res.Kernel == "" {
		if res.Kernel, err = s.KernelImage(res.Release); err != nil {
			return nil, err
		}
	}
	res.Initrd = o.Initrd
	if res.Initrd == "" && useArmed && armed.Image != "" {
		res.Initrd = armed.Image
	}
	if res.Initrd == "" {
		res.Initrd = s.ImagePath(res.Release)
	}
	if img == nil {
		if _, err := os.Stat(res.Initrd); err != nil {
			return nil, fmt.Errorf("the capture initramfs: %w (gokdump start builds it; or give one with --initrd)", err)
		}
		if img, err = ReadImage(res.Initrd); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(res.Kernel); err != nil {
		return nil, fmt.Errorf("the capture kernel: %w", err)
	}
	if img.Info.Release != "" && img.Info.Release != res.Release {
		return nil, fmt.Errorf("%s is built for kernel %s, not %s", res.Initrd, img.Info.Release, res.Release)
	}

	// The reservation, and memory it fits in.
	crash := o.CrashKernel
	if crash == 0 {
		st, err := kexec.ReadStateAt(s.SysRoot)
		if err != nil {
			return nil, err
		}
		if crash = st.CrashSize; crash == 0 {
			return nil, errors.New("this machine reserves no memory for a capture kernel (crashkernel=): give the size to test with --crashkernel SIZE")
		}
		res.Notes = append(res.Notes, fmt.Sprintf("crashkernel=%dM, this machine's reservation", (crash+(1<<20)-1)>>20))
	} else {
		res.Notes = append(res.Notes, fmt.Sprintf("crashkernel=%dM, as asked", (crash+(1<<20)-1)>>20))
	}
	crash = (crash + (1 << 20) - 1) &^ ((1 << 20) - 1)
	mem := o.MemoryMiB
	if mem == 0 {
		mem = max(int(crash>>20)+512, 768)
	}
	if int64(mem)<<20 < crash+256<<20 {
		return nil, fmt.Errorf("%d MiB of guest memory is too little for a %d MiB reservation (at least %d MiB)", mem, crash>>20, crash>>20+256)
	}

	qemu := o.QEMU
	if qemu == "" {
		qemu = DefaultQEMU
	}
	qemuPath, err := exec.LookPath(qemu)
	if err != nil {
		return nil, fmt.Errorf("%s is not installed (Debian and Fedora: package qemu-system-x86; or name it with --qemu): %w", qemu, err)
	}
	qemu = qemuPath
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (package e2fsprogs): the scratch disk is made and read with it", tool)
		}
	}
	switch o.Accel {
	case "", AccelAuto:
		res.Accel = AccelTCG
		if kvmUsable() {
			res.Accel = AccelKVM
		}
	case AccelKVM, AccelTCG:
		res.Accel = o.Accel
	default:
		return nil, fmt.Errorf("accelerator %q: use kvm, tcg or auto", o.Accel)
	}
	tcg := res.Accel == AccelTCG

	// The configuration and the capture command line.
	cfgFile := "the image's /" + service.ConfigPath
	cfg, err := parseConfig(img.Config, cfgFile)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.Path, " \t\"'\\") || cfg.Path == "/" {
		return nil, fmt.Errorf("%s: path %q: gokdump test --vm reads the scratch disk with debugfs, which needs a directory below / without spaces or quotes", cfgFile, cfg.Path)
	}
	testCfg, notes := RewriteConfig(cfg)
	res.Notes = append(res.Notes, notes...)
	cmdline := o.Cmdline
	switch {
	case cmdline != "":
	case useArmed && armed.Cmdline != "":
		cmdline = armed.Cmdline
		res.Notes = append(res.Notes, "the capture command line gokdump start loaded in this boot")
	default:
		cur, err := s.Cmdline()
		if err != nil {
			return nil, err
		}
		c := o.Config
		if c == nil {
			c = cfg
		}
		cmdline = service.CaptureCmdline(c, cur, nil)
		res.Notes = append(res.Notes, "the capture command line gokdump start would load (it has not armed in this boot)")
	}
	res.Cmdline = VMCmdline(cmdline, tcg)

	// The work directory: 0700, files 0600.
	dir, err := os.MkdirTemp(o.TempDir, "gokdump-vmtest-")
	if err != nil {
		return nil, err
	}
	res.Dir = dir
	defer func() {
		if !o.Keep {
			os.RemoveAll(dir)
			res.Dir = ""
			if res.Info != nil && res.DumpPath != "" {
				res.Info.File = res.DumpPath + " on the VM's scratch disk (removed; --keep keeps it)"
			}
		}
	}()

	hostMods, guestMods, err := vmModules(s.ModuleDir(res.Release), res.Release, img.Info)
	if err != nil {
		return nil, err
	}
	testInfo := RewriteInfo(img.Info, guestMods)
	ov, err := CaptureOverlay(testCfg, testInfo, hostMods, guestMods)
	if err != nil {
		return nil, err
	}
	captureInitrd := filepath.Join(dir, "capture-initrd.img")
	if err := Concat(captureInitrd, res.Initrd, ov); err != nil {
		return nil, fmt.Errorf("writing the capture initrd: %w", err)
	}
	first, err := FirstOverlay(Spec{Cmdline: res.Cmdline}, res.Kernel, captureInitrd)
	if err != nil {
		return nil, err
	}
	firstInitrd := filepath.Join(dir, "first-initrd.img")
	if err := Concat(firstInitrd, captureInitrd, first); err != nil {
		return nil, fmt.Errorf("writing the first kernel's initrd: %w", err)
	}
	scratch := filepath.Join(dir, "scratch.img")
	if err := makeScratch(ctx, scratch, int64(mem+512)<<20); err != nil {
		return nil, err
	}

	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	console := filepath.Join(dir, "console.log")
	logf("booting %s with %s in QEMU (%s, %d MiB, crashkernel=%dM; at most %s)", res.Kernel, res.Initrd, strings.ToUpper(res.Accel), mem, crash>>20, timeout)
	v := vm{qemu: qemu, accel: res.Accel, kernel: res.Kernel, initrd: firstInitrd, cmdline: FirstCmdline(crash, tcg),
		memoryMiB: mem, scratch: scratch, console: console}
	start := time.Now()
	runErr := v.run(ctx, timeout)
	res.Elapsed = time.Since(start)
	res.ConsoleTail = tail(console, consoleTailLines)
	os.Remove(firstInitrd)
	os.Remove(captureInitrd)
	if runErr != nil && ctx.Err() != nil {
		return nil, runErr // interrupted: no verdict
	}
	events := readConsole(console)
	logf("the VM ran %s; reading the scratch disk", res.Elapsed.Round(time.Second))

	// The dump, if any.
	out := filepath.Join(dir, "out")
	dumps, readErr := readDumps(ctx, scratch, cfg.Path, out)
	os.Remove(scratch)
	if len(dumps) > 0 {
		d := dumps[len(dumps)-1]
		res.Dump = &d
		if rel, err := filepath.Rel(out, d.File); err == nil && d.File != "" {
			res.DumpPath = filepath.Join(filepath.Dir(cfg.Path), rel)
		}
	}
	res.Reason = verdict(res, events, runErr, readErr)
	res.Pass = res.Reason == ""
	return res, nil
}

// verdict opens the dump the capture saved and returns "" when it is complete and
// opens, else why the test failed.
func verdict(res *Result, ev consoleEvents, runErr, readErr error) string {
	switch {
	case res.Dump != nil && res.Dump.File != "":
		return checkDump(res)
	case res.Dump != nil:
		why := string(res.Dump.Result)
		if res.Dump.Status != nil && res.Dump.Status.Error != "" {
			why += ": " + res.Dump.Status.Error
		}
		return "the capture saved no dump file (" + why + ")"
	}
	// No dump: say where it went wrong, from the console.
	var parts []string
	switch {
	case len(ev.initErrors) > 0 && !ev.armed:
		msg := ev.initErrors[0]
		if strings.Contains(msg, "no job") {
			msg += " (the image's gokdump predates gokdump test --vm: rebuild the image with this gokdump, e.g. gokdump restart)"
		}
		parts = append(parts, "the first kernel failed: "+msg)
	case !ev.armed:
		parts = append(parts, "the first kernel never armed the capture kernel")
	case ev.captureFailed != "":
		parts = append(parts, "the capture failed: "+ev.captureFailed)
	case len(ev.initErrors) > 0:
		parts = append(parts, "the capture kernel's init failed: "+ev.initErrors[len(ev.initErrors)-1])
	case !ev.captureStarted:
		parts = append(parts, "the capture kernel did not start saving (it did not boot, or its init did not run)")
	default:
		parts = append(parts, "the capture saved no dump")
		if readErr != nil {
			parts = append(parts, "scratch disk: "+readErr.Error())
		}
	}
	if runErr != nil {
		parts = append(parts, runErr.Error())
		if res.Accel == AccelKVM && errors.Is(runErr, context.DeadlineExceeded) {
			parts = append(parts, "guests that hang under KVM may run under TCG: try --accel tcg")
		}
	}
	return strings.Join(parts, "; ")
}

// checkDump opens the dump the capture saved (res.Dump.File) and describes it into
// res.Info; it returns "" when the dump is complete, opens and is of the kernel
// booted, else why not.
func checkDump(res *Result) string {
	name := filepath.Base(res.Dump.File)
	f, err := vmcore.Open(res.Dump.File)
	if err != nil {
		return fmt.Sprintf("the saved dump %s does not open: %v", name, err)
	}
	defer f.Close()
	info, err := crashinfo.Describe(f, crashinfo.Options{})
	if err != nil {
		return fmt.Sprintf("the saved dump %s cannot be described: %v", name, err)
	}
	res.Info = info
	switch {
	case res.Dump.Result != dumpdir.Complete:
		why := ""
		if res.Dump.Status != nil && res.Dump.Status.Error != "" {
			why = ": " + res.Dump.Status.Error
		}
		return fmt.Sprintf("the capture saved an %s dump%s", res.Dump.Result, why)
	case f.Incomplete():
		return "the saved dump is marked incomplete"
	case info.Kernel.Release != res.Release:
		return fmt.Sprintf("the dump is of kernel %q, not %s", info.Kernel.Release, res.Release)
	}
	return ""
}

// parseConfig parses the configuration bytes an image holds, as the capture does.
func parseConfig(data []byte, name string) (*config.Config, error) {
	f, err := os.CreateTemp("", "gokdump-vmtest-conf-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	c, err := config.Load(f.Name())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.File = name
	return c, nil
}

// kvmUsable says whether /dev/kvm can be opened for QEMU.
func kvmUsable() bool {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// makeScratch makes the sparse scratch disk with an empty ext4 file system on it
// (mkfs.ext4, run without a shell).
func makeScratch(ctx context.Context, path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, "mkfs.ext4", "-q", "-F", "-L", ScratchLabel, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %v: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// readDumps copies dir of the scratch disk's file system to out with debugfs (no
// mount) and lists the dumps there.
func readDumps(ctx context.Context, scratch, dir, out string) ([]dumpdir.Dump, error) {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	// debugfs splits its request at white space: the output directory is the working
	// directory, so only dir (checked by the caller) is in the request.
	abs, err := filepath.Abs(scratch)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(cctx, "debugfs", "-R", "rdump "+dir+" .", abs)
	cmd.Dir = out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("debugfs: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	// debugfs exits 0 on a failed request: what it says besides its banner is the error.
	var msgs []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "debugfs ") {
			msgs = append(msgs, l)
		}
	}
	base := filepath.Join(out, filepath.Base(dir))
	if _, err := os.Stat(base); err != nil {
		if len(msgs) > 0 {
			return nil, fmt.Errorf("%s: %s", dir, strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("%s does not exist", dir)
	}
	return dumpdir.List(base)
}

// consoleEvents is what the console says happened.
type consoleEvents struct {
	armed          bool     // the first kernel loaded the capture kernel
	captureStarted bool     // the capture service began
	captureFailed  string   // "gokdump: capture failed: ..."
	initErrors     []string // "gokdump init: error: ..." lines
}

func readConsole(path string) consoleEvents {
	var ev consoleEvents
	f, err := os.Open(path)
	if err != nil {
		return ev
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 256<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.Contains(l, lineArmed):
			ev.armed = true
		case strings.Contains(l, "gokdump: saving the crashed kernel's memory"):
			ev.captureStarted = true
		}
		if i := strings.Index(l, "gokdump: capture failed: "); i >= 0 && ev.captureFailed == "" {
			ev.captureFailed = l[i+len("gokdump: capture failed: "):]
		}
		if i := strings.Index(l, "gokdump init: error: "); i >= 0 {
			ev.initErrors = append(ev.initErrors, l[i+len("gokdump init: error: "):])
		}
	}
	return ev
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(f, 256<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) > 4*n {
			lines = append(lines[:0], lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// vm is the one QEMU run of a test: the first kernel, then the capture kernel.
type vm struct {
	qemu, accel    string
	kernel, initrd string
	cmdline        string
	memoryMiB      int
	scratch        string
	console        string
}

// args is QEMU's command line: no default devices, the serial console, no reboot
// (a reboot or panic ends QEMU), the scratch disk on virtio. TCG runs all vCPUs on
// one thread, where cross-modifying code is exact.
func (v *vm) args() []string {
	accel, cpu := "tcg,thread=single", "max"
	if v.accel == AccelKVM {
		accel, cpu = "kvm", "host"
	}
	return []string{
		"-accel", accel, "-cpu", cpu, "-smp", "1",
		"-nodefaults", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-m", strconv.Itoa(v.memoryMiB),
		"-kernel", v.kernel, "-initrd", v.initrd, "-append", v.cmdline,
		"-drive", "file=" + v.scratch + ",format=raw,if=none,id=scratch",
		"-device", "virtio-blk-pci,drive=scratch,serial=" + ScratchSerial,
	}
}

// run runs QEMU until the guest powers off (or reboots, which -no-reboot turns into
// an exit) or the timeout, which kills it.
func (v *vm) run(ctx context.Context, timeout time.Duration) error {
	if strings.ContainsAny(v.scratch, ",") {
		return fmt.Errorf("the scratch disk's path %q has a comma, which QEMU's -drive cannot take", v.scratch)
	}
	con, err := os.OpenFile(v.console, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer con.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, v.qemu, v.args()...)
	out := newCapped(con, maxConsole, consoleKeep)
	cmd.Stdout = out
	cmd.Stderr = newCapped(&stderr, 64<<10, 0)
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ferr := out.finish(); ferr != nil && err == nil {
		err = ferr
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("the VM was stopped after %s: %w", timeout, ctx.Err())
	case err != nil:
		return fmt.Errorf("%s: %v: %s", v.qemu, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// maxConsole bounds the console log: a guest that prints without end (a loop of
// errors) must not fill the host's disk before the timeout stops it. The last
// consoleKeep bytes of what is cut are still written at the end: the capture's
// verdict and the tail a FAIL shows come last.
const (
	maxConsole  = 64 << 20
	consoleKeep = 1 << 20
)

// capped writes to w until limit bytes are written, then notes the cut once and takes
// the rest without writing it (so that QEMU does not block), keeping its last keep
// bytes for finish to write.
type capped struct {
	w           io.Writer
	left, limit int64
	// ring holds the last len(ring) bytes of what was cut: byte t of the cut output
	// (counting from 0) is at ring[t % len(ring)].
	ring    []byte
	dropped int64 // bytes cut
}

func newCapped(w io.Writer, limit int64, keep int) *capped {
	return &capped{w: w, left: limit, limit: limit, ring: make([]byte, keep)}
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if c.left > 0 {
		q := p
		if int64(len(q)) > c.left {
			q = q[:c.left]
		}
		c.left -= int64(len(q))
		if _, err := c.w.Write(q); err != nil {
			return 0, err
		}
		if c.left == 0 {
			fmt.Fprintf(c.w, "\n[gokdump vmtest: output cut here, after %d bytes]\n", c.limit)
		}
		p = p[len(q):]
	}
	c.dropped += int64(len(p))
	if k := len(c.ring); k > 0 {
		q := p[max(len(p)-k, 0):]
		at := int((c.dropped - int64(len(q))) % int64(k))
		m := copy(c.ring[at:], q)
		copy(c.ring, q[m:])
	}
	return n, nil
}

// finish writes the kept end of what was cut, if anything was.
func (c *capped) finish() error {
	if c.dropped == 0 {
		return nil
	}
	k := int64(len(c.ring))
	kept := c.ring[:min(c.dropped, k)]
	if k > 0 && c.dropped > k {
		pos := int(c.dropped % k)
		kept = append(append([]byte(nil), c.ring[pos:]...), c.ring[:pos]...)
	}
	if _, err := fmt.Fprintf(c.w, "\n[gokdump vmtest: %d bytes left out; the last %d follow]\n", c.dropped, len(kept)); err != nil {
		return err
	}
	_, err := c.w.Write(kept)
	return err
}
