package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/sid"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/kernelpkg"
)

// crashVariants are the lab crashes TestCrashUtility opens with crash (all of them,
// reused from the lab's crashes of the same process), each with the crash and
// makedumpfile that can read it: Debian bookworm's for 6.1; for 6.12 Debian
// unstable's crash 9 and makedumpfile 1.7.8 (package sid), since bookworm's crash
// 8.0.2 cannot open any 6.12 vmcore (read errors on page_offset_base) and its
// makedumpfile 1.7.2 filters 6.12's pages wrongly. Each kernel's debug package (about
// 860 MB for 6.1, 1 GB for 6.12) is fetched once into the cache.
var crashVariants = []struct {
	labVariant
	unstable bool // crash and makedumpfile from Debian unstable
}{{labVariants[0], false}, {labVariants[1], false}, {labVariants[2], true}}

// tool is a program's argument list prefix: its path, or sid's loader and its path.
type tool []string

func (p tool) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, p[0], append(p[1:len(p):len(p)], args...)...)
}

func (p tool) String() string { return p[len(p)-1] }

// crashCommands are what the crash utility runs on each dump, each writing its output to
// its own file (crash's "> file" redirection: its echo command and its own output are
// not ordered on a pipe, so markers in one stream cannot split the sections).
var crashCommands = []struct{ name, cmd string }{
	{"sys", "sys"},
	{"log", "log"},
	{"bt", "bt"},
	{"ps", "ps"},
	{"kmem", "kmem -i"},
}

// TestCrashUtility is the reference check that our dumps are usable for debugging: the
// crash utility (Debian's crash 8.0.2, built with lzo, snappy and zstd) opens each
// kind of dump gokdump writes of a real crash — kdump-compressed with every codec, ELF,
// and a flattened stream put back together by `gokdump dump -R` and by makedumpfile -R
// — with the kernel's debug vmlinux, and runs sys, log, bt, ps and kmem -i. Each must
// exit 0, name the crashed release and the sysrq panic, show the panic in the log and a
// backtrace through sysrq_handle_crash, and print exactly what crash prints for
// makedumpfile's own dump of the same vmcore at the same dump level (the control, which
// must pass the same checks).
func TestCrashUtility(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	bookwormCrash := needCrash(t)
	bookwormMdf := tool{testenv.NeedTool(t, "makedumpfile", "makedumpfile")}
	for _, cv := range crashVariants {
		v := cv.labVariant
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			crashBin, mdf := bookwormCrash, bookwormMdf
			if cv.unstable {
				crashBin, mdf = unstableTools(t)
			}
			k := testenv.KernelPackage(t, v.kernel)
			vmlinux := debugVmlinux(t, k)
			res := crashFor(t, v)
			bin := guestGokdump(t)
			dir := t.TempDir()
			path := func(name string) string { return filepath.Join(dir, name) }

			// crash must be able to open the crash itself, or it cannot judge our dumps.
			if out, err := crashOn(crashBin, vmlinux, res.Vmcore, dir); err != nil {
				t.Fatalf("%s cannot open the original vmcore of %s, so it cannot judge our dumps: %v\n%s",
					crashVersion(crashBin), k.Release, err, crashErrors(out))
			}

			// The control: makedumpfile's dump of the same vmcore at the same level.
			runTool(t, mdf, "-l", "--message-level", "1", "-d", "31", res.Vmcore, path("makedumpfile.lzo"))
			control := runCrash(t, crashBin, vmlinux, path("makedumpfile.lzo"))
			if control == nil {
				t.FailNow()
			}
			checkCrashOutput(t, "makedumpfile's dump", k.Release, control)

			// makedumpfile's ELF dump is a control too: crash must read that kind.
			runTool(t, mdf, "-E", "--message-level", "1", "-d", "31", res.Vmcore, path("makedumpfile.elf"))
			dumps := []struct{ name, file string }{{"makedumpfile -E (control)", path("makedumpfile.elf")}}
			for _, c := range []struct{ flag, name string }{{"-c", "zlib"}, {"-l", "lzo"}, {"-p", "snappy"}, {"-z", "zstd"}} {
				file := path("ours." + c.name)
				run(t, bin, "dump", c.flag, "--message-level", "1", "-d", "31", res.Vmcore, file)
				dumps = append(dumps, struct{ name, file string }{"gokdump dump " + c.flag, file})
			}
			run(t, bin, "dump", "-E", "--message-level", "1", "-d", "31", res.Vmcore, path("ours.elf"))
			dumps = append(dumps, struct{ name, file string }{"gokdump dump -E", path("ours.elf")})

			// A flattened stream (what goes through ssh) made whole again by both tools.
			flat := path("ours.flat")
			writeFlattened(t, bin, res.Vmcore, flat)
			rearrange(t, tool{bin}, []string{"dump", "-R", path("ours.R")}, flat)
			rearrange(t, mdf, []string{"-R", path("makedumpfile.R")}, flat)
			dumps = append(dumps,
				struct{ name, file string }{"gokdump dump -F | gokdump dump -R", path("ours.R")},
				struct{ name, file string }{"gokdump dump -F | makedumpfile -R", path("makedumpfile.R")})

			for _, d := range dumps {
				out := runCrash(t, crashBin, vmlinux, d.file)
				os.Remove(d.file) // each is up to a few hundred MB
				if out == nil {
					continue
				}
				checkCrashOutput(t, d.name, k.Release, out)
				for _, c := range crashCommands {
					if got, want := out.sections[c.name], control.sections[c.name]; got != want {
						t.Errorf("%s: crash's %q differs from its output for makedumpfile's dump:\n%s",
							d.name, c.cmd, firstDifference(got, want))
					}
				}
				t.Logf("%s: crash's sys, log, bt, ps and kmem -i as for makedumpfile's dump", d.name)
			}
		})
	}
}

