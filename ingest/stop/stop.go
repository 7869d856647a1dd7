// Package stop carries a two-stage shutdown through a context. The first SIGINT or
// SIGTERM stops softly: the context a command runs under is cancelled, so no new work
// starts, while the work that must finish (the batch in flight, the ledger marks, lease
// releases, the run log) goes on under Finishing. The second signal, or the shutdown
// timeout after the first, stops hard: Finishing's contexts are cancelled too, a
// transaction in flight is rolled back by its database, and what was abandoned is
// logged. A transaction either commits whole or not at all, so nothing is half committed
// either way.
package stop

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultTimeout is how long a soft stop may take before it turns hard
// (ingest.shutdown_timeout).
const DefaultTimeout = 30 * time.Second

// Controller is the shutdown state of one process.
type Controller struct {
	ctx        context.Context
	cancelSoft context.CancelFunc
	hard       context.Context
	cancelHard context.CancelFunc

	mu      sync.Mutex
	log     *slog.Logger
	timeout time.Duration
	signals int
	timer   *time.Timer
	onHard  func(reason string)
}

type key struct{}

// New returns a controller whose Context is cancelled by the first Signal.
func New() *Controller {
	c := &Controller{timeout: DefaultTimeout}
	c.hard, c.cancelHard = context.WithCancel(context.Background())
	soft, cancel := context.WithCancel(context.Background())
	c.ctx, c.cancelSoft = context.WithValue(soft, key{}, c), cancel
	return c
}

// Context is the context commands run under: cancelled at the soft stop.
func (c *Controller) Context() context.Context { return c.ctx }

// Hard is done at the hard stop.
func (c *Controller) Hard() <-chan struct{} { return c.hard.Done() }

// SetTimeout sets how long the soft stop may take (the config's ingest.shutdown_timeout);
// d <= 0 keeps the current value.
func (c *Controller) SetTimeout(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.timeout = d
	c.mu.Unlock()
}

// SetLogger sets where the stop is reported (default slog.Default()).
func (c *Controller) SetLogger(l *slog.Logger) {
	c.mu.Lock()
	c.log = l
	c.mu.Unlock()
}

// Logger returns the logger the stop is reported to.
func (c *Controller) Logger() *slog.Logger {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log == nil {
		return slog.Default()
	}
	return c.log
}

// OnHard sets a function called once at the hard stop, with why it came.
func (c *Controller) OnHard(f func(reason string)) {
	c.mu.Lock()
	c.onHard = f
	c.mu.Unlock()
}

// Signal records a SIGINT or SIGTERM: the first stops softly and starts the timeout;
// the second stops hard.
func (c *Controller) Signal() {
	c.mu.Lock()
	c.signals++
	n, d := c.signals, c.timeout
	c.mu.Unlock()
	switch n {
	case 1:
		c.Logger().Warn("stopping: no new work starts and the batch in flight commits; a second signal, or ingest.shutdown_timeout, stops hard", "timeout", d.String())
		c.cancelSoft()
		c.mu.Lock()
		c.timer = time.AfterFunc(d, func() { c.stopHard("the shutdown timeout (" + d.String() + ") passed") })
		c.mu.Unlock()
	case 2:
		c.stopHard("a second signal")
	}
}

func (c *Controller) stopHard(reason string) {
	c.mu.Lock()
	if c.hard.Err() != nil {
		c.mu.Unlock()
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	f := c.onHard
	c.mu.Unlock()
	c.Logger().Error("stopping hard: what is in flight is abandoned and rolled back", "reason", reason)
	c.cancelHard()
	if f != nil {
		f(reason)
	}
}

// Finishing returns the context for work that must finish after a soft stop (a batch
// already fetched, a ledger mark, a lease release, the run log): it keeps ctx's values
// and is not cancelled with ctx, but is at the hard stop of ctx's Controller. Without a
// Controller (a library caller, a test) it is never cancelled, like
// context.WithoutCancel. Call cancel when done.
func Finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c, _ := ctx.Value(key{}).(*Controller)
	if c == nil {
		return out, cancel
	}
	stopAfter := context.AfterFunc(c.hard, cancel)
	return out, func() { stopAfter(); cancel() }
}

// Hard reports whether ctx's Controller has stopped hard.
func Hard(ctx context.Context) bool {
	c, _ := ctx.Value(key{}).(*Controller)
	return c != nil && c.hard.Err() != nil
}
