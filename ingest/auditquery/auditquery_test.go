package auditquery_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/auditquery"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/schema"
)

// setup starts an emulator with 20 days of history and returns a Source on it.
func setup(t *testing.T, opts emulator.Options, cfg auditquery.Config) (*emulator.Server, string, *auditquery.Source) {
	t.Helper()
	opts.Seed, opts.HistoryDays = 3, 20
	if opts.RecordsPerDay == 0 {
		opts.RecordsPerDay = 300
	}
	if opts.HistoryQueryDelay == 0 {
		opts.HistoryQueryDelay = 30 * time.Millisecond
	}
	opts.RateLimit = -1
	emu, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	tokens, err := api.New(api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), ClientSecret: emu.ClientSecret(),
		APIURL: base, LoginURL: base, Resource: "https://graph.microsoft.com", RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := graph.New(graph.Config{BaseURL: base, Tokens: tokens, HTTPClient: tokens.HTTPClient(), BackoffBase: time.Millisecond, MaxRetries: 8})
	if err != nil {
		t.Fatal(err)
	}
	cfg.TenantID, cfg.Graph = emu.TenantID(), gc
	if cfg.PollMin == 0 {
		cfg.PollMin = 5 * time.Millisecond
	}
	src, err := auditquery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, base, src
}

// truthOf returns the history ids of a content type created on day.
func truthOf(t *testing.T, base, ct string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/_emulator/truth?contentType=" + ct)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []emulator.TruthRecord
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range recs {
		if r.ContentID == "history" {
			out[r.ID] = true
		}
	}
	return out
}

// load fetches the windows of [from, to) of a content type and returns the record ids.
func load(t *testing.T, src *auditquery.Source, ct string, from, to time.Time) ([]string, error) {
	t.Helper()
	blobs, err := src.ListRange(context.Background(), ct, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range blobs {
		stats, err := src.Fetch(context.Background(), b, io.Discard, func(rec json.RawMessage, i int) error {
			var r struct {
				ID         string `json:"Id"`
				Workload   string
				RecordType int
			}
			if err := json.Unmarshal(rec, &r); err != nil {
				t.Fatalf("record %d of %s is not the feed's JSON: %v", i, b.ContentID, err)
			}
			if got := schema.ContentTypeOf(r.Workload, r.RecordType); got != ct {
				t.Fatalf("window of %s handed on a record of %s", ct, got)
			}
			ids = append(ids, r.ID)
			return nil
		})
		if err != nil {
			return ids, err
		}
		if stats.Records == 0 && len(ids) == 0 {
			continue
		}
	}
	return ids, nil
}

func assertAll(t *testing.T, got []string, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("record %s handed on twice", id)
		}
		seen[id] = true
	}
	if len(want) == 0 {
		t.Fatal("no history records to compare with")
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("record %s of the history was not loaded (%d of %d loaded)", id, len(seen), len(want))
		}
	}
}

