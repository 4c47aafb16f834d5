package service

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gokdump/gokdump/kexec"
)

// The fixed parts of the crashkernel= estimate.
const (
	// estimateBase is what the capture kernel needs beyond its image and the
	// initramfs: page tables, struct pages of the reservation, slab, per-CPU
	// data for nr_cpus=1, the console, the device drivers' buffers.
	estimateBase = 64 << 20
	// estimateCollector is the collector's working set: gokdump dump's bitmap
	// window, compression buffers and read-ahead, bounded whatever the size of the
	// crashed machine.
	estimateCollector = 32 << 20
	// estimateRound is the granularity of the recommendation.
	estimateRound = 32 << 20
	// compressedModuleFactor is how much larger a .ko.xz / .ko.zst / .ko.gz module
	// is once decompressed and loaded (typical of distribution kernels).
	compressedModuleFactor = 3
	// kernelImageFactor estimates the memory a kernel needs from its compressed
	// image when the image does not say (boot protocol before 2.10).
	kernelImageFactor = 4
)

// Estimate is a recommended crashkernel= size and how it was reached:
//
//	Total = Kernel + ImageCompressed + ImageUnpacked + Modules + Base + Collector
//	Recommended = Total rounded up to 32 MiB
//
// Kernel is the memory the kernel needs to decompress and run (init_size of the
// bzImage header); the compressed initramfs and its unpacked files are both in
// memory while it is unpacked; the loaded modules are copies of their files.
type Estimate struct {
	Kernel          int64
	KernelFrom      string // how Kernel was found
	ImageCompressed int64
	ImageUnpacked   int64
	Modules         int64
	Base            int64
	Collector       int64
	Total           int64
	Recommended     int64
	// Reserved is the current reservation (0: none).
	Reserved int64
}

// EstimateInputs are the measured sizes an Estimate is computed from.
type EstimateInputs struct {
	Kernel, ImageCompressed, ImageUnpacked, Modules int64
}

// ComputeEstimate applies the formula of Estimate.
func ComputeEstimate(in EstimateInputs) Estimate {
	e := Estimate{
		Kernel: in.Kernel, ImageCompressed: in.ImageCompressed, ImageUnpacked: in.ImageUnpacked,
		Modules: in.Modules, Base: estimateBase, Collector: estimateCollector,
	}
	e.Total = e.Kernel + e.ImageCompressed + e.ImageUnpacked + e.Modules + e.Base + e.Collector
	e.Recommended = (e.Total + estimateRound - 1) / estimateRound * estimateRound
	return e
}

// Crashkernel returns the recommendation as a kernel command line option.
func (e Estimate) Crashkernel() string {
	return "crashkernel=" + formatSize(e.Recommended)
}

// Estimate measures the capture kernel and the capture initramfs that Start would
// load (the initramfs is assembled in memory, not written) and recommends a
// reservation.
func (s *System) Estimate(opts StartOptions) (*Estimate, error) {
	release := opts.Release
	var err error
	if release == "" {
		if release, err = s.Release(); err != nil {
			return nil, err
		}
	}
	kernel := opts.Kernel
	if kernel == "" {
		if kernel, err = s.KernelImage(release); err != nil {
			return nil, err
		}
	}
	var in EstimateInputs
	kmem, from, err := kernelMemory(kernel)
	if err != nil {
		return nil, err
	}
	in.Kernel = kmem
	plan, err := s.Plan(BuildOptions{Config: opts.Config, ConfigData: opts.ConfigData, Release: release, Self: opts.Self})
	if err != nil {
		return nil, err
	}
	for _, f := range plan.Files {
		st, err := os.Stat(f.Src)
		if err != nil {
			return nil, err
		}
		in.ImageUnpacked += st.Size()
		if strings.HasPrefix(f.Dest, "lib/modules/") {
			if strings.HasSuffix(f.Dest, ".ko") {
				in.Modules += st.Size()
			} else {
				in.Modules += st.Size() * compressedModuleFactor
			}
		}
	}
	a, err := plan.Archive()
	if err != nil {
		return nil, err
	}
	var cw countingWriter
	if err := a.WriteImage(&cw, plan.Compression); err != nil {
		return nil, err
	}
	in.ImageCompressed = cw.n
	e := ComputeEstimate(in)
	e.KernelFrom = from
	if st, err := kexec.ReadStateAt(s.SysRoot); err == nil {
		e.Reserved = st.CrashSize
	}
	return &e, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// kernelMemory returns the memory an x86 bzImage needs to decompress and run: the
// init_size field of its setup header (boot protocol 2.10 and later, offset 0x260),
// else kernelImageFactor times the file's size.
func kernelMemory(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	var hdr [0x264]byte
	if _, err := f.ReadAt(hdr[:], 0); err == nil || err == io.EOF {
		if string(hdr[0x202:0x206]) == "HdrS" && binary.LittleEndian.Uint16(hdr[0x206:]) >= 0x20a {
			if n := int64(binary.LittleEndian.Uint32(hdr[0x260:])); n > 0 {
				return n, "init_size of the bzImage header", nil
			}
		}
	}
	return st.Size() * kernelImageFactor, fmt.Sprintf("%d times the image size (no bzImage init_size)", kernelImageFactor), nil
}
