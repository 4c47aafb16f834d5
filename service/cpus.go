package service

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/internal/smallfile"
)

// How many CPUs the capture kernel boots with (its nr_cpus=), chosen at start.
//
// Every distribution boots the capture kernel with nr_cpus=1: each CPU costs the
// capture kernel memory, and the reservation is small. gokdump's collector runs a
// worker per CPU it has, so a second CPU nearly halves the time of a compressed dump
// (bench/, `make bench`, the capture-kernel rows). The model:
//
//	need(1)  = the crashkernel estimate of this image (ComputeEstimate: kernel,
//	           initramfs compressed and unpacked, modules, base, collector)
//	need(N)  = need(1) + (N-1) * PerCaptureCPU
//	N        = the largest N with need(N) <= the reservation, at most
//	           MaxAutoCaptureCPUs and the CPUs online now; at least 1
//
// capture_cpus N in kdump.conf, or nr_cpus= in kdump_commandline_append (Debian's
// KDUMP_COMMANDLINE_APPEND), sets it instead.
const (
	// perCPUKernel is what one more CPU costs the capture kernel itself: its per-CPU
	// areas, the per-CPU kernel threads' stacks (ksoftirqd, migration, cpuhp,
	// kworkers), per-CPU page lists and slab caches, and the per-CPU queues of
	// drivers (NVMe, multiqueue block and network devices). Measured in the bench's
	// capture kernels (Debian 6.1, 256 MiB, QEMU with two virtio disks): MemTotal
	// 0.2 MiB lower with nr_cpus=2 than with nr_cpus=1, and no difference at rest
	// that MemAvailable shows (-1.9 MiB, its noise); 4 MiB leaves room for real
	// machines' drivers.
	perCPUKernel = 4 << 20
	// perCPUCollector is one more collector worker: its window of the page bitmaps,
	// its compression buffers and its codec's state. Measured: the capture kernel's
	// high-water mark above rest during gokdump dump grows by 3.7-3.9 MiB from one
	// worker to two (-d 31 -l, -d 31 -c, -d 1 -c); twice that for margin.
	perCPUCollector = 8 << 20
	// PerCaptureCPU is the memory each capture CPU beyond the first needs.
	PerCaptureCPU = perCPUKernel + perCPUCollector
	// MaxAutoCaptureCPUs bounds the automatic choice: the workers share one reader
	// of /proc/vmcore and one writer, and more CPUs mean more to bring up on a
	// crashed machine's hardware.
	MaxAutoCaptureCPUs = 4
)

// CaptureCPUs is the capture kernel's CPU count and why.
type CaptureCPUs struct {
	N   int
	Why string
	// Set says gokdump adds nr_cpus=N to the command line (false when
	// kdump_commandline_append already has it).
	Set bool
}

// ChooseCaptureCPUs applies the model: cfg's capture_cpus or appended nr_cpus= first,
// else the most CPUs whose memory fits reserved beside need1 (the estimate for one
// CPU), at most online and MaxAutoCaptureCPUs.
func ChooseCaptureCPUs(cfg *config.Config, reserved, need1 int64, online int) CaptureCPUs {
	if n, ok := cfg.AppendedCPUs(); ok {
		return CaptureCPUs{N: n, Why: fmt.Sprintf("nr_cpus=%d in kdump_commandline_append", n)}
	}
	if cfg.CaptureCPUs > 0 {
		why := fmt.Sprintf("capture_cpus %d in %s", cfg.CaptureCPUs, cfg.File)
		if l := cfg.Lines["capture_cpus"]; l > 0 {
			why += ":" + strconv.Itoa(l)
		}
		return CaptureCPUs{N: cfg.CaptureCPUs, Why: why, Set: true}
	}
	limit := min(max(online, 1), MaxAutoCaptureCPUs)
	n := 1
	if reserved > need1 {
		n = min(limit, 1+int((reserved-need1)/PerCaptureCPU))
	}
	why := fmt.Sprintf("auto: reservation %d MiB, estimate %d MiB for one CPU + %d MiB per further CPU, %d CPUs online, at most %d",
		reserved>>20, need1>>20, PerCaptureCPU>>20, online, MaxAutoCaptureCPUs)
	return CaptureCPUs{N: n, Why: why, Set: true}
}

// onlineCPUs counts the CPUs in SysRoot's devices/system/cpu/online ("0-3,5"); 1 when
// it cannot be read.
func (s *System) onlineCPUs() int {
	data, err := smallfile.Read(s.SysRoot+"/devices/system/cpu/online", 4096)
	if err != nil {
		return 1
	}
	return countCPUList(strings.TrimSpace(string(data)))
}

// countCPUList counts the CPUs of a kernel CPU list ("0-3,5"); 1 for a bad list.
func countCPUList(s string) int {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b < a || b-a > 1<<16 {
			return 1
		}
		n += b - a + 1
	}
	return max(n, 1)
}

// oneCPUNeed is the crashkernel estimate of the image start built for plan: what the
// capture kernel needs with one CPU (see Estimate; the image's real size instead of
// a recount), for a machine of memory bytes (its per-GiB cost, as Estimate counts it).
func oneCPUNeed(kernel, image string, plan *Plan, memory int64) (int64, error) {
	in := EstimateInputs{Memory: memory, UploadPart: uploadPart(plan)}
	var err error
	if in.Kernel, _, err = kernelMemory(kernel); err != nil {
		return 0, err
	}
	st, err := os.Stat(image)
	if err != nil {
		return 0, err
	}
	in.ImageCompressed = st.Size()
	for _, f := range plan.Files {
		fst, err := os.Stat(f.Src)
		if err != nil {
			return 0, err
		}
		in.ImageUnpacked += fst.Size()
		if strings.HasPrefix(f.Dest, "lib/modules/") {
			if strings.HasSuffix(f.Dest, ".ko") {
				in.Modules += fst.Size()
			} else {
				in.Modules += fst.Size() * compressedModuleFactor
			}
		}
	}
	return ComputeEstimate(in).Total, nil
}

// cmdline is what start adds to the capture command line for c.
func (c CaptureCPUs) cmdline() []string {
	if !c.Set {
		return nil
	}
	return []string{"nr_cpus=" + strconv.Itoa(c.N)}
}

// chooseCPUs is ChooseCaptureCPUs for the image start built; when the estimate
// cannot be made, one CPU (as every distribution gives).
func (s *System) chooseCPUs(cfg *config.Config, reserved int64, kernel, image string, plan *Plan) CaptureCPUs {
	var memory int64
	if total, err := s.memTotal(); err == nil {
		memory = total + reserved // as Estimate: the memory the kernel manages and the reservation
	}
	need1, err := oneCPUNeed(kernel, image, plan, memory)
	if err != nil {
		c := ChooseCaptureCPUs(cfg, 0, 0, 1)
		if c.Set && cfg.CaptureCPUs == 0 {
			c.Why = fmt.Sprintf("one CPU: no estimate of the image (%v)", err)
		}
		return c
	}
	return ChooseCaptureCPUs(cfg, reserved, need1, s.onlineCPUs())
}
