package kdump

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Bounds of the block size (the crashed kernel's page size) this package
// accepts: makedumpfile's pages are 4 KiB to 64 KiB.
const (
	MinBlockSize = 512
	MaxBlockSize = 1 << 20
)

// CodecFlags are the status and descriptor bits that name a compression.
const CodecFlags = CompressedZlib | CompressedLZO | CompressedSnappy | CompressedZstd

// Offsets of the header fields the checks name.
const (
	offVersion      = 8
	offStatus       = 424
	offBlockSize    = 428
	offSubHdrSize   = 432
	offBitmapBlocks = 436
	offSubEndPFN    = 80 // in the sub header: start_pfn_64
	offSubMaxMapnr  = 96 // in the sub header: max_mapnr_64
)

// FormatError reports a kdump-compressed header that is not well formed. Off
// is the byte offset of the bad field in the bytes given to the decoder
// (the file offset for the main header; the offset inside the sub header
// for DecodeSubHeader).
type FormatError struct {
	Off int64
	Msg string // what was found and what was expected
}

func (e *FormatError) Error() string { return fmt.Sprintf("kdump: offset 0x%x: %s", e.Off, e.Msg) }

func errorf(off int64, format string, args ...any) error {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

// IsSignature reports whether b starts with a kdump-compressed or diskdump
// signature.
func IsSignature(b []byte) bool {
	return bytes.HasPrefix(b, []byte(Signature)) || bytes.HasPrefix(b, []byte(DiskdumpSignature))
}

// DecodeHeader decodes and checks the main header from the first
// HeaderSize bytes of b: makedumpfile's signature (not the old diskdump
// one), a version from 1 to Version, a power-of-two block size from
// MinBlockSize to MaxBlockSize, at least one block of sub header and an even
// number of at least two bitmap blocks.
func DecodeHeader(b []byte) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, errorf(int64(len(b)), "truncated kdump main header: %d of %d bytes", len(b), HeaderSize)
	}
	if string(b[:8]) == DiskdumpSignature {
		return nil, errorf(0, "signature %q: the old diskdump format is not supported, only makedumpfile's kdump-compressed format (%q)", DiskdumpSignature, Signature)
	}
	if string(b[:8]) != Signature {
		return nil, errorf(0, "signature %q, want %q", b[:8], Signature)
	}
	h := &Header{}
	if _, err := binary.Decode(b[:HeaderSize], binary.LittleEndian, h); err != nil {
		return nil, errorf(0, "decoding kdump main header: %v", err)
	}
	if h.HeaderVersion < 1 || h.HeaderVersion > Version {
		return nil, errorf(offVersion, "kdump header version %d, want 1..%d", h.HeaderVersion, Version)
	}
	bs := int64(h.BlockSize)
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return nil, errorf(offBlockSize, "block size %d, want a power of two from %d to %d", bs, MinBlockSize, MaxBlockSize)
	}
	if h.SubHdrSize < 1 {
		return nil, errorf(offSubHdrSize, "sub header size %d blocks, want at least 1", h.SubHdrSize)
	}
	if h.BitmapBlocks < 2 || h.BitmapBlocks%2 != 0 {
		return nil, errorf(offBitmapBlocks, "bitmap blocks %d, want an even number of at least 2 (two bitmaps)", h.BitmapBlocks)
	}
	return h, nil
}

// Bytes encodes h as the HeaderSize bytes of block 0 (padding zero).
func (h *Header) Bytes() []byte {
	b := make([]byte, HeaderSize)
	binary.Encode(b, binary.LittleEndian, h) // cannot fail: a fixed-size struct in a buffer of its size
	return b
}

// Layout says where the parts of a kdump-compressed file are, from its
// main header. Offsets are in the (not flattened) file.
type Layout struct {
	BlockSize   int64
	Bitmap1     int64 // the 1st bitmap: pfns that exist
	Bitmap2     int64 // the 2nd bitmap: pfns that are dumped
	BitmapLen   int64 // bytes of each bitmap
	Descriptors int64 // descriptor 0: one PageDesc per set bit of the 2nd bitmap
}

// Layout computes where the bitmaps and descriptors of a file with main
// header h (as DecodeHeader checked it) are.
func (h *Header) Layout() Layout {
	bs := int64(h.BlockSize)
	// Both sizes are below 2^31 blocks of at most 2^20 bytes: no overflow.
	l := Layout{BlockSize: bs}
	l.Bitmap1 = (1 + int64(h.SubHdrSize)) * bs
	l.BitmapLen = int64(h.BitmapBlocks) / 2 * bs
	l.Bitmap2 = l.Bitmap1 + l.BitmapLen
	l.Descriptors = l.Bitmap2 + l.BitmapLen
	return l
}

// UTSName is the main header's struct new_utsname as strings: what uname(2)
// returned on the crashed machine. Each field holds at most 64 bytes.
type UTSName struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// GetUTSName returns the header's utsname fields without their NUL padding.
func (h *Header) GetUTSName() UTSName {
	var f [6]string
	for i := range h.UTSName {
		field := h.UTSName[i][:]
		if n := bytes.IndexByte(field, 0); n >= 0 {
			field = field[:n]
		}
		f[i] = string(field)
	}
	return UTSName{f[0], f[1], f[2], f[3], f[4], f[5]}
}

