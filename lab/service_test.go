package lab

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// The kdump service end to end: a guest whose first kernel arms the way a machine does
// (kdump.conf, "gokdump start" building the capture initramfs and loading it with
// kexec_file_load) crashes; the capture kernel boots that image, whose /init is the
// capture service, and saves to an ext4 file system on a second virtio disk. The host
// then reads the file system without mounting it (debugfs).

// dumpLabel is the label of the target file system the host makes.
const dumpLabel = "gokdump-dumps"

// sysrqPanic is the panic line of a sysrq-c crash.
const sysrqPanic = "Kernel panic - not syncing: sysrq triggered crash"

type serviceCase struct {
	name      string
	kernel    string
	memoryMiB int
	crashMiB  int
	diskMiB   int
	conf      string
	files     []GuestFile
}

type serviceRun struct {
	res  *Result
	disk string // the ext4 image
	out  string // where the test extracts files
	con  string // the console log's text
	// dumps is the dumps' directory in the image ("" : /var/crash, the configured
	// path on a target file system; "/" for a disk mounted at the path)
	dumps string
}

func runService(t *testing.T, c serviceCase) *serviceRun {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedTool(t, QEMU, "qemu-system-x86")
	testenv.NeedTool(t, "mkfs.ext4", "e2fsprogs")
	testenv.NeedTool(t, "debugfs", "e2fsprogs")
	b := labBinaries(t)
	k := testenv.KernelPackage(t, c.kernel)
	// A failed run's directory is kept (console log, disk image) for a look.
	dir := runDir(t, "gokdump-lab-service-")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	disk := filepath.Join(dir, "dumps.img")
	if err := MakeExt4(ctx, disk, c.diskMiB, dumpLabel); err != nil {
		t.Fatal(err)
	}
	mem := c.memoryMiB
	if mem == 0 {
		mem = 768
	}
	res, err := Crash(ctx, Config{
		Kernel: k, Binaries: b, Dir: dir, CPU: "max", KASLR: true,
		MemoryMiB: mem, CrashKernelMiB: c.crashMiB,
		Modules:    []string{"ext4", "crc32c_generic"}, // the tree "gokdump start" takes the capture modules from
		ExtraDisks: []Disk{{Path: disk, Serial: "gokdump-dumps"}},
		Service:    &Service{KdumpConf: c.conf, Files: c.files},
		Timeout:    15 * time.Minute,
		NoReserve:  mem > 8192, // bigger than the host, touched only in part
	})
	if res != nil {
		t.Logf("%s: VM ran %s; console %s", c.name, res.Elapsed.Round(time.Second), res.ConsoleLog)
	}
	if err != nil {
		if res != nil {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
		}
		t.Fatal(err)
	}
	con, err := os.ReadFile(res.ConsoleLog)
	if err != nil {
		t.Fatal(err)
	}
	r := &serviceRun{res: res, disk: disk, out: filepath.Join(dir, "out"), con: string(con)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 60))
		}
	})
	return r
}

// wantConsole checks that the console shows each line part, in this order.
func (r *serviceRun) wantConsole(t *testing.T, parts ...string) {
	t.Helper()
	rest := r.con
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Errorf("the console lacks %q (after the earlier expected lines)", p)
			return
		}
		rest = rest[i+len(p):]
	}
}

// dumpDir returns the one dump directory in the target's dump directory (r.dumps,
// "" for /var/crash) and its entries.
func (r *serviceRun) dumpDir(t *testing.T) (string, map[string]Ext4Entry) {
	t.Helper()
	ctx := context.Background()
	base := r.dumps
	if base == "" {
		base = "/var/crash"
	}
	all, err := Ext4List(ctx, r.disk, base)
	if err != nil {
		t.Fatal(err)
	}
	var ents []Ext4Entry
	for _, e := range all {
		if e.Name != "lost+found" { // when base is the file system's root
			ents = append(ents, e)
		}
	}
	if len(ents) != 1 || !ents[0].IsDir() {
		t.Fatalf("%s holds %+v, want one dump directory", base, ents)
	}
	d := ents[0]
	if d.Perm() != 0o700 {
		t.Errorf("dump directory %s has mode %v, want 0700", d.Name, d.Perm())
	}
	host, tm, ok := dumpdir.ParseDirName(d.Name)
	if !ok || host != plan.ServiceHostname || time.Since(tm) > time.Hour || time.Until(tm) > time.Hour {
		t.Errorf("dump directory %q: host %q time %v; want %s-<capture time>", d.Name, host, tm, plan.ServiceHostname)
	}
	files, err := Ext4List(ctx, r.disk, path.Join(base, d.Name))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Ext4Entry{}
	for _, f := range files {
		byName[f.Name] = f
		if f.IsDir() || f.Perm() != 0o600 {
			t.Errorf("%s/%s: mode %o, want a regular file with mode 0600", d.Name, f.Name, f.Mode)
		}
	}
	if err := Ext4Extract(ctx, r.disk, path.Join(base, d.Name), r.out); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(r.out, d.Name), byName
}

