package emulator

// The Microsoft Graph audit log query API (Microsoft Purview Audit Search), as the
// v1.0 docs describe it: POST /security/auditLog/queries creates an auditLogQuery
// (displayName, filterStartDateTime, filterEndDateTime, serviceFilters,
// recordTypeFilters…), GET …/queries/{id} shows its status (notStarted, running,
// succeeded, failed), GET …/queries/{id}/records pages its auditLogRecords with
// @odata.nextLink. The search runs over every record the tenant has: the history of
// Options.HistoryDays (older than the feed's days) and every record the feed published.
// Under ThrottleRate a call is answered 429 with Retry-After; under ErrorRate a query
// fails. A query reaching HistoryRecordLimit returns that many records and says
// isRecordCountLimitReached.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// AuditQueryPermissions are the Graph application permissions of the audit log query
// API: all services, or one service each.
var AuditQueryPermissions = map[string]string{
	"":                     "AuditLogsQuery.Read.All",
	"Exchange":             "AuditLogsQuery-Exchange.Read.All",
	"SharePoint":           "AuditLogsQuery-SharePoint.Read.All",
	"OneDrive":             "AuditLogsQuery-OneDrive.Read.All",
	"AzureActiveDirectory": "AuditLogsQuery-Entra.Read.All",
}

// auditEntry is one record the audit search can find.
type auditEntry struct {
	at         time.Time
	id         string
	workload   string
	recordType int
	operation  string
	userID     string
	raw        []byte
}

type auditQuery struct {
	ID            string
	DisplayName   string
	Start, End    time.Time
	Services      []string
	created       time.Time
	fail          bool
	results       []int // indexes into s.audit, fixed when it succeeds
	limitReached  bool
	resultsFrozen bool
}

const (
	defaultHistoryRecordLimit = 50000
	historyPageSize           = 150
)

// historyData generates HistoryDays of records older than the feed's span, at the
// records-per-day pace, from a random stream of their own (the feed's data is the same
// with or without history).
func (s *Server) historyData(now time.Time) {
	g := *s.gen
	g.rng = rand.New(rand.NewPCG(uint64(s.opts.Seed), 0x415))
	end := now.Add(-7 * 24 * time.Hour)
	start := now.Add(-time.Duration(s.opts.HistoryDays) * 24 * time.Hour)
	if !start.Before(end) {
		return
	}
	span := end.Sub(start)
	n := int(float64(s.opts.RecordsPerDay) * span.Hours() / 24)
	var evs []event
	for range n {
		at := start.Add(time.Duration(g.rng.Int64N(int64(span)))).Truncate(time.Second)
		evs = append(evs, g.random(at))
	}
	slices.SortStableFunc(evs, func(a, b event) int { return a.at.Compare(b.at) })
	for _, e := range evs {
		s.addAudit(e.raw, e.id)
		if !s.inTruth[e.id] {
			s.inTruth[e.id] = true
			s.truth = append(s.truth, TruthRecord{ID: e.id, ContentType: e.contentType, ContentID: "history"})
		}
	}
}

