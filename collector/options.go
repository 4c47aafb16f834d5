package collector

import (
	"fmt"
	"io"
	"runtime"

	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/mm"
)

// Format is the kind of dump file to write.
type Format int

const (
	// KdumpCompressed is makedumpfile's default format (header version 6): bitmaps,
	// page descriptors, pages compressed one by one. crash, makedumpfile and
	// libkdumpfile read it.
	KdumpCompressed Format = iota
	// ELF is an ELF64 core like /proc/vmcore itself (makedumpfile -E), which gdb
	// reads too. Pages are not compressed.
	ELF
)

func (f Format) String() string {
	switch f {
	case KdumpCompressed:
		return "kdump-compressed"
	case ELF:
		return "elf"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Options says what to collect and how.
type Options struct {
	// DumpLevel is makedumpfile's -d mask: which kinds of pages to leave out.
	DumpLevel mm.DumpLevel
	// Codec compresses pages of a kdump-compressed dump (ignored for ELF).
	Codec  compress.Codec
	Format Format
	// Flattened writes makedumpfile's flattened stream (makedumpfile -F), which a
	// pipe can carry: dst is then only written sequentially. Without it a
	// kdump-compressed dump needs dst to be an io.WriterAt (a file).
	Flattened bool
	// Threads is the number of goroutines that classify and compress; 0 means
	// runtime.NumCPU().
	Threads int
	// WindowPFNs is the number of page frames classified at a time (rounded up to a
	// multiple of 8); 0 means DefaultWindowPFNs. Each window in flight holds two
	// bitmaps of WindowPFNs/8 bytes.
	WindowPFNs uint64
	// ChunkPages is the number of dumped pages read and compressed as one unit of
	// work; 0 means DefaultChunkPages. Each chunk in flight holds about twice
	// ChunkPages pages of buffers.
	ChunkPages int
	// SizeLimit is makedumpfile's -L: writes that would make the dump larger fail
	// (the part below the limit is written) as on a full disk, with an error that
	// NoSpace recognises, and the dump ends incomplete. 0 means no limit.
	SizeLimit int64
	// Progress, when not nil, gets a progress line rewritten in place ("\r"). Pass it
	// only when it is a terminal.
	Progress io.Writer
	// DryRun does all the work but writes nothing: dst is ignored (may be nil) and
	// Stats.BytesWritten says how big the dump would be.
	DryRun bool
	// Warn, when not nil, is told about things that make the dump less filtered or
	// less complete than asked but do not stop it (e.g. a kernel whose struct pages
	// cannot be classified).
	Warn func(msg string)
}

// Defaults for the zero values of Options.
const (
	// DefaultWindowPFNs is 512 MiB of memory with 4 KiB pages: 16 KiB bitmaps.
	DefaultWindowPFNs = 1 << 17
	// DefaultChunkPages is 256 KiB of pages: large reads, little memory.
	DefaultChunkPages = 64
	// MaxChunkPages bounds ChunkPages.
	MaxChunkPages = 4096
)

func (o *Options) normalize() error {
	if o.DumpLevel > mm.MaxDumpLevel {
		return fmt.Errorf("collector: dump level %d out of range 0..%d", o.DumpLevel, mm.MaxDumpLevel)
	}
	switch o.Format {
	case KdumpCompressed, ELF:
	default:
		return fmt.Errorf("collector: unknown format %v", o.Format)
	}
	switch o.Codec {
	case compress.None, compress.Zlib, compress.LZO, compress.Snappy, compress.Zstd:
	default:
		return fmt.Errorf("collector: unknown codec 0x%x", uint32(o.Codec))
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	o.Threads = min(o.Threads, 256)
	if o.WindowPFNs == 0 {
		o.WindowPFNs = DefaultWindowPFNs
	}
	o.WindowPFNs = min((o.WindowPFNs+7)&^7, 1<<30)
	if o.ChunkPages <= 0 {
		o.ChunkPages = DefaultChunkPages
	}
	o.ChunkPages = min(o.ChunkPages, MaxChunkPages)
	return nil
}
