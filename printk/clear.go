package printk

import (
	"errors"
	"fmt"

	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

// ErrNoClearSeq is returned (wrapped) by ClearSeq when the kernel does not export
// clear_seq: only kernels with the lockless ring (5.10 and later) do.
var ErrNoClearSeq = errors.New("printk: VMCOREINFO has no SYMBOL(clear_seq): the log since the last clear is known only for the lockless ring (5.10+)")

// ClearSeq returns the sequence number of the first record logged after the last
// "dmesg -c" (SYSLOG_ACTION_CLEAR): the kernel's clear_seq, read as makedumpfile's
// --partial-dmesg reads it. Since 5.13 clear_seq is a struct latched_seq (a seqcount
// and two copies of the value; the seqcount's low bit picks the copy to read), before
// a plain u64.
func ClearSeq(mem Memory, info Info) (uint64, error) {
	sym, ok := info.Symbol("clear_seq")
	if !ok {
		return 0, ErrNoClearSeq
	}
	r := &reader{mem: mem}
	v, err := r.u64(sym, "clear_seq")
	if err != nil {
		return 0, err
	}
	if _, latched := info.Size("latched_seq"); latched {
		off, ok := info.Offset("latched_seq.val")
		if !ok {
			return 0, errors.New("printk: VMCOREINFO has SIZE(latched_seq) but not OFFSET(latched_seq.val)")
		}
		if v, err = r.u64(sym+off+(v&1)*8, "clear_seq's latched value"); err != nil {
			return 0, err
		}
	}
	return v, nil
}

// Since returns a copy of l holding the records of sequence number seq and later: the
// log since the last clear when seq is ClearSeq's.
func (l *Log) Since(seq uint64) *Log {
	out := &Log{Layout: l.Layout}
	for _, r := range l.Records {
		if r.Seq >= seq {
			out.Records = append(out.Records, r)
		}
	}
	return out
}

// ReadFileSinceClear is ReadFile for makedumpfile --partial-dmesg: the records logged
// since the last "dmesg -c", as makedumpfile 1.7.2 reads them. For the lockless ring
// (5.10 and later) that is from clear_seq on, or the whole log when the kernel does not
// export clear_seq; for the oldest, plain ring makedumpfile ignores the option and so
// does this. The 3.5-5.9 ring, where makedumpfile starts at clear_idx, is an error
// wrapping ErrNoClearSeq: gokdump does not read clear_idx. A damaged ring gives the
// records read, as ReadFile.
func ReadFileSinceClear(f *vmcore.File) (*Log, error) {
	k, err := kernel.Open(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	seq := uint64(0)
	if _, ok := k.Info.Symbol("prb"); ok {
		if seq, err = ClearSeq(k, k.Info); errors.Is(err, ErrNoClearSeq) {
			seq = 0
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
	} else if _, ok := k.Info.Symbol("log_first_idx"); ok {
		return nil, fmt.Errorf("%s: %w (this kernel's log is the 3.5-5.9 ring; clear_idx is not read)", f.Name, ErrNoClearSeq)
	}
	l, err := Read(k, k.Info)
	if l != nil && seq > 0 {
		l = l.Since(seq)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", f.Name, err)
	}
	return l, err
}
