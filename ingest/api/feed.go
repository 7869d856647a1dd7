package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Subscription is one element of subscriptions/list.
type Subscription struct {
	ContentType string   `json:"contentType"`
	Status      string   `json:"status"` // "enabled" or "disabled"
	Webhook     *Webhook `json:"webhook"`
}

// Webhook is a subscription's webhook (this client never sets one).
type Webhook struct {
	Status     string  `json:"status"`
	Address    string  `json:"address"`
	AuthID     string  `json:"authId"`
	Expiration *string `json:"expiration"`
}

// ContentBlob is one entry of a content listing.
type ContentBlob struct {
	ContentType string
	ContentID   string
	ContentURI  string
	Created     time.Time // contentCreated: when the blob became available (not event time)
	Expiration  time.Time // contentExpiration: read it, never compute it
}

// MaxWindow is the widest listing window this client asks for: strictly under
// the documented 24 hours, since the service has answered AF20055 to a window
// of exactly 24 h (the same margin doctor uses). ListRange's windows are
// consecutive, each [start, start+MaxWindow), without gap or overlap.
const MaxWindow = 24*time.Hour - time.Minute

// LookBack is how far back the API lists content.
const LookBack = 7 * 24 * time.Hour

// timeLayout is a documented startTime/endTime form (zone-less, UTC).
const timeLayout = "2006-01-02T15:04:05"

// ListSubscriptions returns the tenant's subscriptions.
func (c *Client) ListSubscriptions(ctx context.Context) ([]Subscription, error) {
	u, _ := c.withPublisher(c.feedRoot + "/subscriptions/list")
	var subs []Subscription
	err := c.do(ctx, request{method: http.MethodGet, url: u, what: "listing subscriptions"}, func(resp *http.Response) error {
		subs = nil
		// Five content types: a megabyte is far more than a real answer, and read
		// whole it decodes in linear time.
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return &retryBody{fmt.Errorf("reading subscription list: %w", err)}
		}
		if err := json.Unmarshal(data, &subs); err != nil {
			return &retryBody{fmt.Errorf("decoding subscription list: %w", err)}
		}
		return nil
	})
	return subs, err
}

// StartSubscription starts the subscription for contentType. An already
// enabled subscription (HTTP 400 AF20024) counts as success.
func (c *Client) StartSubscription(ctx context.Context, contentType string) error {
	u, _ := c.withPublisher(c.feedRoot + "/subscriptions/start?contentType=" + url.QueryEscape(contentType))
	err := c.do(ctx, request{method: http.MethodPost, url: u, what: "starting subscription", contentType: contentType,
		attrs: []slog.Attr{slog.String("content_type", contentType)}}, func(*http.Response) error { return nil })
	if e, ok := asAPIError(err); ok && e.Code == "AF20024" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: starting subscription %s: %w", contentType, err)
	}
	return nil
}

// StopSubscription stops the subscription for contentType.
func (c *Client) StopSubscription(ctx context.Context, contentType string) error {
	u, _ := c.withPublisher(c.feedRoot + "/subscriptions/stop?contentType=" + url.QueryEscape(contentType))
	err := c.do(ctx, request{method: http.MethodPost, url: u, what: "stopping subscription", contentType: contentType,
		attrs: []slog.Attr{slog.String("content_type", contentType)}}, func(*http.Response) error { return nil })
	if err != nil {
		return fmt.Errorf("api: stopping subscription %s: %w", contentType, err)
	}
	return nil
}