// crashOutput is one crash run: the output of each of crashCommands (the DUMPFILE line
// of sys, which names the file, taken out) and what crash printed besides.
type crashOutput struct {
	sections map[string]string
	console  string
}

// crashOn runs crash on dump with only "sys" and returns what it printed (with -d 1:
// without it crash may exit 1 without saying why) and its error.
func crashOn(crashBin tool, vmlinux, dump, dir string) (string, error) {
	cmdFile := filepath.Join(dir, "sys-only")
	if err := os.WriteFile(cmdFile, []byte("sys\nq\n"), 0o600); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := crashBin.command(ctx, "-d", "1", vmlinux, dump, "-i", cmdFile)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// crashErrors picks crash's own error lines ("crash: ... error ...") out of its
// output, or else its last lines.
func crashErrors(out string) string {
	var errs []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "crash: ") && strings.Contains(l, "error") {
			errs = append(errs, l)
		}
	}
	if len(errs) == 0 {
		return lastLines(out, 5)
	}
	return strings.Join(errs, "\n")
}

func crashVersion(crashBin tool) string {
	out, _ := crashBin.command(context.Background(), "--version").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "crash"
}

// runCrash runs the crash utility in batch mode on dump and returns the output of each
// command; when crash fails it reports the error and returns nil.
func runCrash(t *testing.T, crashBin tool, vmlinux, dump string) *crashOutput {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	for _, c := range crashCommands {
		fmt.Fprintf(&script, "%s > %s\n", c.cmd, filepath.Join(dir, c.name+".out"))
	}
	script.WriteString("q\n")
	cmdFile := filepath.Join(dir, "commands")
	if err := os.WriteFile(cmdFile, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// -s: no banner; -i: run the file's commands, which end with q; stdin from
	// /dev/null so nothing waits for a terminal.
	cmd := crashBin.command(ctx, "-s", vmlinux, dump, "-i", cmdFile)
	cmd.Dir = dir
	console, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("crash -s %s %s -i %s: %v\n%s", vmlinux, dump, cmdFile, err, console)
		return nil
	}
	out := &crashOutput{sections: map[string]string{}, console: string(console)}
	for _, c := range crashCommands {
		b, err := os.ReadFile(filepath.Join(dir, c.name+".out"))
		if err != nil {
			t.Errorf("crash on %s: %q wrote no output (%v); crash said:\n%s", dump, c.cmd, err, console)
			return nil
		}
		out.sections[c.name] = string(b)
	}
	out.sections["sys"] = dumpfileLine.ReplaceAllString(out.sections["sys"], "")
	return out
}

// dumpfileLine is sys's line naming the dump file (and, for a kdump-compressed file,
// "[PARTIAL DUMP]"): the one line that differs between dumps of one crash.
var dumpfileLine = regexp.MustCompile(`(?m)^ *DUMPFILE: .*\n`)

// btFrame is a frame line of crash's bt: " #3 [ffff...] sysrq_handle_crash at ffff...".
var btFrame = regexp.MustCompile(`(?m)^ ?#\d+ \[[0-9a-f]+\] (\S+) at [0-9a-f]+`)

