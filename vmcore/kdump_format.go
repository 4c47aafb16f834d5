package vmcore

// The on-disk structures of makedumpfile's kdump-compressed format (the
// "diskdump" header, version 6) and of its flattened stream format, written
// down once as Go types so that the reader here and the writer in package
// dumpfile share them and a reader of the code can check the offsets against
// makedumpfile's diskdump_mod.h and IMPLEMENTATION. Everything is in the
// crashed machine's byte order, little-endian on x86_64, except the flattened
// format's integers, which are big-endian.

// Signatures of the main header.
const (
	KdumpSignature    = "KDUMP   " // makedumpfile's kdump-compressed format
	DiskdumpSignature = "DISKDUMP" // the older diskdump kernel patch's format
)

// KdumpVersion is the header_version makedumpfile (and gokdump) writes.
const KdumpVersion = 6

// Bits of DiskDumpHeader.Status. The compression bits double as page
// descriptor flags (they equal compress.Codec values).
const (
	KdumpCompressedZlib   = 0x1
	KdumpCompressedLZO    = 0x2
	KdumpCompressedSnappy = 0x4
	KdumpIncomplete       = 0x8  // DUMP_DH_COMPRESSED_INCOMPLETE: the dump was cut short
	KdumpExcludedVmemmap  = 0x10 // unused vmemmap pages were excluded (makedumpfile -e)
	KdumpCompressedZstd   = 0x20
)

// Sizes of the structures.
const (
	DiskDumpHeaderSize = 464 // sizeof(struct disk_dump_header) on LP64
	KdumpSubHeaderSize = 104 // sizeof(struct kdump_sub_header) on LP64
	PageDescSize       = 24  // sizeof(page_desc_t)
)

// DiskDumpHeader is struct disk_dump_header, in block 0 of the file.
type DiskDumpHeader struct {
	Signature      [8]byte     // KdumpSignature
	HeaderVersion  int32       // 6 today; fields of KdumpSubHeader depend on it
	UTSName        [6][65]byte // struct new_utsname: sysname .. domainname, NUL padded
	_              [6]byte     // padding to align the timeval
	TimestampSec   int64       // struct timeval: makedumpfile sets CRASHTIME here
	TimestampUsec  int64       //
	Status         uint32      // Kdump* flag bits
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

// KdumpSubHeader is struct kdump_sub_header, at offset BlockSize. Fields
// newer than the file's HeaderVersion are not meaningful (the comment says
// since which version each exists).
type KdumpSubHeader struct {
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

// The flattened format: a start block, then records each made of a
// FlatRecordHeader and Size bytes that belong at Offset of the
// kdump-compressed (or ELF) file it flattens, then an end record.
const (
	FlatSignature       = "makedumpfile" // NUL padded to 16 bytes at offset 0
	FlatStartBlockSize  = 4096           // MAX_SIZE_MDF_HEADER: the zero-padded start block
	FlatType            = 1              // TYPE_FLAT_HEADER, big-endian int64 at offset 16
	FlatVersion         = 1              // VERSION_FLAT_HEADER, big-endian int64 at offset 24
	FlatRecordHeaderLen = 16             // big-endian int64 offset, int64 size
	FlatEndMarker       = -1             // offset and size of the end record
)

// FlatRecordHeader is struct makedumpfile_data_header, big-endian.
type FlatRecordHeader struct {
	Offset int64
	Size   int64
}
