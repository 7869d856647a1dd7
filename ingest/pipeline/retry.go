package pipeline

import (
	"context"
	"errors"
	"time"
)

// dbAttempts is how many times a small bookkeeping statement (a lease, a ledger mark,
// the run log, a ledger lookup) is tried. A connection the server dropped (a restart, a
// killed session) fails once and is replaced by the pool, and a deadlock victim can
// simply go again; neither should cost a unit or leave a lease behind.
const dbAttempts = 4

// retryDB runs f until it succeeds, dbAttempts times at most, waiting 25, 50, 100 ms in
// between. It gives up at once when ctx is done.
func retryDB(ctx context.Context, f func() error) error {
	var err error
	for attempt := range dbAttempts {
		if err = f(); err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if attempt == dbAttempts-1 {
			break
		}
		t := time.NewTimer(time.Duration(25<<attempt) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
	return err
}
