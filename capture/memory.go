package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/gokdump/gokdump/internal/meminfo"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A capture kernel that runs short of memory must say so, not die silently. gokdump
// is the capture kernel's PID 1 and collects in its own process: when memory runs out,
// the kernel's OOM killer may not kill init and the Go runtime aborts ("fatal error:
// out of memory"), which panics the kernel with no status file. So the collection is
// watched: while MemAvailable (/proc/meminfo) stays above a floor the collector runs;
// when it falls below, the collection is stopped (the dump written so far is kept,
// marked incomplete) and the status file and the console say
//
//	out of memory in the capture kernel: reservation N MiB, raise crashkernel= ("gokdump estimate" recommends a size)
//
// The same message replaces a collector error that is ENOMEM.

// DefaultMemoryFloor is the MemAvailable below which the collection stops: what the
// flow still needs after the collector (status file, dmesg, sync, the final action).
const DefaultMemoryFloor = 4 << 20

// MemoryFloorEnv names an environment variable (MiB) that raises the floor. It is for
// tests: a capture kernel given GOKDUMP_CAPTURE_MEMORY_FLOOR_MIB=N on its command line
// (kdump_commandline_append; the kernel hands unknown name=value parameters to init as
// its environment) behaves as one with N MiB less memory.
const MemoryFloorEnv = "GOKDUMP_CAPTURE_MEMORY_FLOOR_MIB"

// memoryEvery is how often MemAvailable is read during the collection.
const memoryEvery = 100 * time.Millisecond

// lowReadings is how many readings in a row below the floor, lowRetry apart, stop
// the collection.
const (
	lowReadings = 3
	lowRetry    = 20 * time.Millisecond
)

// MemoryWatch watches the capture kernel's free memory during the collection. The
// zero value watches the real /proc with DefaultMemoryFloor (raised by
// MemoryFloorEnv).
type MemoryWatch struct {
	// Floor is the MemAvailable (bytes) below which the collection stops; 0:
	// DefaultMemoryFloor or MemoryFloorEnv's.
	Floor int64
	// Available reads MemAvailable in bytes (default: /proc/meminfo); Reservation
	// the memory the capture kernel was given, in bytes (default: the System RAM of
	// /proc/iomem, which in a capture kernel is the crashkernel= reservation).
	Available   func() (int64, error)
	Reservation func() (int64, error)
	// Off turns the watch off.
	Off bool
}

// OutOfMemoryError is why a collection stopped for memory.
type OutOfMemoryError struct {
	ReservationMiB int64  // 0 when unknown
	Detail         string // what was seen: "MemAvailable 3 MiB, below the floor of 4 MiB"
	Err            error  // the collector's error, if any
}

func (e *OutOfMemoryError) Error() string {
	res := "reservation unknown"
	if e.ReservationMiB > 0 {
		res = fmt.Sprintf("reservation %d MiB", e.ReservationMiB)
	}
	msg := fmt.Sprintf("out of memory in the capture kernel: %s, raise crashkernel= (\"gokdump estimate\" recommends a size)", res)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

// Unwrap lets errors.Is find the collector's error (collector.ErrIncomplete keeps the
// dump written so far).
func (e *OutOfMemoryError) Unwrap() error { return e.Err }

func (w *MemoryWatch) floor() int64 {
	if w.Floor > 0 {
		return w.Floor
	}
	if v := os.Getenv(MemoryFloorEnv); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < 1<<20 {
			return n << 20
		}
	}
	return DefaultMemoryFloor
}

// watch returns a context that is cancelled with an *OutOfMemoryError when
// MemAvailable falls below the floor, and the function that stops watching.
func (w *MemoryWatch) watch(ctx context.Context, logf func(string, ...any)) (context.Context, func()) {
	if w.Off {
		return ctx, func() {}
	}
	avail := w.Available
	if avail == nil {
		avail = procMemAvailable
	}
	floor := w.floor()
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	// One low reading is not enough: MemAvailable dips while the Go heap peaks and
	// the kernel reclaims. A low reading returns the heap's free pages to the kernel
	// and reads again, lowReadings times lowRetry apart; only readings low every time
	// stop the collection.
	low := func() bool {
		var a int64
		for i := 0; i < lowReadings; i++ {
			if i > 0 {
				debug.FreeOSMemory()
				time.Sleep(lowRetry)
			}
			var err error
			if a, err = avail(); err != nil || a >= floor {
				return false
			}
		}
		oom := &OutOfMemoryError{ReservationMiB: w.reservationMiB(),
			Detail: fmt.Sprintf("MemAvailable %d MiB, below the %d MiB the capture keeps free; the collection was stopped", a>>20, floor>>20)}
		logf("%v", oom)
		cancel(oom)
		return true
	}
	// The first check before the collection starts: a capture already short of memory
	// does not begin.
	if low() {
		return ctx, func() { cancel(nil) } // cancelled with the cause already
	}
	go func() {
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if low() {
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// explain turns the collector's error into an *OutOfMemoryError when the watch
// stopped it or it is ENOMEM; other errors are returned as they are.
func (w *MemoryWatch) explain(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var oom *OutOfMemoryError
	if errors.As(err, &oom) {
		return err // the collector returned the watch's cause itself
	}
	if errors.As(context.Cause(ctx), &oom) {
		e := *oom
		e.Err = err
		return &e
	}
	if errors.Is(err, syscall.ENOMEM) {
		return &OutOfMemoryError{ReservationMiB: w.reservationMiB(), Err: err}
	}
	return err
}

func (w *MemoryWatch) reservationMiB() int64 {
	r := w.Reservation
	if r == nil {
		r = procReservation
	}
	n, err := r()
	if err != nil {
		return 0
	}
	return (n + 1<<20 - 1) >> 20
}

// procMemAvailable is /proc/meminfo's MemAvailable in bytes.
func procMemAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return memAvailable(f)
}

func memAvailable(f *os.File) (int64, error) {
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return 0, err
	}
	return meminfo.Field(data, f.Name(), "MemAvailable")
}

// procReservation sums the top-level System RAM ranges of /proc/iomem above the first
// MiB: in a capture kernel, the crashkernel= reservation it was given.
func procReservation() (int64, error) {
	f, err := os.Open("/proc/iomem")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return systemRAM(f)
}

func systemRAM(f *os.File) (int64, error) {
	var total int64
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && n < 100000; n++ {
		l := sc.Text()
		if strings.HasPrefix(l, " ") || !strings.HasSuffix(l, " : System RAM") {
			continue
		}
		lo, hi, ok := strings.Cut(strings.TrimSuffix(l, " : System RAM"), "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 16, 64)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 16, 64)
		if !ok || err1 != nil || err2 != nil || b < a || a < 1<<20 {
			// The first MiB is every x86 kernel's, not the reservation's.
			continue
		}
		total += int64(b - a + 1)
	}
	if total == 0 {
		return 0, errors.New("/proc/iomem: no System RAM (not root?)")
	}
	return total, nil
}
