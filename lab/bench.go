package lab

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gokdump/gokdump/internal/progdeps"
	"github.com/gokdump/gokdump/lab/plan"
)

// The capture-kernel benchmark's host side (plan.CaptureBench; package bench runs it
// for `make bench`): Config.Bench makes the capture kernel run the plan's jobs on
// /proc/vmcore instead of saving it, writing to an ext4 file system the host makes on
// an extra disk; Config.HostFiles (makedumpfile) are carried into the capture
// initramfs too. Result.Console holds the plan.BenchSampleEvent and
// plan.BenchReadEvent lines.

// benchOutMiB is the size of the bench's output disk: room for the largest output
// (-d 1 -l of the whole memory) with room to spare; a sparse file.
func (c *Config) benchOutMiB() int { return c.MemoryMiB + 1024 }

// benchDisk makes the output disk and fills in the plan's bench files (the host files
// with their libraries and loader, resolved as the first initramfs carries them).
func (c *Config) benchDisk(ctx context.Context, p *plan.Plan) (Disk, error) {
	b := *c.Bench
	if len(c.HostFiles) > 0 {
		files, err := progdeps.Files(c.HostFiles, progdeps.DefaultLibDirs)
		if err != nil {
			return Disk{}, fmt.Errorf("lab: bench files: %w", err)
		}
		b.Files = files
	}
	p.Capture, p.Bench = plan.CaptureBench, &b
	d := Disk{Path: filepath.Join(c.Dir, "bench-out.img"), Serial: plan.DiskBenchOut}
	if err := MakeExt4(ctx, d.Path, c.benchOutMiB(), "benchout"); err != nil {
		return Disk{}, err
	}
	return d, nil
}
