package kdump

// The on-disk structures of makedumpfile's kdump-compressed format (the
// "diskdump" header, version 6), written down once as Go types so that the
// reader (package vmcore) and the writer (package dumpfile) share them and a
// reader of the code can check the offsets against makedumpfile's
// diskdump_mod.h and IMPLEMENTATION. Everything is in the crashed machine's
// byte order, little-endian on x86_64.

// Signatures of the main header.
const (
	Signature         = "KDUMP   " // makedumpfile's kdump-compressed format
	DiskdumpSignature = "DISKDUMP" // the older diskdump kernel patch's format
)

// Version is the header_version makedumpfile (and gokdump) writes.
const Version = 6

// Bits of Header.Status. The compression bits double as page
// descriptor flags (they equal compress.Codec values).
const (
	CompressedZlib   = 0x1
	CompressedLZO    = 0x2
	CompressedSnappy = 0x4
	Incomplete       = 0x8  // DUMP_DH_COMPRESSED_INCOMPLETE: the dump was cut short
	ExcludedVmemmap  = 0x10 // unused vmemmap pages were excluded (makedumpfile -e)
	CompressedZstd   = 0x20
)

// Sizes of the structures.
const (
	HeaderSize    = 464 // sizeof(struct disk_dump_header) on LP64
	SubHeaderSize = 104 // sizeof(struct kdump_sub_header) on LP64
	PageDescSize  = 24  // sizeof(page_desc_t)
)

// Header is struct disk_dump_header, in block 0 of the file.
type Header struct {
	Signature      [8]byte     // Signature
	HeaderVersion  int32       // 6 today; fields of SubHeader depend on it
	UTSName        [6][65]byte // struct new_utsname: sysname .. domainname, NUL padded
	_              [6]byte     // padding to align the timeval
	TimestampSec   int64       // struct timeval: makedumpfile sets CRASHTIME here
	TimestampUsec  int64       //
	Status         uint32      // flag bits above
	BlockSize      int32       // the page size; every offset is in these blocks
	SubHdrSize     int32       // blocks of sub header plus the copied notes
	BitmapBlocks   uint32      // blocks of both bitmaps together
	MaxMapnr       uint32      // min(max_mapnr, 2^32-1); the full value is in the sub header
	TotalRAMBlocks uint32      // makedumpfile writes 0
	DeviceBlocks   uint32      // makedumpfile writes 0
	WrittenBlocks  uint32      // makedumpfile writes 0
	CurrentCPU     uint32      // makedumpfile writes 0
	NrCPUs         int32       // number of NT_PRSTATUS notes
}

// SubHeader is struct kdump_sub_header, at offset BlockSize. Fields
// newer than the file's HeaderVersion are not meaningful (the comment says
// since which version each exists).
type SubHeader struct {
	PhysBase         uint64 // x86_64 phys_base of the crashed kernel
	DumpLevel        int32  // since 1: makedumpfile's -d
	Split            int32  // since 2: 1 in each part of a --split dump
	StartPFN         uint64 // since 2: 32-bit era copy of StartPFN64
	EndPFN           uint64 // since 2: 32-bit era copy of EndPFN64
	OffsetVMCOREINFO uint64 // since 3: file offset of the VMCOREINFO text (inside the notes)
	SizeVMCOREINFO   uint64 // since 3
	OffsetNote       uint64 // since 4: file offset of the copied PT_NOTE data
	SizeNote         uint64 // since 4
	OffsetEraseinfo  uint64 // since 5: makedumpfile --config erase commands, as text
	SizeEraseinfo    uint64 // since 5
	StartPFN64       uint64 // since 6: first pfn of this part of a split dump
	EndPFN64         uint64 // since 6: end (exclusive) of this part
	MaxMapnr64       uint64 // since 6: number of pfns the bitmaps describe
}

// PageDesc is page_desc_t: where one dumped page's data is. The descriptors
// follow the bitmaps, one per set bit of the 2nd bitmap, in pfn order.
type PageDesc struct {
	Offset    int64  // file offset of the data; 0 in an incomplete dump: never written
	Size      uint32 // bytes stored; the block size when stored raw
	Flags     uint32 // the compression bit, 0 for a raw page
	PageFlags uint64 // makedumpfile writes 0
}