// addAudit indexes a record for the audit search (once per id).
func (s *Server) addAudit(raw []byte, id string) {
	if s.inAudit[id] {
		return
	}
	var h struct {
		CreationTime string
		Workload     string
		RecordType   int
		Operation    string
		UserID       string `json:"UserId"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return
	}
	at, err := time.Parse("2006-01-02T15:04:05", h.CreationTime)
	if err != nil {
		return
	}
	s.inAudit[id] = true
	s.audit = append(s.audit, auditEntry{at: at, id: id, workload: h.Workload, recordType: h.RecordType, operation: h.Operation, userID: h.UserID, raw: raw})
}

// AuditQueryCount returns how many audit log queries were created.
func (s *Server) AuditQueryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queries)
}

func (q *auditQuery) status(now time.Time, delay time.Duration) string {
	el := now.Sub(q.created)
	switch {
	case el < delay/3:
		return "notStarted"
	case el < delay:
		return "running"
	case q.fail:
		return "failed"
	}
	return "succeeded"
}

func (s *Server) queryJSON(q *auditQuery, now time.Time) map[string]any {
	st := q.status(now, s.opts.HistoryQueryDelay)
	m := map[string]any{
		"@odata.type":         "#microsoft.graph.security.auditLogQuery",
		"id":                  q.ID,
		"displayName":         q.DisplayName,
		"filterStartDateTime": q.Start.Format(time.RFC3339),
		"filterEndDateTime":   q.End.Format(time.RFC3339),
		"serviceFilters":      orEmpty(q.Services),
		"recordTypeFilters":   []string{},
		"status":              st,
	}
	if st == "succeeded" {
		s.freeze(q)
		m["approximateReturnedRecordCount"] = len(q.results)
		m["isRecordCountLimitReached"] = q.limitReached
	}
	return m
}

// freeze fixes a succeeded query's results (caller holds s.mu).
func (s *Server) freeze(q *auditQuery) {
	if q.resultsFrozen {
		return
	}
	q.resultsFrozen = true
	limit := s.opts.HistoryRecordLimit
	for i, e := range s.audit {
		if e.at.Before(q.Start) || !e.at.Before(q.End) {
			continue
		}
		if len(q.Services) > 0 && !slices.Contains(q.Services, e.workload) {
			continue
		}
		if len(q.results) == limit {
			q.limitReached = true
			break
		}
		q.results = append(q.results, i)
	}
}

// auditQueries serves /v1.0/security/auditLog/queries[/{id}[/records]].
func (s *Server) auditQueries(w http.ResponseWriter, r *http.Request, parts []string, roles []string, now time.Time) {
	if len(parts) < 3 || parts[1] != "auditLog" || parts[2] != "queries" || len(parts) > 5 || (len(parts) == 5 && parts[4] != "records") {
		graphError(w, http.StatusNotFound, "UnknownError", "Resource not found for the segment.", now)
		return
	}
	if s.opts.ThrottleRate > 0 && s.chance(s.opts.ThrottleRate) {
		w.Header().Set("Retry-After", "1")
		graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests. Please retry after some time.", now)
		return
	}
	allowed := func(services []string) bool {
		if slices.Contains(roles, AuditQueryPermissions[""]) {
			return true
		}
		if len(services) == 0 {
			return false
		}
		for _, sv := range services {
			if p, ok := AuditQueryPermissions[sv]; !ok || !slices.Contains(roles, p) {
				return false
			}
		}
		return true
	}
	denied := func() {
		graphError(w, http.StatusForbidden, "Forbidden", "Insufficient privileges to perform requested operation by the application. ControllerName=MSGraphAuditQueryController, URL absolute path="+r.URL.Path, now)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(parts) == 3 && r.Method == http.MethodGet {
		// List audit log queries (doctor's permission check uses it with $top=1).
		if !allowed(nil) {
			denied()
			return
		}
		vals := []any{}
		for _, q := range s.queries {
			vals = append(vals, s.queryJSON(q, now))
		}
		if v, err := strconv.Atoi(r.URL.Query().Get("$top")); err == nil && v >= 0 && v < len(vals) {
			vals = vals[:v]
		}
		writeJSON(w, map[string]any{"value": vals})
		return
	}
	if len(parts) == 3 {
		if r.Method != http.MethodPost {
			graphError(w, http.StatusMethodNotAllowed, "BadRequest", "Specified HTTP method is not allowed for the request target.", now)
			return
		}
		var body struct {
			DisplayName         string   `json:"displayName"`
			FilterStartDateTime string   `json:"filterStartDateTime"`
			FilterEndDateTime   string   `json:"filterEndDateTime"`
			ServiceFilters      []string `json:"serviceFilters"`
			RecordTypeFilters   []string `json:"recordTypeFilters"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			graphError(w, http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error(), now)
			return
		}
		start, err1 := time.Parse(time.RFC3339, body.FilterStartDateTime)
		end, err2 := time.Parse(time.RFC3339, body.FilterEndDateTime)
		if err1 != nil || err2 != nil || !start.Before(end) {
			graphError(w, http.StatusBadRequest, "BadRequest", "filterStartDateTime and filterEndDateTime must be date-times, the start before the end.", now)
			return
		}
		if len(body.RecordTypeFilters) > 0 {
			graphError(w, http.StatusBadRequest, "BadRequest", "recordTypeFilters are not supported by this emulator.", now)
			return
		}
		if !allowed(body.ServiceFilters) {
			denied()
			return
		}
		q := &auditQuery{ID: s.gen.guid(), DisplayName: body.DisplayName, Start: start.UTC(), End: end.UTC(), Services: body.ServiceFilters, created: now}
		q.fail = s.opts.ErrorRate > 0 && s.frng.Float64() < s.opts.ErrorRate
		s.queries[q.ID] = q
		w.Header().Set("Location", baseURL(r)+"/v1.0/security/auditLog/queries/"+q.ID)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(s.queryJSON(q, now))
		return
	}
	q := s.queries[parts[3]]
	if r.Method != http.MethodGet {
		graphError(w, http.StatusMethodNotAllowed, "BadRequest", "Specified HTTP method is not allowed for the request target.", now)
		return
	}
	if q == nil {
		graphError(w, http.StatusNotFound, "NotFound", "The audit log query "+parts[3]+" does not exist.", now)
		return
	}
	if !allowed(q.Services) {
		denied()
		return
	}
	if len(parts) == 4 {
		writeJSON(w, s.queryJSON(q, now))
		return
	}
	if st := q.status(now, s.opts.HistoryQueryDelay); st != "succeeded" {
		graphError(w, http.StatusBadRequest, "BadRequest", "The audit log query is "+st+"; its records are available once it succeeded.", now)
		return
	}
	s.freeze(q)
	skip := 0
	if v := r.URL.Query().Get("$skiptoken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(q.results) {
			graphError(w, http.StatusBadRequest, "BadRequest", "Invalid $skiptoken.", now)
			return
		}
		skip = n
	}
	top := historyPageSize
	if v := r.URL.Query().Get("$top"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 1000 {
			top = n
		}
	}
	end := min(skip+top, len(q.results))
	vals := make([]any, 0, end-skip)
	for _, i := range q.results[skip:end] {
		e := s.audit[i]
		vals = append(vals, map[string]any{
			"@odata.type":        "#microsoft.graph.security.auditLogRecord",
			"id":                 e.id,
			"createdDateTime":    e.at.Format(time.RFC3339),
			"auditLogRecordType": recordTypeName(e.recordType),
			"operation":          e.operation,
			"organizationId":     s.opts.TenantID,
			"userPrincipalName":  e.userID,
			"userId":             e.userID,
			"service":            e.workload,
			"auditData":          json.RawMessage(e.raw),
		})
	}
	out := map[string]any{
		"@odata.context": baseURL(r) + "/v1.0/$metadata#security/auditLog/queries('" + q.ID + "')/records",
		"value":          vals,
	}
	if end < len(q.results) {
		v := url.Values{"$skiptoken": {strconv.Itoa(end)}}
		if r.URL.Query().Get("$top") != "" {
			v.Set("$top", strconv.Itoa(top))
		}
		out["@odata.nextLink"] = baseURL(r) + "/v1.0/security/auditLog/queries/" + q.ID + "/records?" + v.Encode()
	}
	writeJSON(w, out)
}

// recordTypeName is the auditLogRecordType name of a few record types (else the number).
func recordTypeName(rt int) string {
	switch rt {
	case 1:
		return "exchangeAdmin"
	case 2:
		return "exchangeItem"
	case 4:
		return "sharePoint"
	case 6:
		return "sharePointFileOperation"
	case 8:
		return "azureActiveDirectory"
	case 15:
		return "azureActiveDirectoryStsLogon"
	}
	return fmt.Sprintf("%d", rt)
}
