package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
)

// Causes of an ingest event.
const (
	IngestUnitFailed        = "unit_failed"        // a tenant and content type could not be loaded
	IngestBlobExpired       = "blob_expired"       // the API no longer serves blobs that were never loaded
	IngestPermissionMissing = "permission_missing" // the app lacks a permission or consent
)

// IngestEvent is an `ingest` event: the loading itself went wrong, so data is or
// may be missing. It goes to the same webhooks as the alerts, each cause once until
// it clears (the caller keeps that state); Status resolved says a cause cleared.
type IngestEvent struct {
	Event       string    `json:"event"` // always "ingest"
	Cause       string    `json:"cause"`
	Status      string    `json:"status"` // open or resolved
	Tenant      string    `json:"tenant"` // the config name
	TenantID    string    `json:"tenant_id,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Message     string    `json:"message"`
	Blobs       []string  `json:"blobs,omitempty"` // the content ids of expired blobs
	Time        time.Time `json:"time"`
}

// IngestPayload renders an ingest event as a webhook body: json is the event itself,
// teams a message with one Adaptive Card, slack a Block Kit message.
func IngestPayload(format string, e IngestEvent) ([]byte, error) {
	title := "o365ingest ingest problem: " + e.Cause
	if e.Status == "resolved" {
		title = "o365ingest ingest problem resolved: " + e.Cause
	}
	facts := [][2]string{{"Tenant", e.Tenant}, {"Content type", e.ContentType}, {"Time", e.Time.UTC().Format(time.RFC3339)}}
	if len(e.Blobs) > 0 {
		facts = append(facts, [2]string{"Blobs", clip(strings.Join(e.Blobs, ", "), 1500)})
	}
	switch strings.ToLower(format) {
	case "", FormatJSON:
		return json.Marshal(e)
	case FormatTeams:
		return json.Marshal(teamsCard([]any{
			map[string]any{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "color": "Attention", "text": escape.TeamsMarkdown(title)},
			map[string]any{"type": "TextBlock", "wrap": true, "text": escape.TeamsMarkdown(e.Message)},
			teamsFactSet(facts),
		}))
	case FormatSlack:
		var lines []string
		for _, f := range facts {
			lines = append(lines, "*"+escape.SlackMrkdwn(f[0])+":* "+escape.SlackMrkdwn(f[1]))
		}
		return json.Marshal(map[string]any{"text": clip(escape.SlackMrkdwn(title+": "+e.Message), 3000), "blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(escape.Slack(title), 150)}},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(escape.SlackMrkdwn(e.Message), 3000)}},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(strings.Join(lines, "\n"), 3000)}},
		}})
	}
	return nil, fmt.Errorf("unknown webhook format %q", format)
}

// NotifyIngest sends an ingest event to every configured webhook (whatever its
// min_severity: missing data always matters). It returns one error per webhook that
// did not take it; the caller sends the event again later. client nil means a client
// with a 15-second timeout.
func NotifyIngest(ctx context.Context, cfg Config, client *http.Client, e IngestEvent) []error {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	e.Event = "ingest"
	var errs []error
	for _, w := range cfg.Webhooks {
		body, err := IngestPayload(w.format(), e)
		if err == nil {
			err = postBody(ctx, client, w, body)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("detect: webhook %s: %w", w.ID(), err))
		}
	}
	return errs
}
