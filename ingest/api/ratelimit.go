package api

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultRateLimit is the client-side request budget per publisher id, per
// minute: the API's documented baseline quota.
const DefaultRateLimit = 2000

// newLimiter is a token bucket of perMinute requests a minute with ten seconds'
// worth saved up (at least one).
func newLimiter(perMinute int) *rate.Limiter {
	r := rate.Limit(float64(perMinute) / 60)
	burst := max(1, perMinute/6)
	return rate.NewLimiter(r, burst)
}

// wait blocks until lim grants a request or ctx is done. It reserves and sleeps
// rather than calling lim.Wait, which refuses at once (with its own error, not
// ctx's) when the wait would pass ctx's deadline: callers branch on ctx.Err().
// A caller that gives up returns its token.
func wait(ctx context.Context, lim *rate.Limiter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := lim.Reserve()
	if err := sleep(ctx, r.Delay()); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

// The registry shares one bucket per publisher id across every Client of the
// process: the API's quota is per publisher (now per tenant), and an MSP runs
// many tenants under one publisher id. The first Client to register a
// publisher id sets its rate.
var limiters = struct {
	sync.Mutex
	m map[string]*rate.Limiter
}{m: map[string]*rate.Limiter{}}

func limiterFor(publisher string, perMinute int) *rate.Limiter {
	limiters.Lock()
	defer limiters.Unlock()
	l, ok := limiters.m[publisher]
	if !ok {
		l = newLimiter(perMinute)
		limiters.m[publisher] = l
	}
	return l
}

// sleep waits d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