func TestQueryRunsThenSucceedsAndPagesRecords(t *testing.T) {
	emu, base, src := setup(t, emulator.Options{}, auditquery.Config{PageSize: 7})
	now := time.Now().UTC()
	ids, err := load(t, src, schema.AuditExchange, now.Add(-20*24*time.Hour), now.Add(-8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The windows reach up to the day containing 8 days ago; the history, to 7.
	want := truthOf(t, base, schema.AuditExchange)
	in := 0
	for _, id := range ids {
		if want[id] {
			in++
		}
	}
	if in != len(ids) || len(ids) < len(want)*2/3 {
		t.Fatalf("%d records of %d", len(ids), len(want))
	}
	calls := emu.GraphCalls()
	polls, pages := 0, 0
	for _, c := range calls {
		switch {
		case c.Method == http.MethodGet && strings.HasSuffix(c.Path, "/records"):
			pages++
		case c.Method == http.MethodGet:
			polls++
		}
	}
	if polls < emu.AuditQueryCount() {
		t.Fatalf("%d polls for %d queries: a query was read before it could have succeeded", polls, emu.AuditQueryCount())
	}
	if pages <= emu.AuditQueryCount() {
		t.Fatalf("%d record pages for %d queries: paging by @odata.nextLink was not exercised", pages, emu.AuditQueryCount())
	}
}

func TestEveryContentTypeOfTheHistoryLoadsOnce(t *testing.T) {
	_, base, src := setup(t, emulator.Options{}, auditquery.Config{})
	now := time.Now().UTC()
	for _, ct := range schema.ContentTypeNames() {
		ids, err := load(t, src, ct, now.Add(-21*24*time.Hour), now.Add(-7*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		assertAll(t, ids, truthOf(t, base, ct))
	}
}

func TestFailedQueriesAreRetriedThenReported(t *testing.T) {
	now := time.Now().UTC()
	t.Run("some fail: retried, all records arrive", func(t *testing.T) {
		_, base, src := setup(t, emulator.Options{ErrorRate: 0.3}, auditquery.Config{Attempts: 10})
		ids, err := load(t, src, schema.AuditAzureActiveDirectory, now.Add(-21*24*time.Hour), now.Add(-7*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		assertAll(t, ids, truthOf(t, base, schema.AuditAzureActiveDirectory))
	})
	t.Run("all fail: the window fails naming the query", func(t *testing.T) {
		emu, _, src := setup(t, emulator.Options{ErrorRate: 1}, auditquery.Config{Attempts: 3})
		_, err := load(t, src, schema.AuditGeneral, now.Add(-15*24*time.Hour), now.Add(-14*24*time.Hour))
		if err == nil || !strings.Contains(err.Error(), "ended failed") {
			t.Fatalf("err = %v; want the query's failure", err)
		}
		if n := emu.AuditQueryCount(); n != 3 {
			t.Fatalf("%d queries created; want 3 attempts", n)
		}
	})
}

func TestThrottledCallsAreRetried(t *testing.T) {
	// Every 429 carries Retry-After: 1, which the client honours.
	emu, base, src := setup(t, emulator.Options{ThrottleRate: 0.1}, auditquery.Config{PageSize: 20})
	now := time.Now().UTC()
	ids, err := load(t, src, schema.AuditSharePoint, now.Add(-21*24*time.Hour), now.Add(-18*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	throttled := 0
	for _, c := range emu.GraphCalls() {
		if c.Status == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no call was throttled; the test proved nothing")
	}
	all := truthOf(t, base, schema.AuditSharePoint)
	_, _, plain := setup(t, emulator.Options{}, auditquery.Config{})
	want, err := load(t, plain, schema.AuditSharePoint, now.Add(-21*24*time.Hour), now.Add(-18*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = all[id]
	}
	assertAll(t, ids, wantSet)
	if len(ids) != len(want) {
		t.Fatalf("throttled: %d records, unthrottled: %d", len(ids), len(want))
	}
}

func TestWindowsAtTheRecordLimitAreSplit(t *testing.T) {
	// 300 records a day, a third Exchange: a day's query reaches 25 and splits, repeatedly.
	emu, base, src := setup(t, emulator.Options{HistoryRecordLimit: 25}, auditquery.Config{})
	now := time.Now().UTC()
	from, to := now.Add(-19*24*time.Hour).Truncate(24*time.Hour), now.Add(-14*24*time.Hour).Truncate(24*time.Hour)
	ids, err := load(t, src, schema.AuditExchange, from, to)
	if err != nil {
		t.Fatal(err)
	}
	all := truthOf(t, base, schema.AuditExchange)
	unsplit, _, full := setup(t, emulator.Options{}, auditquery.Config{})
	want, err := load(t, full, schema.AuditExchange, from, to)
	if err != nil {
		t.Fatal(err)
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = all[id]
	}
	assertAll(t, ids, wantSet)
	if len(ids) != len(want) {
		t.Fatalf("split windows loaded %d records, unsplit ones %d", len(ids), len(want))
	}
	if n, m := emu.AuditQueryCount(), unsplit.AuditQueryCount(); n < 3*m {
		t.Fatalf("only %d queries at a limit of 25 (%d without): the windows were not split", n, m)
	}
	t.Run("a window that cannot be split below the limit fails", func(t *testing.T) {
		_, _, src := setup(t, emulator.Options{HistoryRecordLimit: 1, RecordsPerDay: 3000}, auditquery.Config{MinWindow: time.Hour})
		_, err := load(t, src, schema.AuditExchange, now.Add(-15*24*time.Hour), now.Add(-14*24*time.Hour))
		if err == nil || !strings.Contains(err.Error(), "record limit") {
			t.Fatalf("err = %v; want the record limit named", err)
		}
	})
}

func TestMissingPermissionIsGraphsForbidden(t *testing.T) {
	_, _, src := setup(t, emulator.Options{GraphWithhold: []string{auditquery.Permission}}, auditquery.Config{})
	now := time.Now().UTC()
	_, err := load(t, src, schema.AuditExchange, now.Add(-15*24*time.Hour), now.Add(-14*24*time.Hour))
	if !graph.IsForbidden(err) {
		t.Fatalf("err = %v; want Graph's 403", err)
	}
}

func TestWindowIDsAndAvailability(t *testing.T) {
	d := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	id := auditquery.WindowID("t-1", schema.AuditAzureActiveDirectory, d.Add(5*time.Hour))
	ct, day, ok := auditquery.ParseWindowID(id)
	if id != "auditquery:t-1:Audit.AzureActiveDirectory:2026-09-01" || !ok || ct != schema.AuditAzureActiveDirectory || !day.Equal(d) {
		t.Fatalf("%q -> %q %v %v", id, ct, day, ok)
	}
	if days := auditquery.Days(d.Add(3*time.Hour), d.Add(49*time.Hour)); len(days) != 3 || !days[0].Equal(d) {
		t.Fatalf("Days = %v", days)
	}
	for c, want := range map[api.Cloud]bool{"": true, api.CloudCommercial: true, api.CloudGCC: true, api.CloudGCCHigh: false, api.CloudDoD: false} {
		if ok, why := auditquery.Available(c); ok != want || (!ok && !strings.Contains(why, "global service only")) {
			t.Errorf("Available(%q) = %v %q", c, ok, why)
		}
	}
}
