// Command labcrash runs one real-crash lab crash from the shell: it boots a Debian
// kernel in QEMU with gokdump as /init, crashes it, and leaves the captured vmcore, the
// guest's facts and the console log in a directory.
//
//	go run ./lab/cmd/labcrash [-kernel linux-image-amd64] [-cpu max|qemu64] [-kaslr=false] [-out DIR]
//	go run ./lab/cmd/labcrash -demo   # the Makefile's demo: crash, then `gokdump info`
//	go run ./lab/cmd/labcrash -memfile /tmp/ram.img   # guest RAM in a host file as well
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
	"time"

	"github.com/gokdump/gokdump/lab"
	"github.com/gokdump/gokdump/lab/kernelpkg"
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
	bin, err := lab.BuildGokdump(ctx, *out)
	if err != nil {
		return err
	}
	fmt.Printf("booting %s (-cpu %s, kaslr %v, %d MiB, %d CPUs) under TCG; console in %s\n",
		k.Release, *cpu, *kaslr, *mem, *cpus, filepath.Join(*out, "console.log"))
	res, err := lab.Crash(ctx, lab.Config{
		Kernel: k, Gokdump: bin, Dir: *out,
		CPU: *cpu, KASLR: *kaslr, MemoryMiB: *mem, CPUs: *cpus, Timeout: *timeout,
		MemoryFile: *memFile,
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
		cmd := exec.CommandContext(ctx, bin, "info", res.Vmcore)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("gokdump info: %w", err)
		}
	}
	return nil
}
