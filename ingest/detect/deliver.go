package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/stop"
	"github.com/o365ingest/o365ingest/schema"
)

// Delivery statuses in alert_delivery.
const (
	DeliverySending = "sending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// ClaimTimeout is how long a delivery claimed by a process (status sending) is left
// alone before another Deliver takes it over, for a process that died mid-delivery.
const ClaimTimeout = 10 * time.Minute

// MaxPerRun caps the alerts sent to one webhook by one Deliver; the rest wait for the
// next run, so a new webhook is not flooded with a database's whole history at once.
const MaxPerRun = 200

// Deliver sends every stored alert that a configured webhook has not received yet
// (never sent, or failed before) to it, one POST per alert, and records the outcome
// per alert and webhook in alert_delivery. A 2xx answer is a delivery; anything else
// is a failure retried by the next Deliver. It returns how many deliveries succeeded
// and failed; err is for database trouble only (a webhook failing is counted, not
// returned). client nil means a client with a 15-second timeout.
func Deliver(ctx context.Context, h sink.Handle, cfg Config, client *http.Client) (sent, failed int, err error) {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	for _, w := range cfg.Webhooks {
		s, f, err := deliverTo(ctx, h, w, client)
		sent += s
		failed += f
		if err != nil {
			return sent, failed, fmt.Errorf("detect: webhook %s: %w", w.ID(), err)
		}
	}
	return sent, failed, nil
}

func deliverTo(ctx context.Context, h sink.Handle, w Webhook, client *http.Client) (sent, failed int, err error) {
	id := w.ID()
	now := time.Now().UTC()
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(alertSelect+` WHERE NOT EXISTS (SELECT 1 FROM alert_delivery d
		WHERE d.alert_id = a.alert_id AND d.webhook = ? AND (d.status = ? OR (d.status = ? AND d.updated_at > ?)))
		ORDER BY a.creation_time, a.alert_id`), id, DeliverySent, DeliverySending, h.Dialect.Time(now.Add(-ClaimTimeout)))
	if err != nil {
		return 0, 0, fmt.Errorf("listing undelivered alerts: %w", err)
	}
	alerts, err := scanAlerts(rows)
	if err != nil {
		return 0, 0, fmt.Errorf("listing undelivered alerts: %w", err)
	}
	minRank := severityRank(w.MinSeverity)
	n := 0
	for _, a := range alerts {
		if severityRank(a.Severity) < minRank {
			continue
		}
		if n == MaxPerRun {
			break
		}
		ok, err := claim(ctx, h, a.ID, id)
		if err != nil {
			return sent, failed, err
		}
		if !ok {
			continue // another process has it
		}
		n++
		postErr := post(ctx, client, w, a)
		status, lastErr := DeliverySent, any(nil)
		var sentAt any
		if postErr != nil {
			status, lastErr = DeliveryFailed, clip(postErr.Error(), 1000)
			failed++
		} else {
			sentAt = h.Dialect.Time(time.Now().UTC())
			sent++
		}
		// A cancelled run still records what happened to the POST it made.
		fctx, stopFinishing := stop.Finishing(ctx)
		_, err = h.DB.ExecContext(fctx, h.Dialect.Rebind(`UPDATE alert_delivery SET status = ?, last_error = ?, sent_at = ?, updated_at = ?
			WHERE alert_id = ? AND webhook = ?`), status, lastErr, sentAt, h.Dialect.Time(time.Now().UTC()), a.ID, id)
		stopFinishing()
		if err != nil {
			return sent, failed, fmt.Errorf("recording delivery of alert %s: %w", a.ID[:12], err)
		}
		if ctx.Err() != nil {
			return sent, failed, ctx.Err()
		}
	}
	return sent, failed, nil
}

