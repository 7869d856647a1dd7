// Package emulator is a local stand-in for the Office 365 Management Activity
// API and its Entra ID token endpoint, faithful to the documented contract
// (/work/shared/reference/management-activity-api.md), so the client cannot
// tell it from the real service except by host name. One host serves both
// login (/{tenant}/oauth2/token, /{tenant}/oauth2/v2.0/token) and the API
// (/api/v1.0/{tenant}/activity/feed/...). It serves a deterministic synthetic
// tenant (see AttackStory) and/or real corpus records, and can switch on
// real-world misbehaviour: latency, throttling, 500s, duplicates, late
// publication, expired blobs, truncated bodies, and the quirks of the real
// service the docs do not show (Options.Quirks, quirks.go).
//
// Test hooks, unauthenticated and existing only on the emulator:
//
//	GET  /_emulator/truth    [{"id","content_type","content_id"}] for every distinct record published so far
//	                         (with Options.HistoryDays, the history too, content_id "history")
//	                         (?contentType=X: only that content type's)
//	POST /_emulator/publish  {"records":N,"late":0.3} publishes N more records now (that fraction backdated)
//	GET  /_emulator/expired  ["contentId", …] of blobs that answer AF20051 now
//	GET  /_emulator/attack   the AttackStory
//	GET  /_emulator/graph-calls  [{"time","method","path","query","status"}] of every Graph call received
//
// It also serves the Microsoft Graph endpoints remediation calls, under /v1.0 (graph.go),
// and the audit log query API over the tenant's history and feed (auditquery.go).
package emulator

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/o365ingest/o365ingest/schema"
)

// Credential is an additional app registration the token endpoint knows.
type Credential struct {
	ClientID, ClientSecret string
	Roles                  []string // app roles in its tokens; ActivityFeed.Read is needed by the API
}

// Options configure a Server. Zero values mean the documented defaults.
type Options struct {
	Seed         int64
	TenantID     string // default derived from Seed
	ClientID     string // default derived from Seed
	ClientSecret string // default derived from Seed
	// Certificate, when set, lets ClientID authenticate with a client
	// assertion signed by its key (PS256 or RS256, x5t#S256 or x5t).
	Certificate *x509.Certificate
	Clients     []Credential // further apps (e.g. one without ActivityFeed.Read)

	RecordsPerDay int           // synthetic records per day across all content types; default 2000, <0 none
	Days          int           // days of history; default 7
	Users         int           // synthetic users; default 300
	PageSize      int           // blobs per listing page; default 20
	BlobInterval  time.Duration // one blob per content type per interval; default 30m

	Latency        time.Duration // added to every API and token request
	ThrottleRate   float64       // fraction of API requests answered AF429
	ThrottleStatus int           // 403 (default, as documented) or 429
	RetryAfter     bool          // send Retry-After: 1 with AF429
	RateLimit      int           // per-tenant requests per minute before AF429; default 2000, <0 off
	ErrorRate      float64       // fraction of API requests answered 500 AF50000
	DuplicateRate  float64       // fraction of records repeated in a later blob
	LateRate       float64       // fraction of live-published records put in backdated blobs
	TruncateRate   float64       // fraction of listing/blob responses cut short
	ExpireRate     float64       // fraction of blobs that answer AF20051 (see /_emulator/expired)
	TokenLifetime  time.Duration // default 1h
	// PublishInterval, when set, publishes RecordsPerDay-paced records on
	// that tick while the server runs (Start only).
	PublishInterval time.Duration

	// GraphWithhold lists Graph application permissions the emulator's app does not
	// hold (see GraphPermissions), so a remediation that needs one is refused 403.
	GraphWithhold []string
	// Quirks switches on behaviours of the real service beyond the documented
	// contract (see Quirk); ParseQuirks reads `--quirks` lists.
	Quirks Quirks

	// HistoryDays, when over 7, gives the tenant records that far back (at most 180),
	// older than the feed's, reachable only through the Graph audit log query API
	// (auditquery.go). 0 means none.
	HistoryDays int
	// HistoryQueryDelay is how long an audit log query takes: notStarted for a third
	// of it, running until it ends, then succeeded (or failed). Default 2s.
	HistoryQueryDelay time.Duration
	// HistoryRecordLimit is the most records one audit log query returns (default 50000).
	HistoryRecordLimit int

	CorpusDir string           // serve real records from this corpus (dir with records/*.jsonl), in addition
	Now       func() time.Time // clock; default time.Now
	Logger    *slog.Logger
}

