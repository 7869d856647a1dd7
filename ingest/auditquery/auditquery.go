// Package auditquery is the history source of backfill: Microsoft Graph's audit log
// query API (Microsoft Purview Audit Search, /security/auditLog/queries, v1.0), which
// reaches the audit store far past the Management Activity API's 7 days (180 days on
// Audit Standard, longer on Premium).
//
// Source is a pipeline.Source: its "blobs" are query windows, one UTC day per content
// type, with the content id auditquery:<tenant id>:<content type>:<yyyy-mm-dd>. The
// pipeline ledgers a window like a blob: its records and its content_blob row commit in
// one transaction, so a crash repeats at most the windows in flight and never skips
// one; records found again (by the feed, by a neighbouring window) are stored once by
// their id.
//
// One window: create a query (displayName, filterStartDateTime, filterEndDateTime and,
// for a content type of named workloads, serviceFilters), poll it with back-off while
// it is notStarted or running, page its records (@odata.nextLink, kept on the Graph
// host by ingest/graph). A query that failed (or was cancelled) is created again up to
// Config.Attempts times, then the window is failed in the ledger and tried again by the
// next backfill. A query that reached the service's record limit
// (isRecordCountLimitReached, or Config.RecordLimit records) is split in two halves,
// down to Config.MinWindow. Each record's auditData is the JSON the feed serves; a
// record the feed publishes under another content type (by its Workload and
// RecordType, schema.ContentTypeOf) is left to that content type's window.
//
// Availability: per Microsoft's docs the API is offered in the global service only,
// not in GCC High, DoD or 21Vianet (Available).
package auditquery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/graph"
	"github.com/o365ingest/o365ingest/schema"
)

// Prefix starts the content id of every query window.
const Prefix = "auditquery:"

// Permission is the application permission that reads every service's records.
const Permission = "AuditLogsQuery.Read.All"

// ServicePermissions are the per-service permissions a content type's windows can use
// instead of Permission (Audit.General and DLP.All span services and need Permission).
var ServicePermissions = map[string]string{
	schema.AuditExchange:             "AuditLogsQuery-Exchange.Read.All",
	schema.AuditSharePoint:           "AuditLogsQuery-SharePoint.Read.All and AuditLogsQuery-OneDrive.Read.All",
	schema.AuditAzureActiveDirectory: "AuditLogsQuery-Entra.Read.All",
}

// Available reports whether a cloud offers the audit log query API and, when not, why.
func Available(c api.Cloud) (bool, string) {
	switch c {
	case "", api.CloudCommercial, api.CloudGCC:
		return true, ""
	case api.CloudGCCHigh:
		return false, "the audit log query API is offered in the global service only, not in GCC High (US Government L4), per Microsoft's docs"
	case api.CloudDoD:
		return false, "the audit log query API is offered in the global service only, not in DoD (US Government L5), per Microsoft's docs"
	}
	return false, fmt.Sprintf("unknown cloud %q", string(c))
}

