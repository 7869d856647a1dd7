package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const zeroGUID = "00000000-0000-0000-0000-000000000000"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now().UTC()
	w.Header().Set("Date", now.Format(http.TimeFormat))
	p := r.URL.Path
	if strings.HasPrefix(p, "/_emulator/") {
		s.hooks(w, r)
		return
	}
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
		now = s.opts.Now().UTC()
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "v1.0":
		s.graph(w, r, now)
	case len(parts) >= 2 && parts[0] == "api" && (parts[1] == "v1.0" || parts[1] == "v1"):
		s.api(w, r, parts[2:], now)
	case len(parts) == 3 && parts[1] == "oauth2" && parts[2] == "token":
		s.token(w, r, parts[0], false, now)
	case len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		s.token(w, r, parts[0], true, now)
	default:
		http.NotFound(w, r)
	}
}

// fail writes the API's error body: JSON as documented, or with the
// python-repr-errors quirk the single-quoted form.
func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	if s.has(QuirkPythonReprErrors) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, pythonRepr(code, msg))
		return
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// query reads a query parameter by case-insensitive name.
func query(r *http.Request, name string) (string, bool) {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

const windowMsg = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time prior to end time and start time no more than 7 days in the past."

func (s *Server) api(w http.ResponseWriter, r *http.Request, parts []string, now time.Time) {
	if len(parts) < 4 || parts[1] != "activity" || parts[2] != "feed" {
		http.NotFound(w, r)
		return
	}
	tenant, rest := parts[0], parts[3:]
	if !isGUID(tenant) {
		s.fail(w, http.StatusBadRequest, "AF20013", fmt.Sprintf("The tenant ID passed in the URL (%s) is not a valid GUID.", tenant))
		return
	}
	claims, ok := s.checkBearer(r, now)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"Message":"Authorization has been denied for this request."}`)
		return
	}
	if !strings.EqualFold(claims.Tid, tenant) {
		s.fail(w, http.StatusUnauthorized, "AF20010", fmt.Sprintf("The tenant ID passed in the URL (%s) does not match the tenant ID passed in the access token (%s).", tenant, claims.Tid))
		return
	}
	if !slices.Contains(claims.Roles, "ActivityFeed.Read") {
		status := http.StatusForbidden
		if s.has(QuirkAF10001With401) {
			status = http.StatusUnauthorized
		}
		s.fail(w, status, "AF10001", fmt.Sprintf("The permission set (%s) sent in the request did not include the expected permission ActivityFeed.Read.", strings.Join(claims.Roles, ",")))
		return
	}
	if s.has(QuirkDLPPermission) && s.dlpRequest(r, rest) {
		s.fail(w, http.StatusUnauthorized, "AF10001", dlpPermissionMsg)
		return
	}
	method := map[string]string{"start": "StartSubscription", "stop": "StopSubscription", "list": "ListSubscriptions",
		"content": "ListContent", "notifications": "ListNotifications"}[rest[len(rest)-1]]
	if rest[0] == "audit" {
		method = "GetBlob"
	} else if rest[0] == "resources" {
		method = "GetResources"
	}
	if s.throttled(now) {
		pub, _ := query(r, "PublisherIdentifier")
		if pub == "" {
			pub = zeroGUID
		}
		if s.opts.RetryAfter {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, s.opts.ThrottleStatus, "AF429", fmt.Sprintf("Too many requests. Method=%s, PublisherId=%s", method, pub))
		return
	}
	if s.chance(s.opts.ErrorRate) {
		s.fail(w, http.StatusInternalServerError, "AF50000", "An internal server error occurred. Retry the request.")
		return
	}
	switch {
	case len(rest) == 2 && rest[0] == "subscriptions":
		wantMethod := http.MethodGet
		if rest[1] == "start" || rest[1] == "stop" {
			wantMethod = http.MethodPost
		}
		if r.Method != wantMethod {
			w.Header().Set("Allow", wantMethod)
			s.fail(w, http.StatusMethodNotAllowed, "", "The requested resource does not support http method '"+r.Method+"'.")
			return
		}
		switch rest[1] {
		case "start":
			s.start(w, r)
		case "stop":
			s.stopSub(w, r)
		case "list":
			s.list(w)
		case "content", "notifications":
			s.content(w, r, tenant, rest[1] == "notifications", now)
		default:
			http.NotFound(w, r)
		}
	case len(rest) >= 2 && rest[0] == "audit":
		s.getBlob(w, r, strings.Join(rest[1:], "/"), now)
	case len(rest) == 2 && rest[0] == "resources" && rest[1] == "dlpSensitiveTypes":
		if strings.Contains(r.Header.Get("Accept-Language"), ",") {
			s.fail(w, http.StatusBadRequest, "AF20053", "Only one language may be present in the Accept-Language header.")
			return
		}
		writeJSON(w, []map[string]string{{"id": "50842eb7-edc8-4019-85dd-5a5c1f2bb085", "name": "CreditCardNumber"}, {"id": "0e9b3178-9678-47dd-a509-37222ca96b42", "name": "EUDebitCardNumber"}})
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frng.Float64() < p
}

// throttled applies the per-tenant token bucket and the random ThrottleRate.
func (s *Server) throttled(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.RateLimit > 0 {
		rate := float64(s.opts.RateLimit) / 60
		if now.After(s.bucket.last) {
			s.bucket.tokens = min(s.bucket.tokens+now.Sub(s.bucket.last).Seconds()*rate, float64(s.opts.RateLimit))
			s.bucket.last = now
		}
		if s.bucket.tokens < 1 {
			return true
		}
		s.bucket.tokens--
	}
	return s.opts.ThrottleRate > 0 && s.frng.Float64() < s.opts.ThrottleRate
}

func validContentType(ct string) bool { return slices.Contains(ContentTypes, ct) }

// contentTypeParam checks contentType (AF20001, AF20020).
func (s *Server) contentTypeParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	ct, ok := query(r, "contentType")
	if !ok || ct == "" {
		s.fail(w, http.StatusBadRequest, "AF20001", "Missing parameter: contentType.")
		return "", false
	}
	if !validContentType(ct) {
		s.fail(w, http.StatusBadRequest, "AF20020", "The specified content type is not valid.")
		return "", false
	}
	return ct, true
}

func subJSON(ct string, sub *subscription) map[string]any {
	var wh any
	if len(sub.webhook) > 0 {
		wh = sub.webhook
	}
	return map[string]any{"contentType": ct, "status": sub.status, "webhook": wh}
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	ct, ok := s.contentTypeParam(w, r)
	if !ok {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var req struct {
		Webhook *struct {
			Address    string  `json:"address"`
			AuthID     string  `json:"authId"`
			Expiration *string `json:"expiration"`
		} `json:"webhook"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			s.fail(w, http.StatusBadRequest, "AF20002", "Invalid parameter type: webhook. Expected type: object")
			return
		}
	}
	var wh json.RawMessage
	if req.Webhook != nil {
		if !strings.HasPrefix(strings.ToLower(req.Webhook.Address), "https://") {
			s.fail(w, http.StatusBadRequest, "AF20021", fmt.Sprintf("The webhook endpoint {%s) could not be validated. The address must begin with HTTPS.", req.Webhook.Address))
			return
		}
		// Not validated by a callback and never notified: the emulator has no outbound calls.
		wh, _ = json.Marshal(map[string]any{"status": "enabled", "address": req.Webhook.Address, "authId": req.Webhook.AuthID, "expiration": req.Webhook.Expiration})
	}
	s.mu.Lock()
	if s.has(QuirkStartThrottle) && !s.startThrottled[ct] {
		s.startThrottled[ct] = true
		s.mu.Unlock()
		s.fail(w, http.StatusTooManyRequests, "AF429", startThrottleMsg)
		return
	}
	sub := s.subs[ct]
	if sub != nil && sub.status == "enabled" && bytes.Equal(sub.webhook, wh) {
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, "AF20024", "The subscription is already enabled. No property change.")
		return
	}
	sub = &subscription{status: "enabled", webhook: wh}
	s.subs[ct] = sub
	out := subJSON(ct, sub)
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) stopSub(w http.ResponseWriter, r *http.Request) {
	ct, ok := s.contentTypeParam(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	sub := s.subs[ct]
	if sub == nil || sub.status != "enabled" {
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, "AF20022", "No subscription found for the specified content type.")
		return
	}
	sub.status = "disabled"
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) list(w http.ResponseWriter) {
	s.mu.Lock()
	out := []map[string]any{}
	for _, ct := range ContentTypes {
		if sub := s.subs[ct]; sub != nil {
			out = append(out, subJSON(ct, sub))
		}
	}
	s.mu.Unlock()
	writeJSON(w, out)
}