// TruthRecord is one entry of Truth.
type TruthRecord struct {
	ID          string `json:"id"`
	ContentType string `json:"content_type"`
	ContentID   string `json:"content_id"`
}

type blob struct {
	seq         int64
	contentType string
	id          string
	created     time.Time
	expiration  time.Time
	visible     time.Time // listed only from then on (late publication)
	expired     bool      // forced AF20051
	records     [][]byte
	ids         []string
}

type subscription struct {
	status  string
	webhook json.RawMessage
}

// Server is the emulator. It is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	signKey []byte

	mu      sync.Mutex
	gen     *gen
	frng    *mrand.Rand // faults and publication shape, apart from record content
	blobs   []*blob
	byID    map[string]*blob
	seq     int64
	subs    map[string]*subscription
	truth   []TruthRecord
	inTruth map[string]bool
	attack  AttackStory
	dir     directory // the Graph side (graph.go)
	audit   []auditEntry
	inAudit map[string]bool
	queries map[string]*auditQuery
	// quirk state: content types whose start was throttled once, blobs that
	// answered their bare 404, whether the login redirect was sent.
	startThrottled  map[string]bool
	served404       map[string]bool
	loginRedirected bool
	bucket          struct {
		tokens float64
		last   time.Time
	}

	srv  *http.Server
	ln   net.Listener
	stop chan struct{}
	wg   sync.WaitGroup
}

// ContentTypes are the five content types the API knows.
// (from the registry in package schema).
var ContentTypes = schema.ContentTypeNames()

