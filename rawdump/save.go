package rawdump

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gokdump/gokdump/dumpdir"
	"github.com/gokdump/gokdump/dumpfile"
	"github.com/gokdump/gokdump/format/flat"
	"github.com/gokdump/gokdump/format/raw"
	"github.com/gokdump/gokdump/printk"
	"github.com/gokdump/gokdump/vmcore"
)

// SaveOptions says where a raw dump is and where it goes.
type SaveOptions struct {
	Device string // the raw partition (or a file standing in for it)
	Target string // how to name it in the status file: "raw /dev/vdb1"
	Dir    string // kdump.conf's path: the dump directory is made in it
	Now    func() time.Time
}

// SaveResult is what Save found and did.
type SaveResult struct {
	// Header is the header as found (nil when there is none); Header.State says
	// whether there was a fresh dump.
	Header *raw.Header
	// HeaderErr is a damaged header's problem: the stream was converted anyway, as
	// an incomplete dump.
	HeaderErr error
	// Status is the new dump directory's status (nil when nothing was converted).
	Status *dumpdir.Status
}

// Pending reads the header of the raw partition at path and says whether it holds
// a dump not converted yet (nil header: none was ever written there).
func Pending(path string) (*raw.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	return readHeader(f, size)
}

func readHeader(r io.ReaderAt, size int64) (*raw.Header, error) {
	b := make([]byte, raw.HeaderSize)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("rawdump: reading the header: %w", err)
	}
	h, err := raw.DecodeHeader(b, size)
	if errors.Is(err, raw.ErrNoHeader) {
		return nil, nil
	}
	return h, err
}

// Save converts the raw partition's fresh dump, if there is one, into a new dump
// directory under opts.Dir, and marks the header saved. A header already saved, or
// no header at all, is a no-op (Status nil). A damaged header or a stream whose
// checksum does not verify is kept as an incomplete dump (Status.Error says why),
// as a stream that was cut short is. An error means nothing was marked: the dump
// is still pending (a full or failing destination).
func Save(opts SaveOptions) (*SaveResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dev, size, err := OpenDevice(opts.Device, 0)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	return save(dev, size, opts)
}

// save is Save on an open device of size bytes.
func save(dev Device, size int64, opts SaveOptions) (*SaveResult, error) {
	res := &SaveResult{}
	h, herr := readHeader(dev, size)
	var fe *raw.FormatError
	switch {
	case herr == nil && h == nil:
		return res, nil // no raw dump was ever written here
	case errors.As(herr, &fe):
		// The magic is there, the rest cannot be trusted: convert what the stream
		// holds, bounded by the device, as incomplete.
		res.HeaderErr = herr
		h = &raw.Header{State: raw.Incomplete, DeviceSize: size}
	case herr != nil:
		return nil, herr
	}
	res.Header = h
	if !h.State.Fresh() {
		return res, nil
	}
	st, err := convert(dev, size, h, res.HeaderErr, opts)
	res.Status = st
	if err != nil {
		return res, err
	}
	// Marked saved only now: a conversion that failed on our side is tried again.
	saved := *h
	saved.State, saved.SavedTime = raw.Saved, opts.Now()
	if saved.DeviceSize == 0 || saved.DeviceSize > size {
		saved.DeviceSize = size
	}
	if _, err := dev.WriteAt(saved.Encode(), 0); err != nil {
		return res, fmt.Errorf("rawdump: marking the raw dump saved: %w", err)
	}
	if err := dev.Sync(); err != nil {
		return res, fmt.Errorf("rawdump: syncing the header: %w", err)
	}
	return res, nil
}

