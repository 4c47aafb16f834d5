package lab

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
	"github.com/gokdump/gokdump/vmcore"
)

// The raw target end to end: a guest whose second disk carries a GPT made on the host
// with sfdisk (the raw partition and a neighbour holding known bytes) arms with
// "raw UUID=<partition GUID>" and crashes; the capture kernel writes the raw
// partition. Then the next boot of the same machine (the same raw disk, plus an ext4
// disk mounted at /var/crash) runs "gokdump start", which converts the dump before
// arming; the host reads the converted dump back and the partition's header.

const (
	rawPartUUID  = "6b1c7f3e-0d2a-4c59-9e8f-1a2b3c4d5e6f"
	rawPartStart = 2048 * 512 // bytes
	rawPartSize  = 256 << 20
	rawNeighbour = rawPartStart + rawPartSize
	rawNeighSize = 16 << 20
	rawDiskSize  = rawNeighbour + rawNeighSize + 2<<20 // room for the backup GPT
)

// makeRawDisk writes the raw disk: a GPT with the raw partition and a neighbour,
// made with sfdisk as an administrator would, and known bytes in the neighbour.
func makeRawDisk(t *testing.T, path string) {
	t.Helper()
	sfdisk := testenv.NeedTool(t, "sfdisk", "fdisk")
	if err := makeDisk(path, rawDiskSize); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("label: gpt\nstart=%d, size=%d, name=gokdump-raw, uuid=%s\nstart=%d, size=%d, name=neighbour\n",
		rawPartStart/512, rawPartSize/512, rawPartUUID, rawNeighbour/512, rawNeighSize/512)
	cmd := exec.Command(sfdisk, "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := make([]byte, rawNeighSize)
	for i := range known {
		known[i] = byte(i*13 + i>>12)
	}
	if _, err := f.WriteAt(known, rawNeighbour); err != nil {
		t.Fatal(err)
	}
}

// outsideRaw hashes every byte of the disk outside the raw partition: the GPT, the
// neighbour, the gaps and the backup GPT.
func outsideRaw(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, rawPartStart)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, rawPartStart+rawPartSize, rawDiskSize)); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func rawHeader(t *testing.T, path string) *raw.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, raw.HeaderSize)
	if _, err := f.ReadAt(b, rawPartStart); err != nil {
		t.Fatal(err)
	}
	h, err := raw.DecodeHeader(b, rawPartSize)
	if err != nil {
		t.Fatalf("the raw partition's header: %v", err)
	}
	return h
}