// New builds the emulator and its initial data. It does not listen.
func New(opts Options) (*Server, error) {
	seedRng := mrand.New(mrand.NewPCG(uint64(opts.Seed), 0x5eed))
	g0 := &gen{rng: seedRng}
	if opts.TenantID == "" {
		opts.TenantID = g0.guid()
	}
	if opts.ClientID == "" {
		opts.ClientID = g0.guid()
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = fmt.Sprintf("emu~%016x%016x", seedRng.Uint64(), seedRng.Uint64())
	}
	if !isGUID(opts.TenantID) {
		return nil, fmt.Errorf("emulator: tenant id %q is not a GUID", opts.TenantID)
	}
	if opts.RecordsPerDay == 0 {
		opts.RecordsPerDay = 2000
	}
	if opts.Days <= 0 {
		opts.Days = 7
	}
	if opts.Days > 7 {
		opts.Days = 7
	}
	if opts.HistoryDays > 180 {
		return nil, fmt.Errorf("emulator: history of %d days: at most 180", opts.HistoryDays)
	}
	if opts.HistoryQueryDelay <= 0 {
		opts.HistoryQueryDelay = 2 * time.Second
	}
	if opts.HistoryRecordLimit <= 0 {
		opts.HistoryRecordLimit = defaultHistoryRecordLimit
	}
	if opts.Users <= 0 {
		opts.Users = 300
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 20
	}
	if opts.BlobInterval <= 0 {
		opts.BlobInterval = 30 * time.Minute
	}
	if opts.ThrottleStatus == 0 {
		opts.ThrottleStatus = http.StatusForbidden
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 2000
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:           opts,
		log:            log,
		signKey:        make([]byte, 32),
		gen:            newGen(opts.Seed, opts.TenantID, opts.Users),
		frng:           mrand.New(mrand.NewPCG(uint64(opts.Seed), 0xfa17)),
		byID:           map[string]*blob{},
		subs:           map[string]*subscription{},
		inTruth:        map[string]bool{},
		inAudit:        map[string]bool{},
		queries:        map[string]*auditQuery{},
		startThrottled: map[string]bool{},
		served404:      map[string]bool{},
		stop:           make(chan struct{}),
	}
	rand.Read(s.signKey)
	now := opts.Now().UTC()
	s.bucket.tokens, s.bucket.last = float64(opts.RateLimit), now
	if opts.RecordsPerDay > 0 {
		s.initialData(now)
		if opts.HistoryDays > 7 {
			s.historyData(now)
		}
	}
	s.initDirectory()
	if opts.CorpusDir != "" {
		if err := s.loadCorpus(opts.CorpusDir, now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// TenantID returns the emulated tenant's id.
func (s *Server) TenantID() string { return s.opts.TenantID }

// ClientID returns the app id that may sign in.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns that app's secret (a throwaway emulator credential).
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// AttackStory returns the planted attack (zero when there is no synthetic data).
func (s *Server) AttackStory() AttackStory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attack
}

// initialData spreads Days of records over blobs whose contentCreated lies in
// [now - Days + 2h, now - 1m): the 2h keep the oldest blob reachable by a
// client with a safety margin on the 7-day look-back.
func (s *Server) initialData(now time.Time) {
	g := s.gen
	spanStart := now.Add(-time.Duration(s.opts.Days)*24*time.Hour + 2*time.Hour)
	spanEnd := now.Add(-time.Minute)
	span := spanEnd.Sub(spanStart)
	n := int(float64(s.opts.RecordsPerDay) * span.Hours() / 24)
	type arrival struct {
		ev      event
		arrives time.Time
	}
	var all []arrival
	for range n {
		// Office hours are busier: rejection-sample the hour of day.
		var a time.Time
		for {
			a = spanStart.Add(time.Duration(g.rng.Int64N(int64(span))))
			h := a.Hour()
			if (h >= 7 && h < 19) || g.rng.Float64() < 0.25 {
				break
			}
		}
		delay := time.Duration(2+g.rng.IntN(88)) * time.Minute
		all = append(all, arrival{g.random(a.Add(-delay)), a})
	}
	t0 := now.Add(-30 * time.Hour)
	if t0.Before(spanStart.Add(time.Hour)) {
		t0 = spanStart.Add(span / 2)
	}
	evs, st := g.attack(t0)
	s.attack = st
	for i, e := range evs {
		all = append(all, arrival{e, t0.Add(time.Duration(20+i) * time.Minute)})
	}
	slices.SortStableFunc(all, func(a, b arrival) int { return a.arrives.Compare(b.arrives) })
	// One blob per content type per interval slot.
	type key struct {
		ct   string
		slot int64
	}
	groups := map[key][]event{}
	var order []key
	for _, a := range all {
		k := key{a.ev.contentType, int64(a.arrives.Sub(spanStart) / s.opts.BlobInterval)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], a.ev)
	}
	slices.SortStableFunc(order, func(a, b key) int {
		if a.slot != b.slot {
			return int(a.slot - b.slot)
		}
		return strings.Compare(a.ct, b.ct)
	})
	var made []*blob
	for _, k := range order {
		created := spanStart.Add(time.Duration(k.slot+1) * s.opts.BlobInterval).Add(-time.Duration(s.frng.IntN(60000)) * time.Millisecond)
		if created.After(spanEnd) {
			created = spanEnd
		}
		b := s.newBlob(k.ct, groups[k], created, created)
		made = append(made, b)
	}
	s.duplicate(made)
	for _, b := range made {
		s.add(b)
	}
}

// newBlob assembles a blob (not yet added).
func (s *Server) newBlob(ct string, evs []event, created, visible time.Time) *blob {
	s.seq++
	first := created
	for _, e := range evs {
		if e.at.Before(first) {
			first = e.at
		}
	}
	created = created.UTC().Truncate(time.Millisecond)
	b := &blob{seq: s.seq, contentType: ct, created: created, expiration: created.Add(7 * 24 * time.Hour), visible: visible}
	b.id = contentID(ct, first, created, b.seq)
	if s.opts.ExpireRate > 0 && s.frng.Float64() < s.opts.ExpireRate {
		b.expired = true
	}
	for _, e := range evs {
		b.records = append(b.records, e.raw)
		b.ids = append(b.ids, e.id)
	}
	return b
}

// duplicate repeats a DuplicateRate fraction of records in the next blob of
// the same content type: same Id, same bytes.
func (s *Server) duplicate(bs []*blob) {
	if s.opts.DuplicateRate <= 0 {
		return
	}
	next := map[string]*blob{}
	for i := len(bs) - 1; i >= 0; i-- {
		b := bs[i]
		if n := next[b.contentType]; n != nil {
			for j := range b.records {
				if s.frng.Float64() < s.opts.DuplicateRate {
					n.records = append(n.records, b.records[j])
					n.ids = append(n.ids, b.ids[j])
				}
			}
		}
		next[b.contentType] = b
	}
}

func (s *Server) add(b *blob) {
	s.blobs = append(s.blobs, b)
	s.byID[b.id] = b
	for i, id := range b.ids {
		s.addAudit(b.records[i], id)
		if !s.inTruth[id] {
			s.inTruth[id] = true
			s.truth = append(s.truth, TruthRecord{ID: id, ContentType: b.contentType, ContentID: b.id})
		}
	}
}

// Truth returns one entry per distinct record id published so far, in
// publication order, with the content type and the first blob that carried
// it. Records of expired blobs are included (see Expired).
func (s *Server) Truth() []TruthRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.truth)
}

