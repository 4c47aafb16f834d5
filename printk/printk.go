package printk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gokdump/gokdump/kernel"
	"github.com/gokdump/gokdump/vmcore"
)

// Memory is the crashed kernel's virtual memory. *kernel.Kernel implements it.
// ReadVirt reads len(p) bytes at vaddr; when it stops early it returns the number of
// bytes read and an error.
type Memory interface {
	ReadVirt(p []byte, vaddr uint64) (int, error)
}

// Info is the part of the VMCOREINFO note the log walk needs; *vmcore.VMCOREINFO
// implements it. Each method returns false when the key is absent.
type Info interface {
	Symbol(name string) (uint64, bool) // SYMBOL(name): a kernel virtual address
	Size(name string) (uint64, bool)   // SIZE(type)
	Offset(name string) (uint64, bool) // OFFSET(type.member)
	Length(name string) (uint64, bool) // LENGTH(name)
}

// Layout is how the crashed kernel stored its log.
type Layout int

const (
	// Lockless is the lockless ring buffer of kernels 5.10 and later.
	Lockless Layout = iota + 1
	// Structured is the variable-length records of kernels 3.5 to 5.9.
	Structured
	// Plain is the character ring of kernels before 3.5.
	Plain
)

func (l Layout) String() string {
	switch l {
	case Lockless:
		return "lockless ring buffer (5.10+)"
	case Structured:
		return "variable-length records (3.5-5.9)"
	case Plain:
		return "character ring (before 3.5)"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Record is one message of the kernel log.
type Record struct {
	// Seq is the kernel's sequence number of the record (lockless ring). The older
	// layouts do not store it: there Seq counts records from 0 at the oldest one the
	// buffer still holds.
	Seq uint64
	// TimestampNs is the local_clock() time of the message in nanoseconds since boot.
	// A plain character ring has no timestamps of its own: it is taken from a leading
	// "[%5lu.%06lu] " of the text when CONFIG_PRINTK_TIME put one there, else 0.
	TimestampNs uint64
	// CallerID is the kernel's caller_id (CONFIG_PRINTK_CALLER, always in 5.10+):
	// a task's PID, or 0x80000000 plus a CPU number for messages from interrupt context.
	// See Caller. HasCaller is false when the layout does not record it.
	CallerID  uint32
	HasCaller bool
	// Level (0 emergency .. 7 debug) and Facility (0 kernel) are -1 when the layout does
	// not record them.
	Level, Facility int
	// Subsystem and Device are the dev_printk dictionary of the message (5.10+), "" when
	// the message has none.
	Subsystem, Device string
	// Text is the message as the kernel stored it: no trailing newline, but it may hold
	// newlines (continuation lines) and any other byte.
	Text string
}

// Caller decodes CallerID: the CPU number when the message came from interrupt context
// (top bit set), else the PID of the task. ok is false when there is no caller id.
func (r *Record) Caller() (id uint32, isCPU, ok bool) {
	if !r.HasCaller {
		return 0, false, false
	}
	const cpuFlag = 0x80000000 // printk_caller_id(): 0x80000000 + smp_processor_id()
	if r.CallerID&cpuFlag != 0 {
		return r.CallerID &^ cpuFlag, true, true
	}
	return r.CallerID, false, true
}

// Log is the kernel log read from a dump.
type Log struct {
	Layout  Layout
	Records []Record
	// Skipped counts descriptors of the lockless ring between its tail and head that
	// held no readable record: reserved by a writer that never finished (typical at a
	// crash), or already given up for reuse; and in a ring that never filled, the
	// reusable descriptor the kernel starts the tail at. vmcore-dmesg skips them too.
	Skipped int

	// raw is the whole text of a plain character ring, which vmcore-dmesg prints as is.
	raw []byte
	// markers are wrap markers of the structured layout that vmcore-dmesg prints as
	// records (see structured.go), with the index in Records they come before.
	markers []marker
}

type marker struct {
	before int
	rec    Record
}

// FormatError reports a kernel log that does not hold together: a pointer, index or
// size in it that the kernel could not have written, or memory the dump lacks.
type FormatError struct {
	Addr uint64 // kernel virtual address of the offending data; 0 when there is none
	Msg  string // what was found where (record id, index, lpos) and what was expected
	Err  error  // the underlying read error, if any
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("printk: ")
	b.WriteString(e.Msg)
	if e.Addr != 0 {
		fmt.Fprintf(&b, " (at 0x%x)", e.Addr)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// ErrNoLog is returned (wrapped) when the VMCOREINFO does not describe a kernel log.
var ErrNoLog = errors.New("printk: VMCOREINFO has no SYMBOL(prb) or SYMBOL(log_buf): no kernel log to read")

// Read reads the kernel log of the crashed kernel whose memory is mem, using the
// VMCOREINFO info. It returns the records read and, when the walk stopped early or
// could not start, an error; the Log is nil only when nothing could be located (keys
// missing, or the ring's header unreadable).
func Read(mem Memory, info Info) (*Log, error) {
	r := &reader{mem: mem}
	if _, ok := info.Symbol("prb"); ok {
		return readLockless(r, info)
	}
	if _, ok := info.Symbol("log_first_idx"); ok {
		return readStructured(r, info)
	}
	if _, ok := info.Symbol("log_buf"); ok {
		return readPlain(r, info)
	}
	return nil, ErrNoLog
}

// ReadFile reads the kernel log of an ELF vmcore. Errors name the file.
func ReadFile(f *vmcore.File) (*Log, error) {
	k, err := kernel.Open(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	l, err := Read(k, k.Info)
	if err != nil {
		err = fmt.Errorf("%s: %w", f.Name, err)
	}
	return l, err
}

// need fetches VMCOREINFO values that must all be present.
type need struct {
	info    Info
	missing []string
}

func (n *need) symbol(name string) uint64 {
	v, ok := n.info.Symbol(name)
	if !ok {
		n.missing = append(n.missing, "SYMBOL("+name+")")
	}
	return v
}

func (n *need) size(names ...string) uint64 {
	for _, name := range names {
		if v, ok := n.info.Size(name); ok {
			return v
		}
	}
	n.missing = append(n.missing, "SIZE("+names[0]+")")
	return 0
}

func (n *need) offset(names ...string) uint64 {
	for _, name := range names {
		if v, ok := n.info.Offset(name); ok {
			return v
		}
	}
	n.missing = append(n.missing, "OFFSET("+names[0]+")")
	return 0
}

func (n *need) err(layout Layout) error {
	if len(n.missing) == 0 {
		return nil
	}
	return fmt.Errorf("printk: VMCOREINFO lacks %s needed to read the %s", strings.Join(n.missing, ", "), layout)
}
