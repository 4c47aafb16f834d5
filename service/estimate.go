package service

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gokdump/gokdump/fleet"
	"github.com/gokdump/gokdump/internal/meminfo"
	"github.com/gokdump/gokdump/internal/smallfile"
	"github.com/gokdump/gokdump/kexec"
)

// The constants of the crashkernel= model, fitted to the smallest reservations at
// which the lab's Debian 6.1 guests of 1, 4, 16 and 64 GiB were still captured with
// the default configuration (bench/cmd/gokdump-reservation; the measurements and the
// fit are in docs/reservation.md).
const (
	// estimateRuntime is what the capture kernel allocates after boot beyond its image
	// and the initramfs: slab, the drivers' and the file system's buffers, the page
	// cache of the dump being written. It is the fitted residual: with the measured
	// inputs of the lab's guests (kernel 63.6, initramfs 7.7, unpacked 15.6, modules
	// 2.6 MiB) and Collector, it makes the sum meet the measured minimum (112 MiB at
	// 1, 4 and 16 GiB). It is small because the collector's RSS counts the pages of
	// the gokdump binary, which "unpacked" counts too.
	estimateRuntime = 8 << 20
	// estimateCollector is the collector's working set: its heap (bitmap windows,
	// compression buffers, read-ahead) and the pages of the gokdump binary it runs
	// from, bounded whatever the size of the crashed machine: its peak RSS measured
	// 15.7-17.3 MiB from 1 to 64 GiB.
	estimateCollector = 16 << 20
	// estimatePerGiB is the cost of each GiB of the crashed machine's memory: the two
	// bitmaps of a kdump-compressed dump, 2 bits per 4 KiB page (64 KiB per GiB). The
	// capture kernel itself keeps no per-page structure of the old memory (only the
	// ELF header's PT_LOADs, one per memory range), and the collector works in
	// windows: a 64 GiB guest's measured minimum was a 1 GiB guest's (112 MiB, to the
	// 8 MiB step), and the collector's peak RSS grew by less than 1.5 MiB.
	estimatePerGiB = 64 << 10
	// estimateMargin is the recommendation's headroom over the measured minimum (30%
	// of it): what the lab's guests do not have and the inputs do not measure, such
	// as more ACPI tables and PCI devices to set up, a bigger kernel log, dirty pages
	// of a large dump under writeback.
	estimateMargin = 32 << 20
	// estimateRound is the granularity of the recommendation.
	estimateRound = 16 << 20
	// compressedModuleFactor is how much larger a .ko.xz / .ko.zst / .ko.gz module
	// is once decompressed and loaded (typical of distribution kernels).
	compressedModuleFactor = 3
	// kernelImageFactor estimates the memory a kernel needs from its compressed
	// image when the image does not say (boot protocol before 2.10).
	kernelImageFactor = 4
)

// Estimate is a recommended crashkernel= size and how it was reached, from a model
// of the capture's memory:
//
//	Fixed       = Kernel + ImageCompressed + ImageUnpacked + Modules + Runtime + Collector + Margin
//	Total(mem)  = Fixed + PerGiB * mem in GiB (rounded up) + Upload(mem)
//	Recommended = Total(Memory) rounded up to 16 MiB
//
// Kernel is the memory the kernel needs to decompress and run (init_size of the
// bzImage header); the compressed initramfs and its unpacked files are both in
// memory while it is unpacked; the loaded modules are copies of their files. The
// constants (Runtime, Collector, PerGiB, Margin) are measured: see
// docs/reservation.md. Upload is s3_capture's: the multipart part it holds, for a dump
// as large as the memory (fleet.StreamBuffer), twice, since the garbage collector lets
// the heap grow to twice what is live.
type Estimate struct {
	Kernel          int64
	KernelFrom      string // how Kernel was found
	ImageCompressed int64
	ImageUnpacked   int64
	Modules         int64
	Runtime         int64
	Collector       int64
	Margin          int64
	// PerGiB is the cost of each GiB of the crashed machine's memory; Memory the
	// memory the estimate is for (this machine's: MemTotal and the reservation) and
	// MemoryCost PerGiB times Memory in GiB.
	PerGiB     int64
	Memory     int64
	MemoryCost int64
	// UploadPart is s3_capture's first part size (0: no s3_capture); Upload what
	// its part costs for Memory.
	UploadPart int64
	Upload     int64
	Total      int64
	// Recommended is Total rounded up to 16 MiB.
	Recommended int64
	// Reserved is the current reservation (0: none).
	Reserved int64
}

// EstimateInputs are the measured sizes an Estimate is computed from, and the memory
// of the machine it is for (bytes).
type EstimateInputs struct {
	Kernel, ImageCompressed, ImageUnpacked, Modules int64
	Memory                                          int64
	// UploadPart is s3_capture's first part size (0: no s3_capture).
	UploadPart int64
}

// ComputeEstimate applies the model of Estimate.
func ComputeEstimate(in EstimateInputs) Estimate {
	e := Estimate{
		Kernel: in.Kernel, ImageCompressed: in.ImageCompressed, ImageUnpacked: in.ImageUnpacked,
		Modules: in.Modules, Runtime: estimateRuntime, Collector: estimateCollector, Margin: estimateMargin,
		PerGiB: estimatePerGiB, UploadPart: in.UploadPart,
	}
	e.setMemory(in.Memory)
	return e
}

func (e *Estimate) setMemory(mem int64) {
	e.Memory = mem
	e.MemoryCost = e.PerGiB * ((mem + 1<<30 - 1) >> 30)
	e.Upload = 0
	if e.UploadPart > 0 {
		e.Upload = 2 * fleet.StreamBuffer(e.UploadPart, mem)
	}
	e.Total = e.fixed() + e.MemoryCost + e.Upload
	e.Recommended = roundUp(e.Total, estimateRound)
}

func (e *Estimate) fixed() int64 {
	return e.Kernel + e.ImageCompressed + e.ImageUnpacked + e.Modules + e.Runtime + e.Collector + e.Margin
}

// ComputeEstimateFrom recomputes e for its Memory (the other parts as they are).
func ComputeEstimateFrom(e Estimate) Estimate {
	e.setMemory(e.Memory)
	return e
}

// For is the recommendation for a machine with mem bytes of memory and the same
// capture kernel and initramfs.
func (e Estimate) For(mem int64) int64 {
	e.setMemory(mem)
	return e.Recommended
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

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
	in.UploadPart = uploadPart(plan)
	var reserved int64
	if st, err := kexec.ReadStateAt(s.SysRoot); err == nil {
		reserved = st.CrashSize
	}
	if total, err := s.memTotal(); err == nil {
		// The crashed machine's memory is what the kernel manages and the
		// reservation.
		in.Memory = total + reserved
	}
	e := ComputeEstimate(in)
	e.KernelFrom = from
	e.Reserved = reserved
	return &e, nil
}

// uploadPart is the first part size of plan's s3_capture upload, 0 without one.
func uploadPart(plan *Plan) int64 {
	if r := plan.Info.Remote; r != nil && r.S3 != nil {
		return fleet.StreamPartSize
	}
	return 0
}

// memTotal is MemTotal of /proc/meminfo in bytes.
func (s *System) memTotal() (int64, error) {
	p := filepath.Join(s.ProcRoot, "meminfo")
	data, err := smallfile.Read(p, maxSmallFile)
	if err != nil {
		return 0, err
	}
	return meminfo.Field(data, p, "MemTotal")
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
