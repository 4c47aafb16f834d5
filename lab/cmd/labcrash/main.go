// Command labcrash runs one real-crash lab crash from the shell: it boots a Debian
// kernel in QEMU with the lab's guest program (lab/cmd/labinit) as /init, crashes it,
// and leaves the captured vmcore, the guest's facts and the console log in a directory.
//
//	go run ./lab/cmd/labcrash [-kernel linux-image-amd64] [-cpu max|qemu64] [-kaslr=false] [-out DIR]
//	go run ./lab/cmd/labcrash -demo   # crash, then `gokdump info` of the raw vmcore
//	go run ./lab/cmd/labcrash -demo -service   # the Makefile's demo: the kdump service end to end
//	go run ./lab/cmd/labcrash -memfile /tmp/ram.img   # guest RAM in a host file as well
//	go run ./lab/cmd/labcrash -crash init-exit   # another crash: init exits
//
// -service runs the kdump service as a machine would: the guest writes kdump.conf with
// an ext4 target (a second disk the host made with mkfs.ext4 -L gokdump-dumps), arms
// with the real gokdump's "gokdump start" and crashes; the capture kernel's /init (gokdump's capture
// service) saves vmcore and vmcore-dmesg.txt there and reboots. The host copies
// /var/crash out of the disk image with debugfs (without mounting it) into -out.
//
// -kernel takes a Debian kernel image package or a metapackage (linux-image-amd64 is
// bookworm's 6.1, linux-image-6.12-amd64 the newest 6.12); it is fetched into the
// repository's .cache/kernels. Run it from inside the repository, as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/lab"
	"github.com/gokdump/gokdump/lab/kernelpkg"
	"github.com/gokdump/gokdump/lab/plan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "labcrash:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("labcrash", flag.ContinueOnError)
	kernel := fs.String("kernel", "linux-image-amd64", "Debian kernel image package or metapackage")
	cpu := fs.String("cpu", "max", `QEMU CPU model: "max" (5-level paging) or "qemu64" (4-level)`)
	kaslr := fs.Bool("kaslr", true, "leave KASLR on (false adds nokaslr)")
	mem := fs.Int("mem", 1536, "guest memory in MiB")
	cpus := fs.Int("cpus", 2, "guest CPUs")
	out := fs.String("out", "", "output directory (default .cache/lab/<release>-<cpu>)")
	demo := fs.Bool("demo", false, "after the crash, run `gokdump info` on the vmcore")
	memFile := fs.String("memfile", "", "back the guest's RAM with this host file (shared), kept after the crash")
	timeout := fs.Duration("timeout", 10*time.Minute, "kill the VM after this long")
	crash := fs.String("crash", plan.CrashSysrq, "how the guest crashes: "+plan.CrashSysrq+" or "+plan.CrashInitExit)
	service := fs.Bool("service", false, "run the kdump service (kdump.conf, gokdump start, capture to an ext4 disk)")
	fleetDir := fs.String("fleet", "", "with -service: upload the saved dump to the local crash store `DIR` (gokdump upload --store) and show its group in gokdump serve")
	fleetPort := fs.Int("fleet-port", 8137, "with -fleet: the loopback port gokdump serve listens on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cache, err := kernelpkg.DefaultCacheDir()
	if err != nil {
		return err
	}
	pkg, err := kernelpkg.Resolve(ctx, *kernel)
	if err != nil {
		return err
	}
	fmt.Printf("kernel package %s\n", pkg)
	k, err := kernelpkg.Get(ctx, cache, pkg)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(cache), "lab", k.Release+"-"+*cpu)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	bins, err := lab.BuildBinaries(ctx, *out)
	if err != nil {
		return err
	}
	fmt.Printf("booting %s (-cpu %s, kaslr %v, %d MiB, %d CPUs) under TCG; console in %s\n",
		k.Release, *cpu, *kaslr, *mem, *cpus, filepath.Join(*out, "console.log"))
	if *service {
		return runService(ctx, lab.Config{
			Kernel: k, Binaries: bins, Dir: *out,
			CPU: *cpu, KASLR: *kaslr, MemoryMiB: *mem, CPUs: *cpus, Timeout: *timeout,
		}, *demo, *fleetDir, *fleetPort)
	}
	res, err := lab.Crash(ctx, lab.Config{
		Kernel: k, Binaries: bins, Dir: *out,
		CPU: *cpu, KASLR: *kaslr, MemoryMiB: *mem, CPUs: *cpus, Timeout: *timeout,
		MemoryFile: *memFile, Crash: *crash,
	})
	if err != nil {
		if res != nil {
			fmt.Fprintf(os.Stderr, "console tail:\n%s\n", lab.ConsoleTail(res.ConsoleLog, 40))
		}
		return err
	}
	fa := res.Facts
	st, err := os.Stat(res.Vmcore)
	if err != nil {
		return err
	}
	fmt.Printf("crashed and captured in %s\n", res.Elapsed.Round(time.Second))
	fmt.Printf("  guest:   %s %s, %d CPUs, MemTotal %d KiB, crashkernel %v\n", fa.Release, fa.Machine, fa.CPUs, fa.MemTotalKiB, fa.CrashKernel)
	fmt.Printf("  capture: %s\n", res.CaptureCmdline)
	fmt.Printf("  vmcore:  %s (%d MiB)\n", res.Vmcore, st.Size()>>20)
	fmt.Printf("  facts:   %s\n", fa.Dir)
	if *demo {
		fmt.Printf("\n$ gokdump info %s\n", res.Vmcore)
		cmd := exec.CommandContext(ctx, bins.Gokdump, "info", res.Vmcore)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("gokdump info: %w", err)
		}
	}
	return nil
}

