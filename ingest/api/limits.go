package api

// Limits on what one answer of the service may cost: bytes of a blob body (counted
// after decompression, as it is read), bytes of one record, time without a byte, time
// per blob download, and pages per listing window. Each has a default that no real
// answer comes near; each exceeded limit is an error that names it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults of the limits (Config fields of the same names).
const (
	DefaultMaxBlobBytes    = 256 << 20
	DefaultMaxRecordBytes  = 8 << 20
	DefaultIdleTimeout     = 60 * time.Second
	DefaultBlobTimeout     = 2 * time.Minute
	DefaultMaxListingPages = 10000
	// maxListingPageBytes bounds one page of a content listing (a real page of a few
	// hundred entries is well under a megabyte).
	maxListingPageBytes = 16 << 20
	// blobTimeoutTries is how many attempts a blob download that timed out gets in
	// one call of FetchBlob.
	blobTimeoutTries = 2
)

// ErrBlobTooLarge is returned (wrapped) by FetchBlob when a blob body, decompressed,
// is larger than Config.MaxBlobBytes. It is not retried: the same blob would be
// downloaded again only on a later call.
var ErrBlobTooLarge = errors.New("blob body too large")

// ErrTimeout is returned (wrapped) when an answer stalls: no byte of its body for
// Config.IdleTimeout, or a blob download longer than Config.BlobTimeout on each of its
// tries.
var ErrTimeout = errors.New("timed out")

// IsTimeout reports whether err is a stalled answer (ErrTimeout).
func IsTimeout(err error) bool { return errors.Is(err, ErrTimeout) }

// IsTooLarge reports whether err is a blob body over Config.MaxBlobBytes.
func IsTooLarge(err error) bool { return errors.Is(err, ErrBlobTooLarge) }

// capReader fails with ErrBlobTooLarge once more than limit bytes were read.
type capReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, c.tooLarge()
	}
	if room := c.limit - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, c.tooLarge()
	}
	return n, err
}

func (c *capReader) tooLarge() error {
	return fmt.Errorf("%w: more than %s decompressed (the limit is max_blob_bytes)", ErrBlobTooLarge, byteSize(c.limit))
}

// byteSize writes n in binary units when it is a whole number of them.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// stallError says how an attempt stalled; it wraps ErrTimeout.
type stallError struct{ msg string }

func (e *stallError) Error() string { return e.msg }
func (e *stallError) Unwrap() error { return ErrTimeout }

// attempt is the context of one HTTP attempt: cancelled when the attempt's deadline
// passes or its body goes idle, with the stallError as the cause.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timers []*time.Timer
}

func newAttempt(parent context.Context, deadline time.Duration, what string) *attempt {
	ctx, cancel := context.WithCancelCause(parent)
	a := &attempt{ctx: ctx, cancel: cancel}
	if deadline > 0 {
		a.timers = append(a.timers, time.AfterFunc(deadline, func() {
			cancel(&stallError{fmt.Sprintf("%s took longer than %s (blob_timeout)", what, deadline)})
		}))
	}
	return a
}

// watch wraps a response body so that idle without a byte cancels the attempt.
func (a *attempt) watch(body io.ReadCloser, idle time.Duration) io.ReadCloser {
	if idle <= 0 {
		return body
	}
	t := time.AfterFunc(idle, func() {
		a.cancel(&stallError{fmt.Sprintf("no byte of the answer for %s (idle timeout)", idle)})
	})
	a.mu.Lock()
	a.timers = append(a.timers, t)
	a.mu.Unlock()
	return &idleBody{ReadCloser: body, t: t, idle: idle}
}

// stalled returns the attempt's stallError when it was cut for stalling.
func (a *attempt) stalled() error {
	var se *stallError
	if errors.As(context.Cause(a.ctx), &se) {
		return se
	}
	return nil
}

func (a *attempt) release() {
	a.mu.Lock()
	for _, t := range a.timers {
		t.Stop()
	}
	a.mu.Unlock()
	a.cancel(context.Canceled)
}

type idleBody struct {
	io.ReadCloser
	t    *time.Timer
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.Reset(b.idle)
	}
	return n, err
}
