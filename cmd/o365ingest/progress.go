package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

// progress shows how far a pass is: a bar on a terminal (progressBar), a log line every
// 10 s otherwise (progressLines). A nil progress shows nothing.
type progress interface {
	update(pipeline.Progress)
	finish(done bool)
}

// startProgress picks the display for --progress: auto (a bar when stderr is a
// terminal, else lines), bar, lines or none.
func startProgress(ctx context.Context, env *Env, mode string) progress {
	switch {
	case mode == "none":
		return nil
	case mode == "bar" || (mode == "auto" && isTerminal(env.Stderr)):
		return newProgressBar(env)
	}
	return newProgressLines(ctx, env.Logger, 10*time.Second)
}

func validProgress(mode string) bool {
	switch mode {
	case "auto", "bar", "lines", "none":
		return true
	}
	return false
}

// progressBar is two mpb bars: the blobs of the pass (count, rate, ETA) and the
// records loaded (count, rate). Logs are printed above them while they run. While
// units are still listing, the total grows, so the bar stays empty and the count
// reads "12/340+" rather than filling and then moving backwards.
type progressBar struct {
	env            *Env
	p              *mpb.Progress
	blobs, records *mpb.Bar

	mu      sync.Mutex
	last    pipeline.Progress
	shown   int64 // the blobs total the bar was given; it never shrinks
	listing bool
}

func newProgressBar(env *Env) *progressBar {
	b := &progressBar{env: env, listing: true}
	b.p = mpb.New(mpb.WithOutput(rawTerminal(env.Stderr)), mpb.WithWidth(100), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithAutoRefresh())
	counts := decor.Any(func(decor.Statistics) string {
		b.mu.Lock()
		defer b.mu.Unlock()
		s := strconv.Itoa(b.last.BlobsDone) + "/" + strconv.Itoa(b.last.BlobsTotal)
		if b.listing {
			s += "+ (listing)"
		}
		return s
	}, decor.WCSyncWidth)
	b.blobs = b.p.New(0, mpb.BarStyle(), mpb.BarWidth(30),
		mpb.PrependDecorators(decor.Name("blobs   ", decor.WCSyncWidthR), counts),
		mpb.AppendDecorators(decor.AverageSpeed(nil, "%.1f/s", decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
	b.records = b.p.New(0, mpb.NopStyle(),
		mpb.PrependDecorators(decor.Name("records ", decor.WCSyncWidthR), decor.CurrentNoUnit("%d", decor.WCSyncWidth)),
		mpb.AppendDecorators(decor.AverageSpeed(nil, "%.0f/s", decor.WCSyncSpace)))
	env.logTo(b.p)
	return b
}

func (b *progressBar) update(p pipeline.Progress) {
	b.mu.Lock()
	b.last, b.listing = p, p.Listing > 0
	total := int64(p.BlobsTotal)
	grow := total > b.shown
	if grow {
		b.shown = total
	}
	listing := b.listing
	b.mu.Unlock()
	if grow {
		b.blobs.SetTotal(total, false)
	}
	if !listing {
		b.blobs.SetCurrent(int64(p.BlobsDone))
	}
	b.records.SetCurrent(int64(p.Records))
}

func (b *progressBar) finish(done bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	last := b.last
	b.mu.Unlock()
	if done {
		b.blobs.SetCurrent(int64(last.BlobsDone))
		b.blobs.SetTotal(-1, true)
		b.records.SetTotal(-1, true)
	} else {
		b.blobs.Abort(false)
		b.records.Abort(false)
	}
	b.p.Wait()
	b.env.logTo(nil)
}

// progressLines logs the pass's totals and rate every interval.
type progressLines struct {
	log   *slog.Logger
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup

	mu   sync.Mutex
	last pipeline.Progress
}

func newProgressLines(ctx context.Context, log *slog.Logger, every time.Duration) *progressLines {
	l := &progressLines{log: log, start: time.Now(), stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.print()
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

func (l *progressLines) print() {
	l.mu.Lock()
	p := l.last
	l.mu.Unlock()
	secs := time.Since(l.start).Seconds()
	args := []any{"blobs_done", p.BlobsDone, "blobs_total", p.BlobsTotal, "listing", p.Listing > 0,
		"records", p.Records, "records_per_second", int(float64(p.Records) / max(secs, 1e-3)),
		"blobs_per_second", float64(int(float64(p.BlobsDone)/max(secs, 1e-3)*10)) / 10,
		"elapsed", time.Duration(secs * float64(time.Second)).Round(time.Second).String()}
	l.log.Info("progress", args...)
}

func (l *progressLines) update(p pipeline.Progress) {
	l.mu.Lock()
	l.last = p
	l.mu.Unlock()
}

func (l *progressLines) finish(bool) {
	if l == nil {
		return
	}
	close(l.stop)
	l.wg.Wait()
}

// logWriter is the logger's output: stderr, or a running progress bar (which prints
// the lines above itself) while there is one.
type logWriter struct {
	mu  sync.Mutex
	def io.Writer
	to  io.Writer
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	to := w.to
	w.mu.Unlock()
	if to != nil {
		if n, err := to.Write(p); err == nil {
			return n, nil
		}
	}
	return w.def.Write(p)
}