// Config configures a Source. Zero values mean the defaults.
type Config struct {
	TenantID string
	Graph    *graph.Client
	Logger   *slog.Logger
	// PollMin and PollMax bound the wait between two looks at a running query
	// (default 1s doubling to 30s); Timeout bounds one query (default 2h).
	PollMin, PollMax, Timeout time.Duration
	// Attempts of a window whose query failed (default 3).
	Attempts int
	// RecordLimit: a query returning this many records is split (default 50000, and
	// whenever the service says isRecordCountLimitReached).
	RecordLimit int
	// MinWindow is the shortest window a split makes (default 1 minute).
	MinWindow time.Duration
	// PageSize asked of the records listing ($top; default: the service's).
	PageSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Source queries the audit log of one tenant. It implements pipeline.Source.
type Source struct {
	cfg    Config
	onOpen func(ctx context.Context, window api.ContentBlob, reason string)
}

// OpenReason starts the ledger reason of a window whose query was created and not
// finished (see OnOpen): status names such windows "open".
const OpenReason = "query open: "

// OnOpen sets fn to be called when a window's first query is created, before any of
// its records arrive, with a reason starting with OpenReason: o365ingest writes it to
// the ledger as failed, so a window a crash left half-way is named (and queried again
// by the next backfill); the window's load overwrites it.
func (s *Source) OnOpen(fn func(ctx context.Context, window api.ContentBlob, reason string)) {
	s.onOpen = fn
}

// New returns a Source.
func New(cfg Config) (*Source, error) {
	if cfg.Graph == nil {
		return nil, errors.New("auditquery: no Graph client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollMin <= 0 {
		cfg.PollMin = time.Second
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Hour
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.RecordLimit <= 0 {
		cfg.RecordLimit = 50000
	}
	if cfg.MinWindow <= 0 {
		cfg.MinWindow = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Source{cfg: cfg}, nil
}

// WindowID is the content id of the window of a content type starting on day.
func WindowID(tenantID, contentType string, day time.Time) string {
	return Prefix + tenantID + ":" + contentType + ":" + day.UTC().Format(time.DateOnly)
}

// ParseWindowID returns the content type and day of a window's content id.
func ParseWindowID(id string) (contentType string, day time.Time, ok bool) {
	rest, ok := strings.CutPrefix(id, Prefix)
	if !ok {
		return "", time.Time{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, rest[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	head := rest[:i]
	j := strings.IndexByte(head, ':')
	if j < 0 {
		return "", time.Time{}, false
	}
	return head[j+1:], d, true
}

// Days returns the UTC days whose windows cover [from, to): from floored and to
// ceiled to midnight, so every window is a whole day and the same id each run.
func Days(from, to time.Time) []time.Time {
	d := from.UTC().Truncate(24 * time.Hour)
	var out []time.Time
	for ; d.Before(to); d = d.Add(24 * time.Hour) {
		out = append(out, d)
	}
	return out
}

// EnsureSubscriptions implements pipeline.Source: queries need no subscription.
func (s *Source) EnsureSubscriptions(context.Context, []string) ([]string, error) { return nil, nil }

// ListRange implements pipeline.Source: the day windows of [from, to), each a blob
// whose Created is its day.
func (s *Source) ListRange(_ context.Context, contentType string, from, to time.Time) ([]api.ContentBlob, error) {
	if _, ok := schema.LookupContentType(contentType); !ok {
		return nil, fmt.Errorf("auditquery: unknown content type %q", contentType)
	}
	var out []api.ContentBlob
	for _, d := range Days(from, to) {
		out = append(out, api.ContentBlob{ContentType: contentType, ContentID: WindowID(s.cfg.TenantID, contentType, d), Created: d})
	}
	return out, nil
}

// services returns the serviceFilters of a content type's queries: its workloads, or
// none for a content type chosen by record type (DLP.All) or the catch-all.
func services(contentType string) []string {
	ct, _ := schema.LookupContentType(contentType)
	return ct.Workloads
}

// Fetch implements pipeline.Source: it runs the window's queries and hands on each
// record of the content type once (by id), writing them to archive as JSON lines.
func (s *Source) Fetch(ctx context.Context, b api.ContentBlob, archive io.Writer, fn func(rec json.RawMessage, index int) error) (api.BlobStats, error) {
	ct, day, ok := ParseWindowID(b.ContentID)
	if !ok {
		return api.BlobStats{}, fmt.Errorf("auditquery: %q is not a query window", b.ContentID)
	}
	var stats api.BlobStats
	h := sha256.New()
	seen := map[string]bool{}
	n := 0
	opened := false
	open := func(qid string) {
		if !opened && s.onOpen != nil {
			opened = true
			s.onOpen(ctx, b, fmt.Sprintf("%saudit log query %s created at %s, not loaded yet (a crash or a stop left it; the next backfill queries the window again)",
				OpenReason, qid, s.cfg.Now().UTC().Format(time.RFC3339)))
		}
	}
	err := s.window(ctx, ct, day, day.Add(24*time.Hour), open, func(id string, raw json.RawMessage) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		var head struct {
			Workload   string
			RecordType int
		}
		// A record that does not parse is handed on: the normalizer quarantines it.
		if json.Unmarshal(raw, &head) == nil && schema.ContentTypeOf(head.Workload, head.RecordType) != ct {
			return nil // the feed publishes it under another content type: that window loads it
		}
		h.Write(raw)
		h.Write([]byte{'\n'})
		stats.Bytes += int64(len(raw)) + 1
		if archive != nil {
			if _, err := archive.Write(append(raw, '\n')); err != nil {
				return err
			}
		}
		i := n
		n++
		return fn(raw, i)
	})
	if err != nil {
		return api.BlobStats{}, err
	}
	stats.Records = n
	stats.SHA256 = hex.EncodeToString(h.Sum(nil))
	return stats, nil
}

// query is an auditLogQuery as Graph answers it.
type query struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	LimitReached bool   `json:"isRecordCountLimitReached"`
}

// window loads [from, to) of a content type, splitting it when a query reaches the
// record limit.
func (s *Source) window(ctx context.Context, ct string, from, to time.Time, open func(queryID string), fn func(id string, raw json.RawMessage) error) error {
	var (
		q   query
		err error
	)
	for attempt := 1; ; attempt++ {
		q, err = s.run(ctx, ct, from, to, open)
		if err == nil {
			break
		}
		var qf *queryFailed
		if !errors.As(err, &qf) || attempt == s.cfg.Attempts {
			return err
		}
		s.cfg.Logger.Warn("audit log query failed; creating it again", "content_type", ct, "from", from, "to", to, "query", qf.id, "status", qf.status, "attempt", attempt)
	}
	var recs []record
	split := q.LimitReached
	if !split {
		recs, err = s.records(ctx, q.ID, s.cfg.RecordLimit)
		if errors.Is(err, errLimit) {
			split = true
		} else if err != nil {
			return err
		}
	}
	if split {
		if to.Sub(from) <= s.cfg.MinWindow {
			return fmt.Errorf("auditquery: %s %s..%s: the query reached the record limit even over %s; not loaded", ct, from.Format(time.RFC3339), to.Format(time.RFC3339), to.Sub(from))
		}
		mid := from.Add(to.Sub(from) / 2).Truncate(time.Second)
		s.cfg.Logger.Info("audit log query reached the record limit; splitting the window", "content_type", ct, "from", from, "to", to)
		if err := s.window(ctx, ct, from, mid, open, fn); err != nil {
			return err
		}
		return s.window(ctx, ct, mid, to, open, fn)
	}
	for _, r := range recs {
		if err := fn(r.ID, r.AuditData); err != nil {
			return err
		}
	}
	return nil
}

// queryFailed is a query the service ended failed or cancelled.
type queryFailed struct{ id, status string }

func (e *queryFailed) Error() string {
	return fmt.Sprintf("auditquery: the audit log query %s ended %s", e.id, e.status)
}

// run creates a query and waits for it to end.
func (s *Source) run(ctx context.Context, ct string, from, to time.Time, open func(queryID string)) (query, error) {
	body := map[string]any{
		"@odata.type":         "#microsoft.graph.security.auditLogQuery",
		"displayName":         fmt.Sprintf("o365ingest %s %s..%s", ct, from.Format(time.RFC3339), to.Format(time.RFC3339)),
		"filterStartDateTime": from.UTC().Format(time.RFC3339),
		"filterEndDateTime":   to.UTC().Format(time.RFC3339),
	}
	if sv := services(ct); len(sv) > 0 {
		body["serviceFilters"] = sv
	}
	data, _ := json.Marshal(body)
	resp, err := s.cfg.Graph.Do(ctx, http.MethodPost, "/security/auditLog/queries", data)
	if err != nil {
		return query{}, fmt.Errorf("creating the audit log query: %w", err)
	}
	var q query
	if err := json.Unmarshal(resp.Body, &q); err != nil || q.ID == "" {
		return query{}, fmt.Errorf("creating the audit log query: the answer is no auditLogQuery (%v)", err)
	}
	open(q.ID)
	deadline := s.cfg.Now().Add(s.cfg.Timeout)
	wait := s.cfg.PollMin
	for {
		switch q.Status {
		case "succeeded":
			return q, nil
		case "failed", "cancelled":
			return q, &queryFailed{q.ID, q.Status}
		case "notStarted", "running", "":
		default:
			// unknownFutureValue or a status added later: not an end we know.
		}
		if s.cfg.Now().After(deadline) {
			return q, fmt.Errorf("auditquery: the audit log query %s is still %s after %s", q.ID, q.Status, s.cfg.Timeout)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return q, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, s.cfg.PollMax)
		resp, err := s.cfg.Graph.Do(ctx, http.MethodGet, "/security/auditLog/queries/"+q.ID, nil)
		if err != nil {
			return q, fmt.Errorf("reading the audit log query %s: %w", q.ID, err)
		}
		id := q.ID
		if err := json.Unmarshal(resp.Body, &q); err != nil {
			return q, fmt.Errorf("reading the audit log query %s: %w", id, err)
		}
		q.ID = id
	}
}

// record is an auditLogRecord: its id and auditData (the feed's JSON).
type record struct {
	ID        string          `json:"id"`
	AuditData json.RawMessage `json:"auditData"`
}

var errLimit = errors.New("the query returned the record limit")

// records pages a succeeded query's records; errLimit when there are limit or more.
func (s *Source) records(ctx context.Context, id string, limit int) ([]record, error) {
	path := "/security/auditLog/queries/" + id + "/records"
	if s.cfg.PageSize > 0 {
		path += fmt.Sprintf("?$top=%d", s.cfg.PageSize)
	}
	var out []record
	err := s.cfg.Graph.Pages(ctx, path, func(vals []json.RawMessage) error {
		for _, v := range vals {
			var r record
			if err := json.Unmarshal(v, &r); err != nil || r.ID == "" || len(r.AuditData) == 0 || r.AuditData[0] != '{' {
				return fmt.Errorf("auditquery: query %s: a record without id or auditData object: %.200s", id, v)
			}
			r.AuditData = stripODataType(r.AuditData)
			out = append(out, r)
		}
		if len(out) >= limit {
			return errLimit
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stripODataType drops a leading "@odata.type" annotation Graph may add to auditData,
// so the record is the feed's JSON.
func stripODataType(raw json.RawMessage) json.RawMessage {
	const key = `"@odata.type"`
	s := strings.TrimLeft(string(raw[1:]), " \t\r\n")
	if !strings.HasPrefix(s, key) {
		return raw
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	// Rebuild without the annotation, keeping the other members' order.
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return raw
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return raw
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return raw
		}
		if k == "@odata.type" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}