// SetUTSName stores u in the header, NUL padded; fields longer than 64
// bytes are an error (the kernel's fields are at most 64 bytes and a NUL).
func (h *Header) SetUTSName(u UTSName) error {
	for i, f := range u.fields() {
		if len(f) > 64 {
			return fmt.Errorf("kdump: utsname field %q longer than 64 bytes", f)
		}
		h.UTSName[i] = [65]byte{}
		copy(h.UTSName[i][:], f)
	}
	return nil
}

func (u UTSName) fields() [6]string {
	return [6]string{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname}
}

// MaxMapnr returns the number of pfns the bitmaps describe: the sub
// header's 64-bit field from version 6 on, the main header's before.
func MaxMapnr(h *Header, s *SubHeader) uint64 {
	if h.HeaderVersion >= 6 {
		return s.MaxMapnr64
	}
	return uint64(h.MaxMapnr)
}

// DecodeSubHeader decodes and checks the sub header from the first
// SubHeaderSize bytes of b, for a file with main header h. Fields newer than
// h.HeaderVersion are cleared, so that callers see zeros. max_mapnr must fit
// the bitmaps and, in pages of the block size, the physical address space; a
// split part's pfn range must lie inside it. Error offsets are from the start
// of the sub header.
func DecodeSubHeader(b []byte, h *Header) (*SubHeader, error) {
	if len(b) < SubHeaderSize {
		return nil, errorf(int64(len(b)), "truncated kdump sub header: %d of %d bytes", len(b), SubHeaderSize)
	}
	s := &SubHeader{}
	if _, err := binary.Decode(b[:SubHeaderSize], binary.LittleEndian, s); err != nil {
		return nil, errorf(0, "decoding kdump sub header: %v", err)
	}
	s.clearNewer(h.HeaderVersion)
	maxMapnr := MaxMapnr(h, s)
	l := h.Layout()
	if maxMapnr > uint64(l.BitmapLen)*8 {
		return nil, errorf(offSubMaxMapnr, "max_mapnr %d does not fit the %d-byte bitmaps", maxMapnr, l.BitmapLen)
	}
	if hi, _ := bits.Mul64(maxMapnr, uint64(l.BlockSize)); hi != 0 {
		return nil, errorf(offSubMaxMapnr, "max_mapnr %d pages of %d bytes overflow the physical address space", maxMapnr, l.BlockSize)
	}
	// A part may be empty (start == end == max_mapnr): makedumpfile gives the parts after
	// the first an empty range when all dumped pages fit in the first splitblock.
	if start, end, ok := s.SplitRange(h.HeaderVersion); ok && (start > end || end > maxMapnr) {
		return nil, errorf(offSubEndPFN, "split part range [%d, %d) not inside [0, max_mapnr %d)", start, end, maxMapnr)
	}
	return s, nil
}

// clearNewer zeroes the fields a header of version v does not have.
func (s *SubHeader) clearNewer(v int32) {
	if v < 2 {
		s.Split, s.StartPFN, s.EndPFN = 0, 0, 0
	}
	if v < 3 {
		s.OffsetVMCOREINFO, s.SizeVMCOREINFO = 0, 0
	}
	if v < 4 {
		s.OffsetNote, s.SizeNote = 0, 0
	}
	if v < 5 {
		s.OffsetEraseinfo, s.SizeEraseinfo = 0, 0
	}
	if v < 6 {
		s.StartPFN64, s.EndPFN64, s.MaxMapnr64 = 0, 0, 0
	}
}

// SplitRange returns the pfn range [start, end) of this part when the file
// (of header version v) is one part of a split dump (makedumpfile --split).
func (s *SubHeader) SplitRange(v int32) (start, end uint64, ok bool) {
	if v < 2 || s.Split == 0 {
		return 0, 0, false
	}
	if v >= 6 {
		return s.StartPFN64, s.EndPFN64, true
	}
	return s.StartPFN, s.EndPFN, true
}

// Bytes encodes s as its SubHeaderSize bytes.
func (s *SubHeader) Bytes() []byte {
	b := make([]byte, SubHeaderSize)
	binary.Encode(b, binary.LittleEndian, s) // cannot fail, as for Header
	return b
}

// Put encodes d into the first PageDescSize bytes of b.
func (d *PageDesc) Put(b []byte) {
	_ = b[PageDescSize-1]
	binary.LittleEndian.PutUint64(b[0:], uint64(d.Offset))
	binary.LittleEndian.PutUint32(b[8:], d.Size)
	binary.LittleEndian.PutUint32(b[12:], d.Flags)
	binary.LittleEndian.PutUint64(b[16:], d.PageFlags)
}

// DecodePageDesc decodes the descriptor in the first PageDescSize bytes of b.
func DecodePageDesc(b []byte) PageDesc {
	_ = b[PageDescSize-1]
	return PageDesc{
		Offset:    int64(binary.LittleEndian.Uint64(b[0:])),
		Size:      binary.LittleEndian.Uint32(b[8:]),
		Flags:     binary.LittleEndian.Uint32(b[12:]),
		PageFlags: binary.LittleEndian.Uint64(b[16:]),
	}
}