// EnsureSubscriptions starts every content type of contentTypes that is not
// enabled yet and returns those it started. One content type failing (a missing
// permission, the start limit) does not stop the others: the error joins each
// content type's failure (errors.Is/As see every one).
func (c *Client) EnsureSubscriptions(ctx context.Context, contentTypes []string) (started []string, err error) {
	subs, err := c.ListSubscriptions(ctx)
	if err != nil {
		return nil, err
	}
	enabled := map[string]bool{}
	for _, s := range subs {
		if strings.EqualFold(s.Status, "enabled") {
			enabled[s.ContentType] = true
		}
	}
	var errs []error
	for _, ct := range contentTypes {
		if enabled[ct] {
			continue
		}
		if err := c.StartSubscription(ctx, ct); err != nil {
			if ctx.Err() != nil {
				return started, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		c.log.Info("started subscription", "tenant_id", c.cfg.TenantID, "content_type", ct)
		started = append(started, ct)
	}
	return started, errors.Join(errs...)
}

type listingEntry struct {
	ContentType       string `json:"contentType"`
	ContentID         string `json:"contentId"`
	ContentURI        string `json:"contentUri"`
	ContentCreated    string `json:"contentCreated"`
	ContentExpiration string `json:"contentExpiration"`
}

// ParseAPITime parses a datetime as the API writes it (RFC 3339 with or
// without zone or fraction; zone-less means UTC).
func ParseAPITime(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("api: unparseable time %q", s)
}

// ListContent lists the blobs whose contentCreated lies in [start, end) for
// one window of at most MaxWindow (24 h minus a minute), following every NextPageUri page. Start is
// rounded down and end up to whole seconds.
func (c *Client) ListContent(ctx context.Context, contentType string, start, end time.Time) ([]ContentBlob, error) {
	var out []ContentBlob
	err := c.listWindow(ctx, contentType, start, end, func(page []ContentBlob) error {
		out = append(out, page...)
		return nil
	})
	return out, err
}

// ErrTooManyPages is returned (wrapped) when one listing window takes more than
// Config.MaxListingPages pages.
var ErrTooManyPages = errors.New("too many listing pages")

// listWindow lists one window as ListContent does, handing each page to fn as it
// arrives; an error of fn stops the listing and is returned as it is. A page
// is at most maxListingPageBytes, a window at most Config.MaxListingPages pages.
func (c *Client) listWindow(ctx context.Context, contentType string, start, end time.Time, fn func([]ContentBlob) error) error {
	start, end = start.UTC().Truncate(time.Second), ceilSecond(end.UTC())
	if !start.Before(end) || end.Sub(start) > MaxWindow {
		return fmt.Errorf("api: listing %s: window %s..%s must be non-empty and at most %s", contentType, start.Format(time.RFC3339), end.Format(time.RFC3339), MaxWindow)
	}
	q := url.Values{}
	q.Set("contentType", contentType)
	q.Set("startTime", start.Format(timeLayout))
	q.Set("endTime", end.Format(timeLayout))
	q.Set("PublisherIdentifier", c.cfg.PublisherID)
	next := c.feedRoot + "/subscriptions/content?" + q.Encode()
	window := start.Format("2006-01-02T15:04Z") + "/" + end.Sub(start).String()
	seen := map[string]bool{}
	for page := 1; next != ""; page++ {
		if seen[next] {
			return fmt.Errorf("api: listing %s %s: the service keeps returning the same next page", contentType, window)
		}
		if page > c.cfg.MaxListingPages {
			return fmt.Errorf("api: listing %s %s: %w: more than %d in one window (max_listing_pages)", contentType, window, ErrTooManyPages, c.cfg.MaxListingPages)
		}
		seen[next] = true
		var entries []listingEntry
		var nextURI string
		err := c.do(ctx, request{method: http.MethodGet, url: next, what: "listing content", contentType: contentType,
			attrs: []slog.Attr{slog.String("content_type", contentType), slog.String("window", window), slog.Int("page", page)}},
			func(resp *http.Response) error {
				entries = nil
				// Read whole, then decoded: json.Unmarshal is linear in the page,
				// where a Decoder reading chunks is not (see scan.go).
				data, err := io.ReadAll(io.LimitReader(resp.Body, maxListingPageBytes+1))
				if err != nil {
					return &retryBody{fmt.Errorf("reading content listing: %w", err)}
				}
				if len(data) > maxListingPageBytes {
					return fmt.Errorf("content listing page larger than %s", byteSize(maxListingPageBytes))
				}
				if err := json.Unmarshal(data, &entries); err != nil {
					return &retryBody{fmt.Errorf("decoding content listing: %w", err)}
				}
				// Header.Get canonicalises: it finds NextPageUri in any casing.
				nextURI = resp.Header.Get("NextPageUri")
				if nextURI == "" {
					nextURI = resp.Header.Get("NextPageUrl")
				}
				return nil
			})
		if err != nil {
			return fmt.Errorf("api: listing %s %s: %w", contentType, window, err)
		}
		out := make([]ContentBlob, 0, len(entries))
		for _, e := range entries {
			b := ContentBlob{ContentType: e.ContentType, ContentID: e.ContentID, ContentURI: e.ContentURI}
			if b.ContentType == "" {
				b.ContentType = contentType
			}
			b.Created, _ = ParseAPITime(e.ContentCreated)
			b.Expiration, _ = ParseAPITime(e.ContentExpiration)
			out = append(out, b)
		}
		entries = nil
		if err := fn(out); err != nil {
			return err
		}
		next = ""
		if nextURI = strings.TrimSpace(nextURI); nextURI != "" {
			if err := c.sameOrigin(nextURI); err != nil {
				return fmt.Errorf("api: listing %s %s: NextPageUri: %w", contentType, window, err)
			}
			if next, err = c.withPublisher(nextURI); err != nil {
				return fmt.Errorf("api: listing %s %s: NextPageUri: %w", contentType, window, err)
			}
		}
	}
	return nil
}

func ceilSecond(t time.Time) time.Time {
	if tt := t.Truncate(time.Second); !tt.Equal(t) {
		return tt.Add(time.Second)
	}
	return t
}

// ListRange lists [from, to) in windows of at most MaxWindow and returns the
// blobs de-duplicated by ContentID, sorted by contentCreated. from is clamped to the
// API's 7-day look-back (by the server's clock when known) plus
// Config.LookBackMargin; a range entirely older than that returns nothing.
func (c *Client) ListRange(ctx context.Context, contentType string, from, to time.Time) ([]ContentBlob, error) {
	var out []ContentBlob
	seen := map[string]bool{}
	err := c.ListPages(ctx, contentType, from, to, func(page []ContentBlob) error {
		for _, b := range page {
			if !seen[b.ContentID] {
				seen[b.ContentID] = true
				out = append(out, b)
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	slices.SortStableFunc(out, func(a, b ContentBlob) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// ListPages lists [from, to) as ListRange does, but hands each page to fn as it
// arrives, windows oldest first, so that a caller can keep only what it needs (the
// blobs its ledger lacks) instead of every entry of the range. Pages are not
// de-duplicated. An error of fn stops the listing and is returned as it is.
func (c *Client) ListPages(ctx context.Context, contentType string, from, to time.Time, fn func([]ContentBlob) error) error {
	oldest := c.ServerTime().Add(-LookBack + c.cfg.LookBackMargin)
	if from.Before(oldest) {
		from = oldest
	}
	from, to = from.UTC().Truncate(time.Second), ceilSecond(to.UTC())
	for s := from; s.Before(to); s = s.Add(MaxWindow) {
		e := s.Add(MaxWindow)
		if e.After(to) {
			e = to
		}
		if err := c.listWindow(ctx, contentType, s, e, fn); err != nil {
			return err
		}
	}
	return nil
}