func TestServiceRaw(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	testenv.NeedTool(t, QEMU, "qemu-system-x86")
	testenv.NeedTool(t, "debugfs", "e2fsprogs")
	py := needLibkdumpfile(t)
	b := labBinaries(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	dir := runDir(t, "gokdump-lab-raw-")
	rawDisk := filepath.Join(dir, "raw.img")
	makeRawDisk(t, rawDisk)
	before := outsideRaw(t, rawDisk)
	conf := "raw UUID=" + rawPartUUID + "\npath /var/crash\ncore_collector makedumpfile -F -l -d 31\nfinal_action poweroff\n"
	modules := []string{"ext4", "crc32c_generic"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	// The crash: start arms, the capture writes the raw partition.
	res, err := Crash(ctx, Config{
		Kernel: k, Binaries: b, Dir: filepath.Join(dir, "crash"), CPU: "max", KASLR: true, MemoryMiB: 768,
		Modules:    modules,
		ExtraDisks: []Disk{{Path: rawDisk, Serial: "gokdump-raw"}},
		Service:    &Service{KdumpConf: conf},
		Timeout:    15 * time.Minute,
	})
	if res != nil {
		t.Logf("raw crash: VM ran %s; console %s", res.Elapsed.Round(time.Second), res.ConsoleLog)
	}
	if err != nil {
		if res != nil {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
		}
		t.Fatal(err)
	}
	con, _ := os.ReadFile(res.ConsoleLog)
	sr := &serviceRun{res: res, con: string(con)}
	sr.wantConsole(t, "GOKDUMP-LAB armed", "gokdump: opening the raw dump target raw UUID="+rawPartUUID,
		"gokdump: writing the dump to the raw partition", "gokdump: wrote a complete raw dump", "gokdump: action: poweroff")
	h := rawHeader(t, rawDisk)
	release := k.Release
	if h.State != raw.Complete || h.Release != release || h.Host != plan.ServiceHostname || h.StreamLen == 0 || h.DeviceSize != rawPartSize {
		t.Fatalf("header after the crash: %+v", h)
	}
	if outsideRaw(t, rawDisk) != before {
		t.Fatal("the capture changed bytes outside the raw partition")
	}

	// The next boot of the same machine: start converts, then arms. Then the same
	// guest checks a missing raw device is refused and that saving again does nothing.
	dumps := filepath.Join(dir, "dumps.img")
	if err := MakeExt4(ctx, dumps, 256, dumpLabel); err != nil {
		t.Fatal(err)
	}
	const badConf = "/etc/kdump-missing.conf"
	boot, err := Boot(ctx, Config{
		Kernel: k, Binaries: b, Dir: filepath.Join(dir, "boot"), MemoryMiB: 768, Modules: modules,
		ExtraDisks: []Disk{{Path: rawDisk, Serial: "gokdump-raw"}, {Path: dumps, Serial: "gokdump-dumps"}},
		Setup:      []plan.Command{plan.Cmd(plan.BuiltinMount, plan.DiskRef("gokdump-dumps"), "/var/crash", "ext4")},
		AfterArm: []plan.Command{
			plan.Cmd(plan.GokdumpPath, "save-raw", "--config", plan.KdumpConfPath),
			{Argv: []string{plan.GokdumpPath, "start", "--config", badConf, "--kernel", plan.KernelPath}, MayFail: true},
			plan.Cmd(plan.BuiltinUmount, "/var/crash"),
		},
		Service: &Service{KdumpConf: conf, Files: []GuestFile{{Path: badConf, Mode: 0o600,
			Data: []byte("raw /dev/does-not-exist\ncore_collector makedumpfile -F -l -d 31\n")}}},
		Timeout: 15 * time.Minute,
	})
	if boot != nil {
		t.Logf("raw next boot: VM ran %s; console %s", boot.Elapsed.Round(time.Second), boot.ConsoleLog)
	}
	if err != nil {
		if boot != nil {
			t.Logf("console tail:\n%s", ConsoleTail(boot.ConsoleLog, 80))
		}
		t.Fatal(err)
	}
	con, _ = os.ReadFile(boot.ConsoleLog)
	br := &serviceRun{res: boot, disk: dumps, out: filepath.Join(dir, "out"), con: string(con), dumps: "/"}
	br.wantConsole(t, "GOKDUMP-LAB ran setup: ok", "raw UUID="+rawPartUUID+": saved a complete dump of "+release+" to /var/crash/",
		"kdump is armed", "GOKDUMP-LAB armed",
		"its dump (written ", "was saved before; nothing to do",
		badConf+":1: raw /dev/does-not-exist: /dev/does-not-exist does not exist",
		"GOKDUMP-LAB done")
	if t.Failed() {
		t.Logf("console tail:\n%s", ConsoleTail(boot.ConsoleLog, 60))
	}

	// The host reads the converted dump back.
	dumpDir, files := br.dumpDir(t)
	wantNames(t, files, dumpdir.DumpFile, dumpdir.DmesgFile, dumpdir.StatusFile)
	st := readStatus(t, dumpDir)
	if st.Result != dumpdir.Complete || st.Dump != dumpdir.DumpFile || st.KernelRelease != release || st.Host != plan.ServiceHostname ||
		!strings.HasPrefix(st.Target, "raw UUID="+rawPartUUID) || st.DumpBytes == 0 {
		t.Errorf("status %+v", st)
	}
	dump := filepath.Join(dumpDir, dumpdir.DumpFile)
	f, err := vmcore.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != vmcore.FormatKdump || f.Incomplete() || f.Kdump.DumpLevel() != 31 || f.Size != st.DumpBytes {
		t.Errorf("dump: format %s, incomplete %v, level %d, %d bytes", f.Format, f.Incomplete(), f.Kdump.DumpLevel(), f.Size)
	}
	dm, err := os.ReadFile(filepath.Join(dumpDir, dumpdir.DmesgFile))
	if err != nil || !strings.Contains(string(dm), sysrqPanic) {
		t.Errorf("%s lacks %q (%v)", dumpdir.DmesgFile, sysrqPanic, err)
	}
	out, err := exec.Command(guestGokdump(t), "info", dump).CombinedOutput()
	if err != nil || !strings.Contains(string(out), release) || !strings.Contains(string(out), "sysrq") {
		t.Errorf("gokdump info: %v\n%s", err, out)
	}
	libkdumpfileAgrees(t, py, f, dump, release, f)
	if !t.Failed() {
		t.Logf("libkdumpfile reads the converted dump as gokdump does")
	}

	hs := rawHeader(t, rawDisk)
	if hs.State != raw.Saved || hs.StreamLen != h.StreamLen || hs.StreamCRC != h.StreamCRC || hs.SavedTime.IsZero() {
		t.Errorf("header after the next boot: %+v, want saved", hs)
	}
	if outsideRaw(t, rawDisk) != before {
		t.Error("the next boot changed bytes outside the raw partition")
	}
	if out, err := exec.Command("e2fsck", "-fn", dumps).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn of the dump disk: %v\n%s", err, out)
	}
}
