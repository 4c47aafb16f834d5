package fleet

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// TestRetry: an unreachable store is tried again, with doubling waits, up to the
// bound; a refusal is not; a context that ends stops the waiting.
func TestRetry(t *testing.T) {
	refused := errors.New("access denied")
	var waits []time.Duration
	b := Backoff{Attempts: 3, First: time.Millisecond, Retrying: func(err error, w time.Duration) { waits = append(waits, w) }}
	calls := 0
	err := Retry(context.Background(), b, func() error { calls++; return syscall.ECONNREFUSED })
	if !errors.Is(err, syscall.ECONNREFUSED) || calls != 3 || len(waits) != 2 || waits[1] != 2*waits[0] {
		t.Errorf("unreachable: %v after %d calls, waits %v; want 3 calls, 2 doubling waits", err, calls, waits)
	}
	calls = 0
	if err := Retry(context.Background(), b, func() error { calls++; return refused }); err != refused || calls != 1 {
		t.Errorf("refused: %v after %d calls, want one call", err, calls)
	}
	calls = 0
	if err := Retry(context.Background(), b, func() error {
		calls++
		if calls < 2 {
			return syscall.ECONNRESET
		}
		return nil
	}); err != nil || calls != 2 {
		t.Errorf("back on the second try: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	start := time.Now()
	err = Retry(ctx, Backoff{Attempts: 5, First: time.Hour, Retrying: func(error, time.Duration) { cancel() }}, func() error {
		calls++
		return syscall.ECONNREFUSED
	})
	if !errors.Is(err, syscall.ECONNREFUSED) || calls != 1 || time.Since(start) > time.Minute {
		t.Errorf("cancelled while waiting: %v after %d calls", err, calls)
	}
}
