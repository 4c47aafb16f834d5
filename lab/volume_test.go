package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokdump/gokdump/internal/testenv"
	"github.com/gokdump/gokdump/lab/plan"
)

// Volume lab: the first-kernel guest makes its volumes with the real Debian tools
// (lvm2, mdadm, e2fsprogs, xfsprogs carried in from the host with their libraries,
// Config.HostFiles) as an installer would, arms with the real "gokdump start", and
// crashes; the capture kernel's gokdump brings the stack up and saves the dump. The
// host reads the volumes back from the disk images.

// volDisk is one blank disk of a volume guest.
type volDisk struct {
	serial  string
	sizeMiB int
}

type volumeCase struct {
	name      string
	kernel    string
	memoryMiB int
	disks     []volDisk
	setup     []plan.Command
	afterArm  []plan.Command
	conf      string
}

type volumeRun struct {
	res   *Result
	disks map[string]string // serial -> image path
	dir   string
	con   string
}

// needVolumeTools installs the host tools the guests carry (and the host reads with).
func needVolumeTools(t *testing.T) {
	t.Helper()
	need := map[string]string{QEMU: "qemu-system-x86", "debugfs": "e2fsprogs", "losetup": "mount"}
	for f, pkg := range VolumeTools {
		need[f] = pkg
	}
	testenv.NeedPackages(t, need)
}

// runVolume boots a service-mode guest with blank disks, runs the case's commands
// around "gokdump start" and crashes it.
func runVolume(t *testing.T, c volumeCase) *volumeRun {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	needVolumeTools(t)
	b := labBinaries(t)
	k := testenv.KernelPackage(t, c.kernel)
	dir := runDir(t, "gokdump-lab-volume-")
	r := &volumeRun{disks: map[string]string{}, dir: dir}
	var disks []Disk
	for _, d := range c.disks {
		p := filepath.Join(dir, d.serial+".img")
		if err := makeDisk(p, int64(d.sizeMiB)<<20); err != nil {
			t.Fatal(err)
		}
		r.disks[d.serial] = p
		disks = append(disks, Disk{Path: p, Serial: d.serial})
	}
	mem := c.memoryMiB
	if mem == 0 {
		mem = 768
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	res, err := Crash(ctx, Config{
		Kernel: k, Binaries: b, Dir: dir, CPU: "max", KASLR: true, MemoryMiB: mem,
		Modules:    VolumeModules,
		HostFiles:  VolumeToolFiles(),
		Setup:      c.setup,
		AfterArm:   c.afterArm,
		ExtraDisks: disks,
		Service:    &Service{KdumpConf: c.conf},
		Timeout:    15 * time.Minute,
	})
	r.res = res
	if res != nil {
		t.Logf("%s: VM ran %s; console %s", c.name, res.Elapsed.Round(time.Second), res.ConsoleLog)
		if con, err := os.ReadFile(res.ConsoleLog); err == nil {
			r.con = string(con)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 80))
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serviceRun is the view of the run that the service tests' checks take.
func (r *volumeRun) serviceRun(disk string) *serviceRun {
	return &serviceRun{res: r.res, disk: disk, out: filepath.Join(r.dir, "out"), con: r.con}
}

// TestLabBootRoot proves a boot-only run (Boot) in the root-on-disk mode: the guest
// mounts a root disk MakeRootDisk wrote, arms with that disk's gokdump chrooted into
// it, mounts a second disk by serial (Setup) and powers off without crashing.
func TestLabBootRoot(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("boots QEMU guests (minutes); not in -short")
	}
	needVolumeTools(t)
	b := labBinaries(t)
	k := testenv.KernelPackage(t, testenv.Kernel61)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	modules := []string{"ext4", "crc32c_generic"}
	root := filepath.Join(dir, "root.img")
	if err := MakeRootDisk(ctx, root, RootDisk{Kernel: k, Gokdump: b.Gokdump, Modules: modules, Label: "gokdump-root", SizeMiB: 256}); err != nil {
		t.Fatal(err)
	}
	dumps := filepath.Join(dir, "dumps.img")
	if err := MakeExt4(ctx, dumps, 64, dumpLabel); err != nil {
		t.Fatal(err)
	}
	res, err := Boot(ctx, Config{
		Kernel: k, Binaries: b, Dir: dir, MemoryMiB: 768, Modules: modules,
		ExtraDisks: []Disk{{root, "gokdump-root"}, {dumps, "gokdump-dumps"}},
		Setup:      []plan.Command{plan.Cmd(plan.BuiltinMount, plan.DiskRef("gokdump-dumps"), "/var/crash", "ext4")},
		Service: &Service{KdumpConf: "ext4 LABEL=" + dumpLabel + "\nfailure_action poweroff\n",
			Root: &plan.Root{Device: plan.DiskRef("gokdump-root"), FSType: "ext4"}},
		Timeout: 10 * time.Minute,
	})
	if res != nil {
		t.Logf("boot-root: VM ran %s; console %s", res.Elapsed.Round(time.Second), res.ConsoleLog)
	}
	if err != nil {
		if res != nil {
			t.Logf("console tail:\n%s", ConsoleTail(res.ConsoleLog, 60))
		}
		t.Fatal(err)
	}
	con, err := os.ReadFile(res.ConsoleLog)
	if err != nil {
		t.Fatal(err)
	}
	sr := &serviceRun{res: res, con: string(con)}
	sr.wantConsole(t, "GOKDUMP-LAB ran setup: ok", "GOKDUMP-LAB root /dev/vd", "mounted on "+plan.RootMount,
		"GOKDUMP-LAB armed", "GOKDUMP-LAB done")
	if strings.Contains(sr.con, "sysrq") || strings.Contains(sr.con, "Kernel panic") {
		t.Error("a boot-only run crashed")
	}
	// start kept its state on the root disk, as on a machine.
	ents, err := Ext4List(ctx, root, "/var/lib/gokdump")
	if err != nil || len(ents) == 0 {
		t.Errorf("the root disk's /var/lib/gokdump: %+v %v", ents, err)
	}
}
