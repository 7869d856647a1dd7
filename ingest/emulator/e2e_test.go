package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/emulator"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEmu(t *testing.T, o emulator.Options) (*emulator.Server, string) {
	t.Helper()
	s, err := emulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, base
}

func newClient(t *testing.T, s *emulator.Server, base string, log *slog.Logger, mod func(*api.Config)) *api.Client {
	t.Helper()
	cfg := api.Config{
		TenantID: s.TenantID(), ClientID: s.ClientID(), ClientSecret: s.ClientSecret(),
		APIURL: base, LoginURL: base, Logger: log,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, RetryAfterMax: 20 * time.Millisecond,
		MaxRetries: 12, RateLimit: -1, Concurrency: 8,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collect runs the whole client flow and returns the distinct record ids seen
// and the content ids of blobs reported expired.
func collect(t *testing.T, c *api.Client) (map[string]string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.EnsureSubscriptions(ctx, api.ContentTypes); err != nil {
		t.Fatal(err)
	}
	now := c.ServerTime()
	var mu sync.Mutex
	ids := map[string]string{}
	var expired []string
	for _, ct := range api.ContentTypes {
		blobs, err := c.ListRange(ctx, ct, now.Add(-8*24*time.Hour), now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		err = c.FetchAll(ctx, blobs, func(ctx context.Context, b api.ContentBlob) error {
			var local []string
			_, err := c.FetchBlob(ctx, b, func(rec json.RawMessage, i int) error {
				var r struct{ Id string }
				if err := json.Unmarshal(rec, &r); err != nil {
					return err
				}
				local = append(local, r.Id)
				return nil
			})
			if api.IsExpired(err) {
				mu.Lock()
				expired = append(expired, b.ContentID)
				mu.Unlock()
				return nil
			}
			if err != nil {
				return err
			}
			mu.Lock()
			for _, id := range local {
				ids[id] = ct
			}
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids, expired
}

func checkTruth(t *testing.T, s *emulator.Server, got map[string]string, expiredBlobs []string) {
	t.Helper()
	truth := s.Truth()
	if len(truth) == 0 {
		t.Fatal("empty truth")
	}
	exp := map[string]bool{}
	for _, id := range expiredBlobs {
		exp[id] = true
	}
	missing := 0
	for _, r := range truth {
		ct, ok := got[r.ID]
		switch {
		case !ok && exp[r.ContentID]:
		case !ok:
			missing++
			if missing < 5 {
				t.Errorf("record %s (%s in %s) not collected", r.ID, r.ContentType, r.ContentID)
			}
		case ct != r.ContentType:
			t.Errorf("record %s listed under %s, truth says %s", r.ID, ct, r.ContentType)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d truth records missing", missing, len(truth))
	}
	inTruth := map[string]bool{}
	for _, r := range truth {
		inTruth[r.ID] = true
	}
	for id := range got {
		if !inTruth[id] {
			t.Errorf("collected %s which is not in truth", id)
		}
	}
}

func TestClientCollectsExactlyTheTruth(t *testing.T) {
	s, base := startEmu(t, emulator.Options{Seed: 42, RecordsPerDay: 300, PageSize: 10, BlobInterval: 2 * time.Hour})
	c := newClient(t, s, base, slog.New(slog.NewTextHandler(&syncBuffer{}, nil)), nil)
	got, expired := collect(t, c)
	if len(expired) != 0 {
		t.Errorf("expired blobs without ExpireRate: %v", expired)
	}
	checkTruth(t, s, got, nil)
	t.Logf("collected %d distinct records", len(got))
}

func TestClientSurvivesAHostileService(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			s, base := startEmu(t, emulator.Options{Seed: 7, RecordsPerDay: 200, PageSize: 8, BlobInterval: 3 * time.Hour,
				Latency: 2 * time.Millisecond, ThrottleRate: 0.1, ThrottleStatus: status, RetryAfter: true,
				ErrorRate: 0.05, TruncateRate: 0.05, DuplicateRate: 0.1, ExpireRate: 0.03,
				TokenLifetime: 2 * time.Second})
			var logs syncBuffer
			c := newClient(t, s, base, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			start := time.Now()
			got, expired := collect(t, c)
			checkTruth(t, s, got, expired)
			want := s.Expired()
			slices.Sort(want)
			slices.Sort(expired)
			if !slices.Equal(want, expired) {
				t.Errorf("expired blobs: got %v, emulator says %v", expired, want)
			}
			out := logs.String()
			for _, want := range []string{"retrying listing content", "retrying fetching blob", "code=AF429", "code=AF50000", "blob body is not a complete JSON array"} {
				if !strings.Contains(out, want) {
					t.Errorf("logs lack %q", want)
				}
			}
			if time.Since(start) > 2*time.Second && !strings.Contains(out, "access token refused, renewing it") && !strings.Contains(out, "acquired access token") {
				t.Log("no token renewal observed")
			}
			t.Logf("collected %d records, %d expired blobs, %d retry lines", len(got), len(expired), strings.Count(out, "retrying"))
		})
	}
}

func TestTokenExpiryMidRunIsRenewed(t *testing.T) {
	s, base := startEmu(t, emulator.Options{Seed: 3, RecordsPerDay: 100, BlobInterval: 4 * time.Hour, TokenLifetime: time.Second, Latency: 20 * time.Millisecond})
	var logs syncBuffer
	c := newClient(t, s, base, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), func(c *api.Config) { c.Concurrency = 2 })
	got, _ := collect(t, c)
	checkTruth(t, s, got, nil)
	if n := strings.Count(logs.String(), "acquired access token"); n < 2 {
		t.Errorf("token acquired %d times, want renewals during the run", n)
	}
}

func TestCorpusRecordsAreServedUnchanged(t *testing.T) {
	dir := corpusDir(t)
	s, base := startEmu(t, emulator.Options{Seed: 1, RecordsPerDay: -1, CorpusDir: dir})
	c := newClient(t, s, base, nil, nil)
	ctx := context.Background()
	if _, err := c.EnsureSubscriptions(ctx, api.ContentTypes); err != nil {
		t.Fatal(err)
	}
	lines := corpusLines(t, dir)
	n := 0
	for _, ct := range api.ContentTypes {
		blobs, err := c.ListRange(ctx, ct, time.Now().Add(-8*24*time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			_, err := c.FetchBlob(ctx, b, func(rec json.RawMessage, i int) error {
				if !lines[string(rec)] {
					t.Errorf("record not byte-identical to a corpus line: %.80s", rec)
				}
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n == 0 || len(s.Truth()) == 0 {
		t.Fatalf("served %d records, truth %d", n, len(s.Truth()))
	}
	t.Logf("served %d corpus records (%d distinct ids)", n, len(s.Truth()))
}
