package fleet

import (
	"context"
	"time"
)

// Backoff is how a request to a store is retried while the store cannot be reached
// (Unreachable): Attempts tries in all, waiting First before the second and twice as
// long before each next one.
type Backoff struct {
	Attempts int
	First    time.Duration
	// Retrying, if set, is told of each failed try that will be tried again.
	Retrying func(err error, wait time.Duration)
}

// DefaultBackoff is 4 tries over 7 seconds: what a store restarting or a link coming
// back takes, and short enough for the capture kernel's deadline.
var DefaultBackoff = Backoff{Attempts: 4, First: time.Second}

// Retry calls f until it returns nil or an error other than Unreachable, or Attempts
// tries were made, or ctx ends while it waits; it returns f's last error.
func Retry(ctx context.Context, b Backoff, f func() error) error {
	wait := b.First
	var err error
	for i := 0; ; i++ {
		if err = f(); err == nil || !Unreachable(err) || i >= b.Attempts-1 || ctx.Err() != nil {
			return err
		}
		if b.Retrying != nil {
			b.Retrying(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}
