package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/dumpdir"
)

const oomMessage = "out of memory in the capture kernel: reservation 192 MiB, raise crashkernel= (\"gokdump estimate\" recommends a size)"

// TestFlowOutOfMemory: a capture kernel whose free memory is below the floor stops the
// collection and says so on the console and in the status file, with the reservation;
// failure_action follows.
func TestFlowOutOfMemory(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /var/crash\nfailure_action poweroff\n")
	tf.Memory = MemoryWatch{
		Available:   func() (int64, error) { return 1 << 20, nil },
		Reservation: func() (int64, error) { return 192<<20 - 4096, nil },
	}
	st := tf.run(t)
	if st.Result != dumpdir.Failed || !strings.HasPrefix(st.Error, oomMessage+": MemAvailable 1 MiB, below the 4 MiB") {
		t.Fatalf("result %s, error %q", st.Result, st.Error)
	}
	if !strings.Contains(tf.console.String(), "gokdump: "+oomMessage) {
		t.Errorf("console does not say so:\n%s", tf.console)
	}
	data, err := os.ReadFile(filepath.Join(st.Dir, dumpdir.StatusFile))
	if err != nil || !strings.Contains(string(data), "out of memory in the capture kernel: reservation 192 MiB") {
		t.Errorf("status file: %v\n%s", err, data)
	}
	if len(tf.machine.actions) != 1 || tf.machine.actions[0] != "poweroff" {
		t.Errorf("actions %v, want failure_action poweroff", tf.machine.actions)
	}
}

// TestFlowEnoughMemory: the watch does not stop a capture with memory to spare.
func TestFlowEnoughMemory(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /var/crash\n")
	tf.Memory = MemoryWatch{Available: func() (int64, error) { return 100 << 20, nil }}
	if st := tf.run(t); st.Result != dumpdir.Complete {
		t.Fatalf("result %s %q", st.Result, st.Error)
	}
}

// TestFlowMemoryDip: one low reading (the heap peaking, the kernel reclaiming) does not
// stop a capture; only readings low in a row do.
func TestFlowMemoryDip(t *testing.T) {
	t.Parallel()
	tf := newTestFlow(t, "path /var/crash\n")
	var mu sync.Mutex
	n := 0
	tf.Memory = MemoryWatch{Available: func() (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 1 {
			return 1 << 20, nil
		}
		return 100 << 20, nil
	}}
	if st := tf.run(t); st.Result != dumpdir.Complete {
		t.Fatalf("one low reading stopped the capture: result %s %q", st.Result, st.Error)
	}
}

func TestMemoryExplain(t *testing.T) {
	w := &MemoryWatch{Reservation: func() (int64, error) { return 192 << 20, nil }}
	ctx := context.Background()
	if err := w.explain(ctx, nil); err != nil {
		t.Errorf("nil: %v", err)
	}
	other := errors.New("disk gone")
	if err := w.explain(ctx, other); err != other {
		t.Errorf("other error changed: %v", err)
	}
	enomem := fmt.Errorf("reading: %w", syscall.ENOMEM)
	err := w.explain(ctx, enomem)
	var oom *OutOfMemoryError
	if !errors.As(err, &oom) || !strings.HasPrefix(err.Error(), oomMessage) || !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("ENOMEM: %v", err)
	}
	// The watch's cause keeps the collector's error (ErrIncomplete keeps the dump).
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(&OutOfMemoryError{ReservationMiB: 192, Detail: "low"})
	if err := w.explain(cctx, context.Cause(cctx)); err.Error() != context.Cause(cctx).Error() {
		t.Errorf("the cause itself returned: %v", err)
	}
	err = w.explain(cctx, fmt.Errorf("%w: cancelled", collector.ErrIncomplete))
	if !errors.Is(err, collector.ErrIncomplete) || !strings.Contains(err.Error(), "reservation 192 MiB, raise crashkernel=") {
		t.Errorf("watch: %v", err)
	}
}

func TestMemoryFloorEnv(t *testing.T) {
	t.Setenv(MemoryFloorEnv, "150")
	if f := (&MemoryWatch{}).floor(); f != 150<<20 {
		t.Errorf("floor %d", f)
	}
	t.Setenv(MemoryFloorEnv, "junk")
	if f := (&MemoryWatch{}).floor(); f != DefaultMemoryFloor {
		t.Errorf("floor %d with a bad value", f)
	}
}

func TestProcParsers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) *os.File {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if n, err := memAvailable(write("m", "MemTotal:  200 kB\nMemAvailable:    1024 kB\n")); err != nil || n != 1<<20 {
		t.Errorf("memAvailable = %d, %v", n, err)
	}
	if _, err := memAvailable(write("m2", "MemTotal: 1 kB\n")); err == nil {
		t.Error("no MemAvailable: no error")
	}
	iomem := "00001000-0009efff : System RAM\n  00100000-001fffff : Kernel code\n2d000000-38f6ffff : System RAM\nfee00000-fee00fff : Local APIC\n"
	if n, err := systemRAM(write("i", iomem)); err != nil || n != 0xbf70000 {
		t.Errorf("systemRAM = %#x, %v", n, err)
	}
	if _, err := systemRAM(write("i2", "00000000-00000000 : reserved\n")); err == nil {
		t.Error("no System RAM: no error")
	}
}