// claim marks (alert, webhook) as being sent by this process: a new row, or a failed or
// stale one taken over. It reports false when another process holds it or it was sent.
func claim(ctx context.Context, h sink.Handle, alertID, webhook string) (bool, error) {
	now := time.Now().UTC()
	cols := schema.AlertDelivery.ColumnNames()
	q, order := h.Dialect.InsertIfAbsent(schema.AlertDelivery.Name, cols, 2, nil)
	res, err := h.DB.ExecContext(ctx, q, order([]any{alertID, webhook, DeliverySending, int64(1), nil, nil, h.Dialect.Time(now)})...)
	if err != nil {
		return false, fmt.Errorf("claiming delivery of alert %s: %w", alertID[:12], err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 1 {
		return true, nil
	}
	res, err = h.DB.ExecContext(ctx, h.Dialect.Rebind(`UPDATE alert_delivery SET status = ?, attempts = attempts + 1, updated_at = ?
		WHERE alert_id = ? AND webhook = ? AND (status = ? OR (status = ? AND updated_at <= ?))`),
		DeliverySending, h.Dialect.Time(now), alertID, webhook, DeliveryFailed, DeliverySending, h.Dialect.Time(now.Add(-ClaimTimeout)))
	if err != nil {
		return false, fmt.Errorf("claiming delivery of alert %s: %w", alertID[:12], err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// post sends one alert to a webhook in its format.
func post(ctx context.Context, client *http.Client, w Webhook, a Alert) error {
	body, err := Payload(w.format(), a)
	if err != nil {
		return err
	}
	return postBody(ctx, client, w, body)
}

// postBody POSTs one JSON body to a webhook; a non-2xx answer is an error.
func postBody(ctx context.Context, client *http.Client, w Webhook, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("building the request failed (check the URL)")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "o365ingest-detect")
	resp, err := client.Do(req)
	if err != nil {
		// The error text of a failed request holds the URL, which may hold a token.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			return fmt.Errorf("posting: %v", ue.Unwrap())
		}
		return errors.New("posting failed")
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// Payload renders an alert as a webhook body: format json is the alert itself (the
// fields of Alert, snake_case), teams a message with one Adaptive Card, slack a Block
// Kit message.
func Payload(format string, a Alert) ([]byte, error) {
	switch strings.ToLower(format) {
	case "", FormatJSON:
		return json.Marshal(a)
	case FormatTeams:
		return json.Marshal(teamsMessage(a))
	case FormatSlack:
		return json.Marshal(slackMessage(a))
	}
	return nil, fmt.Errorf("unknown webhook format %q", format)
}

// facts are the alert's key facts, in display order.
func facts(a Alert) [][2]string {
	f := [][2]string{{"Rule", a.Rule}, {"Severity", a.Severity}, {"User", a.UserID}, {"Time", a.CreationTime.UTC().Format(time.RFC3339)}, {"Address", a.ClientIP}}
	if a.Country != "" {
		f = append(f, [2]string{"Country", a.Country})
	}
	f = append(f, [2]string{"Record", a.RecordID})
	for _, k := range sortedKeys(keysOf(a.Evidence)) {
		f = append(f, [2]string{k, a.Evidence[k]})
	}
	return f
}

func keysOf(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// teamsMessage is an Adaptive Card. Record text never reaches Teams' markdown raw: the
// summary and the remediation commands are RichTextBlock TextRuns, which Teams shows
// as text (the commands exactly, to copy), and the facts are escaped by
// escape.TeamsMarkdown.
func teamsMessage(a Alert) any {
	body := []any{
		map[string]any{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "color": map[string]string{SeverityHigh: "Attention", SeverityMedium: "Warning"}[a.Severity],
			"text": "o365ingest alert: " + escape.TeamsMarkdown(a.Rule)},
		map[string]any{"type": "RichTextBlock", "inlines": []any{map[string]any{"type": "TextRun", "text": escape.Terminal(a.Summary)}}},
		teamsFactSet(facts(a)),
	}
	if len(a.Remediation) > 0 {
		body = append(body,
			map[string]any{"type": "TextBlock", "weight": "Bolder", "text": "Suggested remediation", "wrap": true},
			map[string]any{"type": "RichTextBlock", "inlines": []any{map[string]any{"type": "TextRun", "fontType": "Monospace",
				"text": escape.Terminal(strings.Join(a.Remediation, "\n\n"))}}})
	}
	return teamsCard(body)
}

// teamsCard wraps an Adaptive Card body in the message a Teams workflow webhook takes.
func teamsCard(body []any) any {
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
			},
		}},
	}
}

// teamsFactSet is a FactSet of title/value pairs, each escaped for Teams' markdown.
func teamsFactSet(facts [][2]string) any {
	var fs []map[string]string
	for _, f := range facts {
		fs = append(fs, map[string]string{"title": escape.TeamsMarkdown(f[0]), "value": escape.TeamsMarkdown(f[1])})
	}
	return map[string]any{"type": "FactSet", "facts": fs}
}

// slackMessage is a Block Kit message. Record text is only ever in rich_text text
// elements, which Slack shows as they are (no mention, link, code block or
// formatting can be made by them; the remediation commands are exact, to copy), and
// in the top-level text (the notification), escaped by escape.SlackMrkdwn.
func slackMessage(a Alert) any {
	var fl []any
	for i, f := range facts(a) {
		if i > 0 {
			fl = append(fl, slackText("\n", false))
		}
		v := f[1]
		if v == "" {
			v = "-" // Slack refuses an empty text element
		}
		fl = append(fl, slackText(f[0]+": ", true), slackText(clip(escape.Terminal(v), 1000), false))
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip("o365ingest alert: "+a.Rule+" ("+a.Severity+")", 150)}},
		slackRich(map[string]any{"type": "rich_text_section", "elements": []any{slackText(clip(escape.Terminal(a.Summary), 3000), false)}}),
		slackRich(map[string]any{"type": "rich_text_section", "elements": fl}),
	}
	if len(a.Remediation) > 0 {
		blocks = append(blocks, slackRich(
			map[string]any{"type": "rich_text_section", "elements": []any{slackText("Suggested remediation", true)}},
			map[string]any{"type": "rich_text_preformatted", "elements": []any{slackText(clip(escape.Terminal(strings.Join(a.Remediation, "\n")), 3000), false)}}))
	}
	return map[string]any{"text": clip(escape.SlackMrkdwn(fmt.Sprintf("[%s] %s", a.Severity, a.Summary)), 3000), "blocks": blocks}
}

// slackRich is a rich_text block of these elements.
func slackRich(elems ...any) any {
	return map[string]any{"type": "rich_text", "elements": elems}
}

// slackText is a rich_text text element: shown as it is, never parsed.
func slackText(s string, bold bool) any {
	t := map[string]any{"type": "text", "text": s}
	if bold {
		t["style"] = map[string]bool{"bold": true}
	}
	return t
}