// checkCrashOutput checks what crash must show for a dump of a lab crash, whose guest
// panicked through sysrq's crash trigger.
func checkCrashOutput(t *testing.T, name, release string, out *crashOutput) {
	t.Helper()
	sys := out.sections["sys"]
	if !regexp.MustCompile(`(?m)^ *RELEASE: ` + regexp.QuoteMeta(release) + `$`).MatchString(sys) {
		t.Errorf("%s: crash's sys does not say RELEASE: %s:\n%s\ncrash said:\n%s", name, release, sys, out.console)
	}
	if !regexp.MustCompile(`(?m)^ *PANIC: ".*sysrq triggered crash.*"$`).MatchString(sys) {
		t.Errorf("%s: crash's sys has no PANIC line with \"sysrq triggered crash\":\n%s", name, sys)
	}
	if log := out.sections["log"]; !strings.Contains(log, "sysrq: Trigger a crash") ||
		!strings.Contains(log, "Kernel panic - not syncing: sysrq triggered crash") {
		t.Errorf("%s: crash's log lacks the sysrq crash lines; its last lines:\n%s", name, lastLines(log, 20))
	}
	var frames []string
	for _, m := range btFrame.FindAllStringSubmatch(out.sections["bt"], -1) {
		frames = append(frames, m[1])
	}
	if !contains(frames, "sysrq_handle_crash") || !(contains(frames, "__crash_kexec") || contains(frames, "crash_kexec")) {
		t.Errorf("%s: crash's bt does not go through sysrq_handle_crash and __crash_kexec (frames %q):\n%s", name, frames, out.sections["bt"])
	}
	// ps: the header and at least the idle task of each CPU and the task that panicked
	// (marked ">").
	ps := out.sections["ps"]
	if lines := strings.Split(strings.TrimSpace(ps), "\n"); len(lines) < 3 ||
		!strings.Contains(lines[0], "PID") || !strings.Contains(lines[0], "COMM") || !strings.Contains(ps, "\n>") {
		t.Errorf("%s: crash's ps lists no running tasks:\n%s", name, ps)
	}
	if kmem := out.sections["kmem"]; !regexp.MustCompile(`(?m)^ *TOTAL MEM +[1-9]\d* `).MatchString(kmem) ||
		!regexp.MustCompile(`(?m)^ *FREE +\d+ `).MatchString(kmem) {
		t.Errorf("%s: crash's kmem -i has no TOTAL MEM and FREE counts:\n%s", name, kmem)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// firstDifference shows the first line where got and want part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  got  %q\n  want %q\n(%d vs %d lines)", i+1, a, b, len(g), len(w))
		}
	}
	return "(equal)"
}

// writeFlattened writes `gokdump dump -F -l -d 31 VMCORE` (standard output) to out.
func writeFlattened(t *testing.T, bin, vmcorePath, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "dump", "-F", "-l", "--message-level", "1", "-d", "31", vmcorePath)
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gokdump dump -F: %v\n%s", err, stderr.Bytes())
	}
}

// rearrange runs prog args with the flattened stream flat on standard input.
func rearrange(t *testing.T, prog tool, args []string, flat string) {
	t.Helper()
	in, err := os.Open(flat)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := prog.command(context.Background(), args...)
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s < %s: %v\n%s", prog, strings.Join(args, " "), flat, err, out)
	}
}

// needCrash returns the crash utility, installing Debian's crash package when it is
// missing.
func needCrash(t *testing.T) tool {
	t.Helper()
	testenv.NeedPackages(t, map[string]string{"crash": "crash"})
	return tool{testenv.NeedTool(t, "crash", "crash")}
}

// unstablePackages are Debian unstable's crash and makedumpfile and the libraries
// they load.
var unstablePackages = []string{"crash", "makedumpfile", "libc6", "libgcc-s1", "libgmp10", "liblzo2-2", "libmpfr6",
	"libncursesw6", "libsnappy1v5", "libstdc++6", "libtinfo6", "libzstd1", "zlib1g", "libdw1t64", "libelf1t64",
	"liblzma5", "libbz2-1.0"}

var (
	unstableMu   sync.Mutex
	unstableRoot string
)

