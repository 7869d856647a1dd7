package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressBarNeverMovesBackwardsAndPrintsLogsAboveIt(t *testing.T) {
	out := &lockedBuffer{}
	env := &Env{Stdout: out, Stderr: out}
	setLogger(env, "info", "text")
	b := newProgressBar(env)
	fraction := func() float64 {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.shown == 0 {
			return 0
		}
		return float64(b.blobs.Current()) / float64(b.shown)
	}
	// Five units list one after the other while the first ones' blobs load: the
	// total grows from 10 to 300 while 40 blobs are done.
	steps := []pipeline.Progress{
		{BlobsTotal: 10, Listing: 4}, {BlobsTotal: 10, BlobsDone: 8, Records: 800, Listing: 4},
		{BlobsTotal: 110, BlobsDone: 9, Records: 900, Listing: 3}, {BlobsTotal: 200, BlobsDone: 20, Records: 2000, Listing: 2},
		{BlobsTotal: 300, BlobsDone: 40, Records: 4000, Listing: 0}, {BlobsTotal: 300, BlobsDone: 150, Records: 15000},
		{BlobsTotal: 300, BlobsDone: 300, Records: 30000},
	}
	prev := 0.0
	for i, p := range steps {
		b.update(p)
		env.Logger.Info("a log line while the bar runs", "step", i)
		time.Sleep(30 * time.Millisecond)
		if f := fraction(); f < prev {
			t.Errorf("step %d: the bar moved backwards from %.2f to %.2f", i, prev, f)
		} else {
			prev = f
		}
	}
	b.finish(true)
	if prev != 1 {
		t.Errorf("the finished bar is at %.2f", prev)
	}
	text := regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]").ReplaceAllString(out.String(), "")
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "a log line while the bar runs") && (strings.Contains(line, "blobs ") || strings.Contains(line, "records ")) {
			t.Errorf("a log line is glued to the bar: %q", line)
		}
	}
	for _, want := range []string{"msg=\"a log line while the bar runs\" step=6", "300/300", "records", "/s", "ETA"} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
}

func TestProgressLinesOffATerminal(t *testing.T) {
	out := &lockedBuffer{}
	env := &Env{Stdout: out, Stderr: out}
	setLogger(env, "info", "json")
	l := newProgressLines(context.Background(), env.Logger, 20*time.Millisecond)
	l.update(pipeline.Progress{BlobsTotal: 50, BlobsDone: 5, Records: 1000})
	time.Sleep(70 * time.Millisecond)
	l.finish(true)
	var got struct {
		Msg        string `json:"msg"`
		BlobsTotal int    `json:"blobs_total"`
		BlobsDone  int    `json:"blobs_done"`
		Records    int    `json:"records"`
		Rate       *int   `json:"records_per_second"`
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got.Msg != "progress" || got.BlobsTotal != 50 || got.BlobsDone != 5 || got.Records != 1000 || got.Rate == nil || *got.Rate <= 0 {
		t.Fatalf("progress lines:\n%s", out.String())
	}
	n := len(lines)
	time.Sleep(50 * time.Millisecond)
	if len(strings.Split(strings.TrimSpace(out.String()), "\n")) != n {
		t.Error("lines continue after finish")
	}
}