// Expired returns the content ids of blobs that answer AF20051 now.
func (s *Server) Expired() []string {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, b := range s.blobs {
		if !b.visible.After(now) && (b.expired || !now.Before(b.expiration)) {
			out = append(out, b.id)
		}
	}
	return out
}

// Publish publishes n more synthetic records now: a fraction late of them in
// blobs whose contentCreated is backdated 2 hours to 5 days (within the
// look-back) but which become visible only now, the rest in blobs created
// now. It returns the number of blobs made.
func (s *Server) Publish(n int, late float64) int {
	now := s.opts.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gen
	fresh := map[string][]event{}
	lateEv := map[string][]event{}
	for range n {
		if late > 0 && s.frng.Float64() < late {
			e := g.random(now) // time fixed below
			lateEv[e.contentType] = append(lateEv[e.contentType], e)
			continue
		}
		e := g.random(now.Add(-time.Duration(2+g.rng.IntN(58)) * time.Minute))
		fresh[e.contentType] = append(fresh[e.contentType], e)
	}
	var made []*blob
	maxBack := time.Duration(s.opts.Days)*24*time.Hour - 3*time.Hour
	maxBack = min(maxBack, 5*24*time.Hour)
	for _, ct := range ContentTypes {
		for evs := fresh[ct]; len(evs) > 0; {
			k := min(len(evs), 200)
			made = append(made, s.newBlob(ct, evs[:k], now, now))
			evs = evs[k:]
		}
		for evs := lateEv[ct]; len(evs) > 0; {
			k := min(len(evs), 1+s.frng.IntN(20))
			back := 2*time.Hour + time.Duration(s.frng.Int64N(int64(max(maxBack-2*time.Hour, time.Minute))))
			created := now.Add(-back)
			for i := range evs[:k] {
				// Re-stamp the event time before the blob's creation.
				evs[i] = restamp(evs[i], created.Add(-time.Duration(5+s.frng.IntN(85))*time.Minute))
			}
			made = append(made, s.newBlob(ct, evs[:k], created, now))
			evs = evs[k:]
		}
	}
	s.duplicate(made)
	for _, b := range made {
		s.add(b)
	}
	s.log.Info("published records", "records", n, "late", late, "blobs", len(made))
	return len(made)
}

// restamp rewrites the CreationTime of a generated record (always the first member).
func restamp(e event, at time.Time) event {
	old := `"CreationTime":"` + ts(e.at) + `"`
	nw := `"CreationTime":"` + ts(at) + `"`
	e.raw = []byte(strings.Replace(string(e.raw), old, nw, 1))
	e.at = at
	return e
}

// Handler returns the HTTP handler serving login, API and test hooks.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on addr (default 127.0.0.1:0; a bare port binds 127.0.0.1)
// and serves in the background. It returns the base URL for login and API.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulator: listening on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("emulator server stopped", "err", err)
		}
	}()
	if iv := s.opts.PublishInterval; iv > 0 && s.opts.RecordsPerDay > 0 {
		s.wg.Add(1)
		go s.livePublish(iv)
	}
	return "http://" + ln.Addr().String(), nil
}

func (s *Server) livePublish(iv time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(iv)
	defer t.Stop()
	perTick := float64(s.opts.RecordsPerDay) * iv.Hours() / 24
	carry := 0.0
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			carry += perTick
			n := int(carry)
			carry -= float64(n)
			if n > 0 {
				s.Publish(n, s.opts.LateRate)
			}
		}
	}
}

// Close stops a server started with Start.
func (s *Server) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	var err error
	if s.srv != nil {
		err = s.srv.Close()
	}
	s.wg.Wait()
	return err
}

func isGUID(v string) bool {
	if len(v) != 36 {
		return false
	}
	for i, r := range v {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
