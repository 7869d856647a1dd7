package pipeline

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
)

// acquire takes the lease of a unit. A lease left behind by a process of this host that
// no longer exists (killed, crashed) is taken over at once instead of waiting for it to
// lapse, so a cron job after a crash does not skip work.
func (r *runner) acquire(ctx context.Context, l sink.Leaser, name string) (bool, error) {
	var ok bool
	err := retryDB(ctx, func() (err error) {
		ok, err = l.Acquire(ctx, name, r.o.Holder, r.o.LeaseTTL)
		return err
	})
	if err != nil && ctx.Err() != nil {
		// Cancelled while acquiring: the database may have granted the lease all the
		// same; give it up, or the next pass would skip the unit until it lapses.
		fctx, stopFinishing := stop.Finishing(ctx)
		defer stopFinishing()
		rctx, cancel := context.WithTimeout(fctx, 5*time.Second)
		defer cancel()
		if rerr := l.Release(rctx, name, r.o.Holder); rerr != nil {
			r.o.Logger.Warn("releasing a lease taken while cancelled", "lease", name, "err", rerr)
		}
	}
	if err != nil || ok {
		return ok, err
	}
	holder, err := l.Holder(ctx, name)
	if err != nil || holder == "" || !deadLocalHolder(holder) {
		return false, err
	}
	r.o.Logger.Warn("taking over the lease of a process that died", "lease", name, "holder", holder)
	if err := l.Release(ctx, name, holder); err != nil {
		return false, err
	}
	return l.Acquire(ctx, name, r.o.Holder, r.o.LeaseTTL)
}

// deadLocalHolder reports whether a holder id ("host/pid/random", see defaultHolder)
// names a process of this host that is gone.
func deadLocalHolder(holder string) bool {
	parts := strings.Split(holder, "/")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(parts[1])
	if parts[0] != host || err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
