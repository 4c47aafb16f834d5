package collector

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/gokdump/gokdump/format/flat"
)

// output is the destination, counting what is written.
type output struct {
	w  io.Writer   // for streams (ELF, flattened)
	wa io.WriterAt // for a kdump-compressed file, and to mark an ELF file incomplete

	limit int64 // Options.SizeLimit; 0: none

	mu  sync.Mutex
	n   int64 // bytes written through w
	end int64 // highest end offset written through wa

	// fd is the output file's descriptor when it has one (-1 otherwise), and
	// flushed how far writeback was started; see startWriteback.
	fd      int
	flushed int64
}

// writebackChunk is how much is written between two starts of writeback.
const writebackChunk = 8 << 20

// ErrSizeLimit is wrapped by the error of a write beyond Options.SizeLimit.
var ErrSizeLimit = errors.New("size limit reached")

// NoSpace reports whether err means the dump did not fit: a full disk or quota, a file
// too large, or Options.SizeLimit. makedumpfile retries at its next dump level then.
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EFBIG) || errors.Is(err, ErrSizeLimit)
}

// fder is a destination backed by a file descriptor, such as an *os.File.
type fder interface{ Fd() uintptr }

func newOutput(dst io.Writer, opts Options) (*output, error) {
	if opts.DryRun {
		return &output{w: io.Discard, wa: discardAt{}, fd: -1}, nil
	}
	if dst == nil {
		return nil, errors.New("collector: no output")
	}
	o := &output{w: dst, fd: -1, limit: opts.SizeLimit}
	if f, ok := dst.(fder); ok {
		o.fd = int(f.Fd())
	}
	if wa, ok := dst.(io.WriterAt); ok && !opts.Flattened {
		o.wa = wa
	}
	if opts.Format == KdumpCompressed && !opts.Flattened && o.wa == nil {
		return nil, errors.New("collector: a kdump-compressed dump needs an output it can seek in (a file); use the flattened format for a stream")
	}
	return o, nil
}

func (o *output) Write(p []byte) (int, error) {
	off := o.n // only Write changes o.n, and one goroutine at a time writes the stream
	p, over := o.clip(p, off)
	n, err := o.w.Write(p)
	if err == nil && over {
		err = o.limitError(off + int64(n))
	}
	o.mu.Lock()
	o.n += int64(n)
	o.writeback(o.n)
	o.mu.Unlock()
	return n, err
}

func (o *output) WriteAt(p []byte, off int64) (int, error) {
	p, over := o.clip(p, off)
	n, err := o.wa.WriteAt(p, off)
	if err == nil && over {
		err = o.limitError(off + int64(n))
	}
	o.mu.Lock()
	o.end = max(o.end, off+int64(n))
	o.writeback(o.end)
	o.mu.Unlock()
	return n, err
}

// clip cuts p, to be written at off, to what fits below the size limit, and says
// whether it had to.
func (o *output) clip(p []byte, off int64) ([]byte, bool) {
	if o.limit <= 0 || off+int64(len(p)) <= o.limit {
		return p, false
	}
	return p[:max(0, o.limit-off)], true
}

func (o *output) limitError(off int64) error {
	return fmt.Errorf("writing at offset %d: %w (%d bytes, -L)", off, ErrSizeLimit, o.limit)
}

// writeback starts the kernel writing the dump's dirty pages below end to disk once
// another writebackChunk has been written, without waiting for it: the capture
// kernel's little memory does not fill up with dirty pages, and the fsync that ends a
// dump has little left to wait for (it was a seventh of the time of a -d 1 dump).
// Called with o.mu held.
func (o *output) writeback(end int64) {
	if o.fd < 0 || end-o.flushed < writebackChunk {
		return
	}
	startWriteback(o.fd, o.flushed, end-o.flushed)
	o.flushed = end
}

// size is the bytes of the dump: the file's size for a file, the bytes sent for a stream.
func (o *output) size() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return max(o.n, o.end)
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// flatStream turns the sequential writes of an ELF core (and the one WriteAt that marks
// it incomplete) into makedumpfile's flattened format, so that `makedumpfile -R` and
// gokdump rebuild the file from a pipe, as with makedumpfile -E -F.
type flatStream struct {
	fw  *flat.Writer
	pos int64
}

func newFlatStream(w io.Writer) *flatStream { return &flatStream{fw: flat.NewWriter(w)} }

func (f *flatStream) Write(p []byte) (int, error) {
	n, err := f.fw.WriteAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *flatStream) WriteAt(p []byte, off int64) (int, error) { return f.fw.WriteAt(p, off) }

// end writes the end record.
func (f *flatStream) end() error { return f.fw.Close() }
