package api

import (
	"context"
	"sync"
	"time"
)

// DefaultRateLimit is the client-side request budget per publisher id, per
// minute: the API's documented baseline quota.
const DefaultRateLimit = 2000

// bucket is a token bucket: rate tokens per second, at most burst saved up.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(perMinute int, now time.Time) *bucket {
	rate := float64(perMinute) / 60
	burst := rate * 10 // ten seconds' worth
	if burst < 1 {
		burst = 1
	}
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// reserve takes one token and returns how long the caller must wait before
// using it (0 when a token was available).
func (b *bucket) reserve(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// cancel gives back a token reserved by a caller that gave up waiting.
func (b *bucket) cancel() {
	b.mu.Lock()
	b.tokens++
	b.mu.Unlock()
}

// wait blocks until a token is available or ctx is done.
func (b *bucket) wait(ctx context.Context, now time.Time) error {
	d := b.reserve(now)
	if d <= 0 {
		return ctx.Err()
	}
	if err := sleep(ctx, d); err != nil {
		b.cancel()
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
	m map[string]*bucket
}{m: map[string]*bucket{}}

func limiterFor(publisher string, perMinute int) *bucket {
	limiters.Lock()
	defer limiters.Unlock()
	b, ok := limiters.m[publisher]
	if !ok {
		b = newBucket(perMinute, time.Now())
		limiters.m[publisher] = b
	}
	return b
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