// serviceKdumpConf is the demo's kdump.conf: Fedora's default collector, an ext4
// target found by its label.
const serviceKdumpConf = `# the real-crash lab's kdump service demo
ext4 LABEL=gokdump-dumps
path /var/crash
core_collector makedumpfile -l --message-level 7 -d 31
final_action reboot
failure_action poweroff
`

// runService runs the kdump service demo: crash, then list the saved dumps and run
// "gokdump info" on the newest.
func runService(ctx context.Context, cfg lab.Config, demo bool, fleetDir string, fleetPort int) error {
	disk := filepath.Join(cfg.Dir, "dumps.img")
	if err := lab.MakeExt4(ctx, disk, 512, "gokdump-dumps"); err != nil {
		return err
	}
	cfg.Modules = []string{"ext4", "crc32c_generic"} // the tree "gokdump start" takes the capture modules from
	cfg.ExtraDisks = []lab.Disk{{Path: disk, Serial: "gokdump-dumps"}}
	cfg.Service = &lab.Service{KdumpConf: serviceKdumpConf}
	fmt.Printf("kdump.conf:\n%s", serviceKdumpConf)
	res, err := lab.Crash(ctx, cfg)
	if err != nil {
		if res != nil {
			fmt.Fprintf(os.Stderr, "console tail:\n%s\n", lab.ConsoleTail(res.ConsoleLog, 40))
		}
		return err
	}
	fmt.Printf("armed with gokdump start, crashed, captured by the service in %s\n", res.Elapsed.Round(time.Second))
	fmt.Printf("  console: %s\n", res.ConsoleLog)
	crashDir := filepath.Join(cfg.Dir, "crash")
	if err := os.RemoveAll(crashDir); err != nil {
		return err
	}
	if err := lab.Ext4Extract(ctx, disk, "/var/crash", cfg.Dir); err != nil {
		return err
	}
	fmt.Printf("  dumps:   copied from %s:/var/crash to %s (debugfs)\n", disk, crashDir)
	dumps, err := dumpdir.List(crashDir)
	if err != nil {
		return err
	}
	if len(dumps) == 0 {
		return fmt.Errorf("the service saved no dump (console: %s)", res.ConsoleLog)
	}
	show := func(args ...string) error {
		fmt.Printf("\n$ gokdump %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, cfg.Gokdump, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	if err := show("list", "--dir", crashDir); err != nil {
		return fmt.Errorf("gokdump list: %w", err)
	}
	last := dumps[len(dumps)-1]
	if last.Result != dumpdir.Complete {
		return fmt.Errorf("the saved dump is %s: %s", last.Result, last.Dir)
	}
	if demo {
		if err := show("info", last.File); err != nil {
			return fmt.Errorf("gokdump info: %w", err)
		}
	}
	if fleetDir != "" {
		return fleetStep(ctx, cfg.Gokdump, crashDir, fleetDir, fleetPort, show)
	}
	return nil
}
