package flat

// makedumpfile's flattened format, written down once for the reader (Reader,
// and through it package vmcore and dumpfile.Rearrange) and the writer
// (Writer): a start block, then records each made of a RecordHeader and Size
// bytes that belong at Offset of the file it flattens, then an end record.
// Its integers are big-endian, whatever the crashed machine's byte order.
const (
	Signature       = "makedumpfile" // NUL padded to 16 bytes at offset 0
	StartBlockSize  = 4096           // MAX_SIZE_MDF_HEADER: the zero-padded start block
	Type            = 1              // TYPE_FLAT_HEADER, big-endian int64 at offset 16
	Version         = 1              // VERSION_FLAT_HEADER, big-endian int64 at offset 24
	RecordHeaderLen = 16             // big-endian int64 offset, int64 size
	EndMarker       = -1             // offset and size of the end record
)

// RecordHeader is struct makedumpfile_data_header, big-endian.
type RecordHeader struct {
	Offset int64
	Size   int64
}
