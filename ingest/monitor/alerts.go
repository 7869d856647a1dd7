package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/detect"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

// Alerter is a pipeline.Observer that turns what went wrong in a pass into `ingest`
// events for the webhooks of detect.Config: a unit (tenant and content type) failed, a
// blob expired before it was loaded, or a permission is missing. Each cause is sent
// once until it clears (a unit's failure clears when a pass of the unit succeeds, and
// a resolved event says so; an expired blob is sent once, ever). What was sent is kept
// in a state file, so a cron job's next run, or a restarted service, does not send it
// again. Observe only gathers; Flush, after the pass, sends.
type Alerter struct {
	path   string
	cfg    detect.Config
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	pass map[unitKey]*passUnit
}

type passUnit struct {
	tenantID string
	finished bool
	err      error
	expired  []string
}

// alertState is the state file: the open causes and the expired blobs reported.
type alertState struct {
	// Open maps "tenant/content type/cause" to the event that opened it.
	Open map[string]detect.IngestEvent `json:"open"`
	// Expired maps the content id of each expired blob reported to when.
	Expired map[string]time.Time `json:"expired"`
}

// expiredKept is how long the ids of expired blobs reported are remembered: longer
// than the 7 days the API lists a blob.
const expiredKept = 8 * 24 * time.Hour

// NewAlerter returns an Alerter that keeps its state in path and sends to
// cfg.Webhooks. client nil means a client with a 15-second timeout.
func NewAlerter(path string, cfg detect.Config, client *http.Client, log *slog.Logger) *Alerter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Alerter{path: path, cfg: cfg, client: client, log: log, now: time.Now, pass: map[unitKey]*passUnit{}}
}

// Observe implements pipeline.Observer.
func (a *Alerter) Observe(e pipeline.Event) {
	switch e.Kind {
	case pipeline.UnitFinished, pipeline.BlobExpired:
	default:
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := unitKey{e.Tenant, e.ContentType}
	p := a.pass[k]
	if p == nil {
		p = &passUnit{tenantID: e.TenantID}
		a.pass[k] = p
	}
	if e.Kind == pipeline.BlobExpired {
		p.expired = append(p.expired, e.ContentID)
		return
	}
	p.finished, p.err = true, e.Err
}

// Cause classifies why a unit failed: permission_missing when the API refused the
// app's permission or consent, else unit_failed.
func Cause(err error) string {
	if _, ok := api.MissingPermission(err, ""); ok {
		return detect.IngestPermissionMissing
	}
	var e *api.APIError
	if errors.As(err, &e) && e.Status == http.StatusForbidden && !api.IsThrottled(e) && strings.Contains(strings.ToLower(e.Message+" "+e.Hint), "consent") {
		return detect.IngestPermissionMissing
	}
	return detect.IngestUnitFailed
}

// Flush sends the events of the pass observed since the last Flush and saves the
// state. An event a webhook did not take is sent again by the next Flush. The error
// is for the state file only.
func (a *Alerter) Flush(ctx context.Context) error {
	a.mu.Lock()
	pass := a.pass
	a.pass = map[unitKey]*passUnit{}
	a.mu.Unlock()
	if len(a.cfg.Webhooks) == 0 {
		return nil
	}
	st, err := a.load()
	if err != nil {
		return err
	}
	now := a.now().UTC()
	for id, at := range st.Expired {
		if now.Sub(at) > expiredKept {
			delete(st.Expired, id)
		}
	}
	keys := make([]unitKey, 0, len(pass))
	for k := range pass {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].tenant+"/"+keys[i].contentType < keys[j].tenant+"/"+keys[j].contentType
	})
	send := func(e detect.IngestEvent) bool {
		errs := detect.NotifyIngest(ctx, a.cfg, a.client, e)
		for _, err := range errs {
			a.log.Warn("sending an ingest event failed; it is sent again after the next pass",
				"tenant", e.Tenant, "content_type", e.ContentType, "cause", e.Cause, "err", err)
		}
		return len(errs) == 0
	}
	for _, k := range keys {
		p := pass[k]
		base := detect.IngestEvent{Tenant: k.tenant, TenantID: p.tenantID, ContentType: k.contentType, Time: now}
		if p.finished {
			prefix := k.tenant + "/" + k.contentType + "/"
			want := ""
			if p.err != nil {
				want = Cause(p.err)
			}
			// Causes of this unit that no longer hold are resolved.
			for key, open := range st.Open {
				if strings.HasPrefix(key, prefix) && open.Cause != want {
					e := base
					e.Cause, e.Status = open.Cause, "resolved"
					e.Message = fmt.Sprintf("%s/%s: %s cleared (open since %s)", k.tenant, k.contentType, open.Cause, open.Time.Format(time.RFC3339))
					if send(e) {
						delete(st.Open, key)
					}
				}
			}
			if want != "" {
				if _, ok := st.Open[prefix+want]; !ok {
					e := base
					e.Cause, e.Status, e.Message = want, "open", p.err.Error()
					if send(e) {
						st.Open[prefix+want] = e
					}
				}
			}
		}
		var fresh []string
		for _, id := range p.expired {
			if _, ok := st.Expired[id]; !ok {
				fresh = append(fresh, id)
			}
		}
		if len(fresh) > 0 {
			e := base
			e.Cause, e.Status, e.Blobs = detect.IngestBlobExpired, "open", fresh
			e.Message = fmt.Sprintf("%s/%s: %d content blobs expired before they were loaded: their records are missing (see o365ingest status)", k.tenant, k.contentType, len(fresh))
			if send(e) {
				for _, id := range fresh {
					st.Expired[id] = now
				}
			}
		}
	}
	return a.save(st)
}

func (a *Alerter) load() (*alertState, error) {
	st := &alertState{Open: map[string]detect.IngestEvent{}, Expired: map[string]time.Time{}}
	data, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the ingest alert state: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("reading the ingest alert state %s: %w", a.path, err)
	}
	if st.Open == nil {
		st.Open = map[string]detect.IngestEvent{}
	}
	if st.Expired == nil {
		st.Expired = map[string]time.Time{}
	}
	return st, nil
}

// save writes the state atomically (a temporary file renamed over it), 0600.
func (a *Alerter) save(st *alertState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(a.path)
	f, err := os.CreateTemp(dir, ".ingest-alerts-*.json")
	if err != nil {
		return fmt.Errorf("writing the ingest alert state: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing the ingest alert state: %w", err)
	}
	if err := os.Rename(f.Name(), a.path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing the ingest alert state: %w", err)
	}
	return nil
}