// unstableTools returns Debian unstable's crash and makedumpfile, fetched once into
// <cache>/sid-crash (package sid).
func unstableTools(t *testing.T) (crash, makedumpfile tool) {
	t.Helper()
	unstableMu.Lock()
	defer unstableMu.Unlock()
	if unstableRoot == "" {
		kernels, err := kernelpkg.DefaultCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		testenv.NeedTool(t, "apt-get", "apt")
		testenv.NeedTool(t, "dpkg-deb", "dpkg")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		root, err := sid.Root(ctx, filepath.Join(filepath.Dir(kernels), "sid-crash"), unstablePackages,
			[]string{"usr/bin/crash", "--version"}, t.Logf)
		if err != nil {
			t.Fatalf("Debian unstable's crash and makedumpfile: %v", err)
		}
		unstableRoot = root
	}
	return sid.Argv(unstableRoot, "usr/bin/crash"), sid.Argv(unstableRoot, "usr/bin/makedumpfile")
}

// debugMu serializes fetching debug packages: each is about a gigabyte.
var debugMu sync.Mutex

// debugVmlinux returns the debug vmlinux of kernel k (from its Debian -dbg package),
// cached as <cache>/debug/<package>-dbg/vmlinux-<release>. The first time it downloads
// the -dbg package with apt-get download, extracts only the vmlinux, and deletes the
// package (the vmlinux, ~630 MB for 6.1, is all crash needs).
func debugVmlinux(t *testing.T, k *kernelpkg.Kernel) string {
	t.Helper()
	debugMu.Lock()
	defer debugMu.Unlock()
	kernels, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	pkg := k.Package + "-dbg"
	cacheDir := filepath.Join(filepath.Dir(kernels), "debug")
	dst := filepath.Join(cacheDir, pkg, "vmlinux-"+k.Release)
	if _, err := os.Stat(dst); err == nil {
		return dst
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	testenv.NeedTool(t, "tar", "tar")
	testenv.NeedTool(t, "dpkg-deb", "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	deb := cachedDebugDeb(cacheDir, pkg)
	if deb == "" {
		deb = downloadDebugDeb(t, ctx, cacheDir, pkg)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".extract-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	// dpkg-deb --fsys-tarfile DEB | tar -x --wildcards './usr/lib/debug/boot/vmlinux*'
	script := `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './usr/lib/debug/boot/vmlinux*'`
	if out, err := exec.CommandContext(ctx, "sh", "-ec", script, "sh", deb, tmp).CombinedOutput(); err != nil {
		t.Fatalf("extracting the vmlinux from %s: %v\n%s", deb, err, out)
	}
	src := filepath.Join(tmp, "usr", "lib", "debug", "boot", "vmlinux-"+k.Release)
	if _, err := os.Stat(src); err != nil {
		found, _ := filepath.Glob(filepath.Join(tmp, "usr", "lib", "debug", "boot", "*"))
		sort.Strings(found)
		t.Fatalf("%s holds no usr/lib/debug/boot/vmlinux-%s (found %q)", deb, k.Release, found)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	t.Logf("extracted %s from %s in %s", dst, filepath.Base(deb), time.Since(start).Round(time.Second))
	if err := os.Remove(deb); err != nil {
		t.Logf("keeping %s: %v", deb, err)
	}
	return dst
}

func cachedDebugDeb(cacheDir, pkg string) string {
	debs, _ := filepath.Glob(filepath.Join(cacheDir, pkg+"_*.deb"))
	if len(debs) == 0 {
		return ""
	}
	sort.Strings(debs)
	return debs[len(debs)-1]
}

// downloadDebugDeb fetches pkg with apt-get download into a private directory and moves
// it into cacheDir, so an interrupted download never looks complete.
func downloadDebugDeb(t *testing.T, ctx context.Context, cacheDir, pkg string) string {
	t.Helper()
	testenv.NeedTool(t, "apt-get", "apt")
	tmp, err := os.MkdirTemp(cacheDir, ".download-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// apt downloads as the _apt user; let it write there.
	if err := os.Chmod(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download %s: %v\n%s(if apt does not know it, run apt-get update)", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download %s left %d matching .deb files, want 1", pkg, len(debs))
	}
	dst := filepath.Join(cacheDir, filepath.Base(debs[0]))
	if err := os.Rename(debs[0], dst); err != nil {
		t.Fatal(err)
	}
	t.Logf("downloaded %s in %s", filepath.Base(dst), time.Since(start).Round(time.Second))
	return dst
}

// runTool runs prog with args and returns its standard output; it fails the test with
// its standard error when it fails.
func runTool(t *testing.T, prog tool, args ...string) []byte {
	t.Helper()
	cmd := prog.command(context.Background(), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", strings.Join(prog, " "), strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