// convert writes the dump directory. Its error is one of the destination (the dump
// stays pending); problems of the raw dump itself are in the status.
func convert(dev Device, size int64, h *raw.Header, herr error, opts SaveOptions) (*dumpdir.Status, error) {
	start := h.WriteTime
	if start.IsZero() {
		start = opts.Now().UTC()
	}
	st := &dumpdir.Status{
		Version: dumpdir.StatusVersion, Start: start, Host: "127.0.0.1",
		KernelRelease: h.Release, CrashTime: h.CrashTime, Target: opts.Target,
	}
	if host := dumpdir.SafeHost(h.Host); host != "" {
		st.Host = host
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	dir, err := dumpdir.Create(opts.Dir, st.Host, start)
	if err != nil {
		return nil, err
	}
	st.Dir = dir
	st.Result, st.Error = dumpdir.Incomplete, "conversion of the raw dump in progress"
	if err := dumpdir.WriteStatus(dir, st, true); err != nil {
		return st, err
	}

	var problems []error
	if herr != nil {
		problems = append(problems, herr)
	}
	switch h.State {
	case raw.Writing:
		problems = append(problems, fmt.Errorf("the capture kernel did not finish writing the raw dump: kept the %d bytes of stream it last recorded", h.StreamLen))
	case raw.Incomplete:
		problems = append(problems, errors.New("the dump did not fit the raw partition (or could not be finished) and is incomplete"))
	}
	// The stream's length is known when the header is whole (for a capture that
	// stopped, as of its last checkpoint: what follows may be an older dump's).
	// Without it the stream ends where its records say, inside the device.
	known := herr == nil
	length := size - raw.StreamOffset
	if known {
		length = h.StreamLen
	} else {
		st.Warnings = append(st.Warnings, "the stream's length is unknown: records after this dump's end, from an older dump on the partition, may have been taken in")
	}
	tmp := filepath.Join(dir, dumpdir.DumpIncompleteFile)
	out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return st, err
	}
	st.Dump = dumpdir.DumpIncompleteFile
	hash := raw.NewStreamHash()
	stream := io.TeeReader(io.NewSectionReader(dev, raw.StreamOffset, length), hash)
	dst := &recordingWriterAt{w: out}
	rerr := dumpfile.Rearrange(dst, stream)
	if dst.err != nil {
		out.Close()
		return st, fmt.Errorf("rawdump: writing %s: %w", tmp, dst.err)
	}
	if rerr != nil {
		if errors.Is(rerr, flat.ErrTruncated) {
			problems = append(problems, fmt.Errorf("the stream ends before its end record: %v", rerr))
		} else {
			problems = append(problems, fmt.Errorf("rebuilding the dump from the raw partition's stream: %v", rerr))
		}
	}
	if known {
		// Whatever Rearrange did not read still counts for the checksum.
		if _, err := io.Copy(io.Discard, stream); err != nil {
			problems = append(problems, fmt.Errorf("reading the raw partition: %v", err))
		} else if got := hash.Sum32(); got != h.StreamCRC {
			problems = append(problems, fmt.Errorf("the stream's CRC-32C is 0x%08x, the header says 0x%08x: the raw partition's data is damaged", got, h.StreamCRC))
		}
	}
	err = out.Sync()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("rawdump: syncing %s: %w", tmp, err)
	}
	if fi, err := os.Stat(tmp); err == nil {
		st.DumpBytes = fi.Size()
	}
	if st.DumpBytes == 0 {
		os.Remove(tmp)
		st.Dump = ""
	}
	if len(problems) == 0 {
		if err := os.Rename(tmp, filepath.Join(dir, dumpdir.DumpFile)); err != nil {
			return st, err
		}
		st.Dump = dumpdir.DumpFile
	}
	if err := dumpdir.SyncDir(dir); err != nil {
		return st, err
	}
	if st.Dump != "" {
		if err := saveDmesg(filepath.Join(dir, st.Dump), dir, st); err != nil {
			st.Warnings = append(st.Warnings, "kernel log: "+err.Error())
		}
	}
	switch {
	case len(problems) == 0:
		st.Result, st.Error = dumpdir.Complete, ""
	case st.Dump == "":
		st.Result, st.Error = dumpdir.Failed, errors.Join(problems...).Error()
	default:
		st.Result, st.Error = dumpdir.Incomplete, errors.Join(problems...).Error()
	}
	st.End = opts.Now().UTC()
	if err := dumpdir.WriteStatus(dir, st, false); err != nil {
		return st, err
	}
	return st, nil
}

// recordingWriterAt keeps the first error of the destination, to tell it from the
// stream's problems.
type recordingWriterAt struct {
	w   io.WriterAt
	err error
}

func (r *recordingWriterAt) WriteAt(p []byte, off int64) (int, error) {
	n, err := r.w.WriteAt(p, off)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// saveDmesg writes the kernel log of the rebuilt dump as the capture does:
// vmcore-dmesg-incomplete.txt, synced, renamed vmcore-dmesg.txt.
func saveDmesg(dump, dir string, st *dumpdir.Status) error {
	src, err := vmcore.Open(dump)
	if err != nil {
		return err
	}
	defer src.Close()
	if st.KernelRelease == "" {
		if info, err := src.VMCOREINFO(); err == nil {
			st.KernelRelease, _ = info.OSRelease()
		}
	}
	log, err := printk.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, dumpdir.DmesgIncompleteFile)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	err = log.WriteText(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dumpdir.DmesgFile)); err != nil {
		return err
	}
	st.Dmesg = dumpdir.DmesgFile
	return dumpdir.SyncDir(dir)
}