// runDir makes the directory of one lab run (console log, disk images): removed after
// a passing test, kept and named in the log after a failing one, for a look.
func runDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	return dir
}

func wantNames(t *testing.T, got map[string]Ext4Entry, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("dump directory holds %v, want %v", keys(got), want)
		return
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("dump directory holds %v, want %v", keys(got), want)
			return
		}
	}
}

func keys(m map[string]Ext4Entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func readStatus(t *testing.T, dir string) *dumpdir.Status {
	t.Helper()
	st, err := dumpdir.ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status: %s %q, %s, %d bytes, took %s", st.Result, st.Error, st.Dump, st.DumpBytes, st.End.Sub(st.Start).Round(time.Second))
	return st
}

// checkSavedDump checks a complete service capture: the dump opens, its own kernel log
// and vmcore-dmesg.txt hold the crash, the status file says complete.
func checkSavedDump(t *testing.T, r *serviceRun, release string) string {
	dir, files := r.dumpDir(t)
	return checkDumpDir(t, dir, files, release)
}

// checkDumpDir checks a complete capture in the dump directory dir (extracted to the
// host), whose entries on the target are files.
func checkDumpDir(t *testing.T, dir string, files map[string]Ext4Entry, release string) string {
	t.Helper()
	wantNames(t, files, dumpdir.DumpFile, dumpdir.DmesgFile, dumpdir.StatusFile)
	dump := filepath.Join(dir, dumpdir.DumpFile)
	f, err := vmcore.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Incomplete() || f.Kdump.DumpLevel() != 31 {
		t.Errorf("dump: format %s, incomplete %v, level %d; want a complete kdump-compressed dump of level 31",
			f.Format, f.Incomplete(), f.Kdump.DumpLevel())
	}
	log, err := printk.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	log.WriteText(&text)
	if !strings.Contains(text.String(), sysrqPanic) {
		t.Errorf("the dump's kernel log lacks %q", sysrqPanic)
	}
	dm, err := os.ReadFile(filepath.Join(dir, dumpdir.DmesgFile))
	if err != nil || !strings.Contains(string(dm), sysrqPanic) {
		t.Errorf("%s lacks %q (%v)", dumpdir.DmesgFile, sysrqPanic, err)
	}
	if string(dm) != text.String() {
		t.Errorf("%s differs from the dump's own kernel log", dumpdir.DmesgFile)
	}
	st := readStatus(t, dir)
	if st.Result != dumpdir.Complete || st.Dump != dumpdir.DumpFile || st.PanicLine != sysrqPanic ||
		st.KernelRelease != release || st.Host != plan.ServiceHostname || st.Collector == nil || st.DumpBytes != f.Size {
		t.Errorf("status %+v", st)
	}
	return dump
}

func TestServiceSave(t *testing.T) {
	for _, kernel := range []string{testenv.Kernel61, testenv.Kernel612} {
		t.Run(kernel, func(t *testing.T) {
			t.Parallel()
			r := runService(t, serviceCase{
				name: "service-" + kernel, kernel: kernel, diskMiB: 512,
				conf: "ext4 LABEL=" + dumpLabel + "\npath /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\n",
			})
			release := testenv.KernelPackage(t, kernel).Release
			dump := checkSavedDump(t, r, release)
			// final_action is the default, reboot: -no-reboot turns it into QEMU's exit.
			// start gives the 2-CPU guest's capture kernel both CPUs (256 MiB hold them:
			// service.ChooseCaptureCPUs), and the capture reads /proc/vmcore by mmap.
			r.wantConsole(t, "capture CPUs: 2 (auto: reservation 256 MiB", "Kernel command line: elfcorehdr=", " nr_cpus=2",
				"gokdump: mounting the dump target ext4 LABEL="+dumpLabel,
				"gokdump: "+sysrqPanic, "gokdump: read /proc/vmcore by mmap, 16384 KiB windows", "gokdump: saved ", "gokdump: action: reboot")

			bin := guestGokdump(t)
			out, err := exec.Command(bin, "info", dump).CombinedOutput()
			if err != nil || !strings.Contains(string(out), release) {
				t.Errorf("gokdump info: %v\n%s", err, out)
			}
			out, err = exec.Command(bin, "list", "--json", "--dir", r.out).Output()
			var list []struct {
				Result string `json:"result"`
				Panic  string `json:"panic"`
				Size   int64  `json:"size"`
			}
			if err != nil || json.Unmarshal(out, &list) != nil || len(list) != 1 || list[0].Result != "complete" ||
				list[0].Panic != sysrqPanic || list[0].Size == 0 {
				t.Errorf("gokdump list --json: %v\n%s", err, out)
			}
		})
	}
}

func TestServiceTargetMissing(t *testing.T) {
	t.Parallel()
	r := runService(t, serviceCase{
		name: "service-missing-target", kernel: testenv.Kernel61, diskMiB: 64,
		conf: "ext4 LABEL=gokdump-missing\nfinal_action reboot\nfailure_action poweroff\n",
	})
	r.wantConsole(t, "gokdump: capture failed: target: device not found", "LABEL=gokdump-missing",
		"gokdump: action: poweroff")
	ents, err := Ext4List(context.Background(), r.disk, "/")
	if err != nil || len(ents) != 1 || ents[0].Name != "lost+found" {
		t.Errorf("the other disk was written to: %+v %v", ents, err)
	}
}

func TestServiceDiskTooSmall(t *testing.T) {
	t.Parallel()
	// Level 1 keeps the page cache (the initramfs itself): far more than 8 MiB.
	r := runService(t, serviceCase{
		name: "service-small-disk", kernel: testenv.Kernel61, diskMiB: 8,
		conf: "ext4 LABEL=" + dumpLabel + "\ncore_collector makedumpfile -l -d 1\nfinal_action reboot\nfailure_action poweroff\n",
	})
	r.wantConsole(t, "gokdump: the dump is incomplete", "no space left on device", "gokdump: action: poweroff")
	dir, files := r.dumpDir(t)
	wantNames(t, files, dumpdir.DumpIncompleteFile, dumpdir.DmesgFile, dumpdir.StatusFile)
	st := readStatus(t, dir)
	if st.Result != dumpdir.Incomplete || st.Dump != dumpdir.DumpIncompleteFile || !strings.Contains(st.Error, "no space left") ||
		st.Action != "poweroff" {
		t.Errorf("status %+v", st)
	}
	f, err := vmcore.Open(filepath.Join(dir, dumpdir.DumpIncompleteFile))
	if err != nil {
		t.Fatalf("the incomplete dump does not open: %v", err)
	}
	if !f.Incomplete() {
		t.Error("vmcore-incomplete is not marked incomplete")
	}
	f.Close()
}

func TestServicePreHookSkips(t *testing.T) {
	t.Parallel()
	const hook = "/usr/sbin/kdump-pre-fail"
	r := runService(t, serviceCase{
		name: "service-pre-hook", kernel: testenv.Kernel61, diskMiB: 64,
		conf:  "ext4 LABEL=" + dumpLabel + "\nkdump_pre " + hook + "\nfinal_action poweroff\nfailure_action reboot\n",
		files: []GuestFile{{Path: hook, Mode: 0o755, Data: ExitProgram(1)}},
	})
	r.wantConsole(t, "gokdump: running kdump_pre "+hook, "kdump_pre "+hook+" exited with status 1: the dump is skipped",
		"gokdump: action: poweroff")
	dir, files := r.dumpDir(t)
	wantNames(t, files, dumpdir.StatusFile)
	st := readStatus(t, dir)
	if st.Result != dumpdir.Skipped || st.PreHookExit == nil || *st.PreHookExit != 1 || st.Action != "poweroff" {
		t.Errorf("status %+v", st)
	}
}

// TestServiceSmallReservation: a 4 GiB guest captured in a 160 MiB reservation.
func TestServiceSmallReservation(t *testing.T) {
	t.Parallel()
	r := runService(t, serviceCase{
		name: "service-4g-160m", kernel: testenv.Kernel61, memoryMiB: 4096, crashMiB: 160, diskMiB: 512,
		conf: "ext4 LABEL=" + dumpLabel + "\ncore_collector makedumpfile -l -d 31\nfinal_action poweroff\n",
	})
	if r.res.Facts.CrashKernel.End-r.res.Facts.CrashKernel.Start != 160<<20 {
		t.Errorf("crashkernel range %v is not 160 MiB", r.res.Facts.CrashKernel)
	}
	checkSavedDump(t, r, testenv.KernelPackage(t, testenv.Kernel61).Release)
	r.wantConsole(t, "gokdump: saved ", "gokdump: action: poweroff")
}