// subscribed checks the subscription of ct (AF20022 missing, AF20023 disabled).
func (s *Server) subscribed(w http.ResponseWriter, ct string) bool {
	s.mu.Lock()
	sub := s.subs[ct]
	s.mu.Unlock()
	switch {
	case sub == nil:
		s.fail(w, http.StatusBadRequest, "AF20022", "No subscription found for the specified content type.")
		return false
	case sub.status != "enabled":
		s.fail(w, http.StatusBadRequest, "AF20023", "The subscription was disabled by a tenant admin.")
		return false
	}
	return true
}

func parseTime(v string) (time.Time, bool) {
	for _, l := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.9999999", time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

var pageToken = regexp.MustCompile(`^(\d{17})R(\d{12})$`)

const listLayout = "2006-01-02T15:04:05.000Z"

func (s *Server) content(w http.ResponseWriter, r *http.Request, tenant string, notifications bool, now time.Time) {
	ct, ok := s.contentTypeParam(w, r)
	if !ok || !s.subscribed(w, ct) {
		return
	}
	st, hasStart := query(r, "startTime")
	et, hasEnd := query(r, "endTime")
	var start, end time.Time
	switch {
	case !hasStart && !hasEnd:
		start, end = now.Add(-24*time.Hour).Truncate(time.Second), now
		st, et = start.Format("2006-01-02T15:04:05"), ceil(end).Format("2006-01-02T15:04:05")
	case hasStart != hasEnd:
		s.fail(w, http.StatusBadRequest, "AF20055", windowMsg)
		return
	default:
		if start, ok = parseTime(st); !ok {
			s.fail(w, http.StatusBadRequest, "AF20002", "Invalid parameter type: startTime. Expected type: datetime")
			return
		}
		if end, ok = parseTime(et); !ok {
			s.fail(w, http.StatusBadRequest, "AF20002", "Invalid parameter type: endTime. Expected type: datetime")
			return
		}
		tooLong := end.Sub(start) > 24*time.Hour
		if s.has(QuirkStrictWindow) {
			tooLong = end.Sub(start) >= 24*time.Hour
		}
		if !start.Before(end) || tooLong || start.Before(now.Add(-7*24*time.Hour)) {
			s.fail(w, http.StatusBadRequest, "AF20055", windowMsg)
			return
		}
	}
	var curCreated time.Time
	var curSeq int64 = -1
	if tok, ok := query(r, "nextPage"); ok {
		m := pageToken.FindStringSubmatch(tok)
		if m != nil {
			c, err := time.Parse("20060102150405.000", m[1][:14]+"."+m[1][14:])
			seq, _ := strconv.ParseInt(m[2], 10, 64)
			s.mu.Lock()
			known := false
			for _, b := range s.blobs {
				if b.seq == seq && b.contentType == ct {
					known = true
					break
				}
			}
			s.mu.Unlock()
			if err == nil && known {
				curCreated, curSeq = c, seq
			}
		}
		if curSeq < 0 {
			s.fail(w, http.StatusBadRequest, "AF20031", fmt.Sprintf("Invalid nextPage Input: %s.", tok))
			return
		}
	}
	s.mu.Lock()
	var match []*blob
	for _, b := range s.blobs {
		if b.contentType == ct && !b.visible.After(now) && !b.created.Before(start) && b.created.Before(end) {
			match = append(match, b)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(match, func(a, b *blob) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	if curSeq >= 0 {
		i, _ := slices.BinarySearchFunc(match, struct{}{}, func(b *blob, _ struct{}) int {
			if c := b.created.Compare(curCreated); c != 0 {
				return c
			}
			return int(b.seq - curSeq)
		})
		match = match[i:]
	}
	if notifications {
		// No webhook is ever called, so there is no notification history.
		match = nil
	}
	base := baseURL(r)
	page := match
	if len(page) > s.opts.PageSize {
		page = match[:s.opts.PageSize]
		nb := match[s.opts.PageSize]
		tok := nb.created.Format("20060102150405.000")
		tok = strings.Replace(tok, ".", "", 1) + "R" + fmt.Sprintf("%012d", nb.seq)
		op := "content"
		if notifications {
			op = "notifications"
		}
		q := "contentType=" + ct + "&startTime=" + st + "&endTime=" + et + "&nextPage=" + tok
		// Exact casing on the wire, as the service sends it.
		w.Header()["NextPageUri"] = []string{base + "/api/v1.0/" + tenant + "/activity/feed/subscriptions/" + op + "?" + q}
	}
	type entry struct {
		ContentType       string `json:"contentType"`
		ContentID         string `json:"contentId"`
		ContentURI        string `json:"contentUri"`
		ContentCreated    string `json:"contentCreated"`
		ContentExpiration string `json:"contentExpiration"`
	}
	out := make([]entry, 0, len(page))
	for _, b := range page {
		exp := b.expiration
		if b.expired {
			exp = b.visible
		}
		uriBase := base
		if s.has(QuirkForeignContentURI) && quirkyBlob(b.seq, 3, 0) {
			uriBase = "http://localhost"
		}
		out = append(out, entry{ct, b.id, uriBase + "/api/v1.0/" + tenant + "/activity/feed/audit/" + b.id,
			b.created.Format(listLayout), exp.UTC().Format(listLayout)})
	}
	body, _ := json.Marshal(out)
	s.writeBody(w, body)
}

func ceil(t time.Time) time.Time {
	if tt := t.Truncate(time.Second); !tt.Equal(t) {
		return tt.Add(time.Second)
	}
	return t
}

var contentIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]+(\$[A-Za-z0-9_.\-]+)+$`)

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, id string, now time.Time) {
	if r.Method != http.MethodGet {
		s.fail(w, http.StatusMethodNotAllowed, "", "The requested resource does not support http method '"+r.Method+"'.")
		return
	}
	if !contentIDPattern.MatchString(id) {
		s.fail(w, http.StatusBadRequest, "AF20052", fmt.Sprintf("Content ID %s in the URL is invalid.", id))
		return
	}
	s.mu.Lock()
	b := s.byID[id]
	s.mu.Unlock()
	if b == nil || b.visible.After(now) {
		s.fail(w, http.StatusNotFound, "AF20050", fmt.Sprintf("The specified content (%s) does not exist.", id))
		return
	}
	if !s.subscribed(w, b.contentType) {
		return
	}
	if b.expired || !now.Before(b.expiration) {
		s.fail(w, http.StatusBadRequest, "AF20051", fmt.Sprintf("Content requested with the key %s has already expired. Content older than 7 days cannot be retrieved.", id))
		return
	}
	if s.has(QuirkTransient404) && quirkyBlob(b.seq, 4, 1) {
		s.mu.Lock()
		first := !s.served404[id]
		s.served404[id] = true
		s.mu.Unlock()
		if first {
			// A bare 404 as a front end sends it: HTML, no AF code.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>")
			return
		}
	}
	records := b.records
	if s.has(QuirkBlobPaging) && quirkyBlob(b.seq, 5, 2) && len(records) >= 2 {
		half := len(records) / 2
		if v, _ := query(r, "page"); v == "2" {
			records = records[half:]
		} else {
			records = records[:half]
			w.Header()["NextPageUri"] = []string{baseURL(r) + r.URL.Path + "?page=2"}
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, rec := range records {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(rec)
	}
	buf.WriteByte(']')
	s.writeBody(w, buf.Bytes())
}

// writeBody sends a 200 JSON body, or, TruncateRate of the time, a prefix of
// it: either short of a declared Content-Length (the server then drops the
// connection) or, hijacked, without a length, closed mid-body.
func (s *Server) writeBody(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if len(body) < 2 || !s.chance(s.opts.TruncateRate) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		return
	}
	s.mu.Lock()
	cut := 1 + s.frng.IntN(len(body)-1)
	hijack := s.frng.IntN(2) == 0
	s.mu.Unlock()
	s.log.Info("truncating response", "bytes", len(body), "sent", cut, "hijack", hijack)
	if hj, ok := w.(http.Hijacker); ok && hijack {
		conn, rw, err := hj.Hijack()
		if err == nil {
			fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nDate: %s\r\nConnection: close\r\n\r\n", w.Header().Get("Date"))
			rw.Write(body[:cut])
			rw.Flush()
			conn.Close()
			return
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body[:cut])
}

func (s *Server) hooks(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_emulator/truth" && r.Method == http.MethodGet:
		truth := s.Truth()
		if ct, ok := query(r, "contentType"); ok {
			truth = slices.DeleteFunc(truth, func(t TruthRecord) bool { return t.ContentType != ct })
		}
		writeJSON(w, truth)
	case r.URL.Path == "/_emulator/expired" && r.Method == http.MethodGet:
		writeJSON(w, s.Expired())
	case r.URL.Path == "/_emulator/graph-calls" && r.Method == http.MethodGet:
		writeJSON(w, orEmpty(s.GraphCalls()))
	case r.URL.Path == "/_emulator/attack" && r.Method == http.MethodGet:
		writeJSON(w, s.AttackStory())
	case r.URL.Path == "/_emulator/publish" && r.Method == http.MethodPost:
		var req struct {
			Records int     `json:"records"`
			Late    float64 `json:"late"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Records < 0 || req.Late < 0 || req.Late > 1 {
			http.Error(w, `want {"records":N,"late":0..1}`, http.StatusBadRequest)
			return
		}
		n := s.Publish(req.Records, req.Late)
		writeJSON(w, map[string]int{"published": req.Records, "blobs": n})
	default:
		http.NotFound(w, r)
	}
}

// dlpRequest reports whether an API request is about DLP.All (its start,
// listing or one of its blobs), for the dlp-permission quirk.
func (s *Server) dlpRequest(r *http.Request, rest []string) bool {
	if rest[0] == "audit" && len(rest) >= 2 {
		s.mu.Lock()
		b := s.byID[strings.Join(rest[1:], "/")]
		s.mu.Unlock()
		return b != nil && b.contentType == "DLP.All"
	}
	ct, _ := query(r, "contentType")
	return rest[0] == "subscriptions" && ct == "DLP.All"
}
