package emulator

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Quirk names a behaviour of the real service the documented contract does not
// show (issue 10), switched on with Options.Quirks or `emulate --quirks`.
type Quirk string

// The quirks, exactly as `emulate --quirks` names them.
const (
	// QuirkDLPPermission: DLP.All's start, listing and blobs answer 401 AF10001
	// "The permission set (ActivityFeed.Read ServiceHealth.Read) sent in the
	// request does not include the expected permission" (an app without
	// ActivityFeed.ReadDlp).
	QuirkDLPPermission Quirk = "dlp-permission"
	// QuirkStrictWindow: a listing window of 24 h or more answers 400 AF20055
	// (the documented rule says "less than or equal to 24 hours").
	QuirkStrictWindow Quirk = "strict-window"
	// QuirkStartThrottle: the first start of each content type answers 429 "Too
	// many frequent subscription start requests. Please retry again after 0m 5s".
	QuirkStartThrottle Quirk = "start-throttle"
	// QuirkPythonReprErrors: error bodies in the single-quoted form the
	// troubleshooting page quotes: {'error': {'code': 'AF429', 'message': '...'}}.
	QuirkPythonReprErrors Quirk = "python-repr-errors"
	// QuirkAF10001With401: a token without ActivityFeed.Read gets AF10001 with 401
	// (not 403).
	QuirkAF10001With401 Quirk = "af10001-401"
	// QuirkForeignContentURI: some listing entries name http://localhost/...
	// content URIs (seen in a support case).
	QuirkForeignContentURI Quirk = "foreign-content-uri"
	// QuirkTransient404: some blobs' first fetch answers a bare 404 (no AF code).
	QuirkTransient404 Quirk = "transient-404"
	// QuirkBlobPaging: some blobs come in two pages joined by NextPageUri.
	QuirkBlobPaging Quirk = "blob-paging"
	// QuirkRedirectLogin: the token endpoint first answers 307 to another port.
	QuirkRedirectLogin Quirk = "redirect-login"
)

// AllQuirks lists every quirk, in the order the help shows them.
var AllQuirks = []Quirk{QuirkDLPPermission, QuirkStrictWindow, QuirkStartThrottle, QuirkPythonReprErrors,
	QuirkAF10001With401, QuirkForeignContentURI, QuirkTransient404, QuirkBlobPaging, QuirkRedirectLogin}

// Quirks is a set of quirks.
type Quirks map[Quirk]bool

// ParseQuirks reads a comma-separated list of quirk names; "all" turns every
// one on. An unknown name is an error listing the known ones.
func ParseQuirks(s string) (Quirks, error) {
	q := Quirks{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case name == "all":
			for _, k := range AllQuirks {
				q[k] = true
			}
		case slices.Contains(AllQuirks, Quirk(name)):
			q[Quirk(name)] = true
		default:
			names := make([]string, len(AllQuirks))
			for i, k := range AllQuirks {
				names[i] = string(k)
			}
			return nil, fmt.Errorf("unknown quirk %q (known: %s, all)", name, strings.Join(names, ", "))
		}
	}
	return q, nil
}

// String lists the quirks that are on, comma-separated, sorted.
func (q Quirks) String() string {
	var on []string
	for k, v := range q {
		if v {
			on = append(on, string(k))
		}
	}
	sort.Strings(on)
	return strings.Join(on, ",")
}

// has reports whether quirk k is on.
func (s *Server) has(k Quirk) bool { return s.opts.Quirks[k] }

// dlpPermissionMsg is the service's answer to an app lacking ActivityFeed.ReadDlp.
const dlpPermissionMsg = "The permission set (ActivityFeed.Read ServiceHealth.Read) sent in the request does not include the expected permission"

// startThrottleMsg is the start limit's answer, with the emulator's short wait.
const startThrottleMsg = "Too many frequent subscription start requests. Please retry again after 0m 5s"

// pythonRepr writes an error body the way Python prints a dict.
func pythonRepr(code, msg string) string {
	esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return fmt.Sprintf("{'error': {'code': '%s', 'message': '%s'}}", esc.Replace(code), esc.Replace(msg))
}

// quirkyBlob picks a deterministic share of blobs for a per-blob quirk: one in
// every n by sequence number, shifted by off so quirks fall on different blobs.
func quirkyBlob(seq int64, n, off int64) bool { return seq%n == off }
