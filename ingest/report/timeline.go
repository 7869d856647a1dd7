package report

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/sink"
)

// Entry is one record of a user's timeline.
type Entry struct {
	Time      time.Time `json:"creation_time"`
	RecordID  string    `json:"record_id"`
	Workload  string    `json:"workload"`
	Operation string    `json:"operation"`
	Result    string    `json:"result_status"`
	ClientIP  string    `json:"client_ip"`
	UserID    string    `json:"user_id"`
	// Role says how the user appears: actor (UserId), mailbox (whose mailbox was
	// touched) or target (whom a directory change was about).
	Role   string `json:"role"`
	Object string `json:"object"`
	// Detail is the most telling extra of the record: a sign-in error, a mail subject,
	// a file name, a user agent.
	Detail string `json:"detail"`
}

// Timeline returns every record of user (its UserId, mailbox owner or directory
// target, compared case-insensitively) with from <= creation_time < to, across
// workloads, oldest first. limit > 0 keeps the first limit entries.
func Timeline(ctx context.Context, h sink.Handle, user string, from, to time.Time, limit int) ([]Entry, error) {
	u := strings.ToLower(strings.TrimSpace(user))
	if u == "" {
		return nil, fmt.Errorf("timeline: no user given")
	}
	rows, err := h.DB.QueryContext(ctx, h.Dialect.Rebind(`SELECT id, creation_time, workload, operation, result_status, client_ip, user_id,
		mailbox_owner_upn, target_upn, object_id, error_number, logon_error, item_subject, source_file_name, user_agent
		FROM audit_record
		WHERE creation_time >= ? AND creation_time < ?
		  AND (LOWER(user_id) = ? OR LOWER(mailbox_owner_upn) = ? OR LOWER(target_upn) = ?)
		ORDER BY creation_time, id`), h.Dialect.Time(from), h.Dialect.Time(to), u, u, u)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var t any
		var wl, op, res, ip, uid, owner, target, obj, errNo, logonErr, subject, file, ua sql.NullString
		if err := rows.Scan(&e.RecordID, &t, &wl, &op, &res, &ip, &uid, &owner, &target, &obj, &errNo, &logonErr, &subject, &file, &ua); err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
		e.Time = parseTime(t)
		e.Workload, e.Operation, e.Result, e.ClientIP, e.UserID, e.Object = wl.String, op.String, res.String, ip.String, uid.String, obj.String
		switch {
		case strings.EqualFold(uid.String, u):
			e.Role = "actor"
		case strings.EqualFold(owner.String, u):
			e.Role = "mailbox"
		default:
			e.Role = "target"
		}
		switch {
		case errNo.String != "" && errNo.String != "0":
			e.Detail = strings.TrimSpace("error " + errNo.String + " " + logonErr.String)
		case subject.String != "":
			e.Detail = "subject: " + subject.String
		case file.String != "":
			e.Detail = "file: " + file.String
		case ua.String != "":
			e.Detail = ua.String
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, rows.Err()
}

// timelineHeader names the CSV columns.
var timelineHeader = []string{"creation_time", "workload", "operation", "result_status", "client_ip", "role", "user_id", "object", "detail", "record_id"}

func (e Entry) cells() []string {
	return []string{e.Time.UTC().Format(time.RFC3339), e.Workload, e.Operation, e.Result, e.ClientIP, e.Role, e.UserID, e.Object, e.Detail, e.RecordID}
}

// WriteTimeline writes entries as format: table (aligned, long values cut for a
// terminal, control characters shown as escapes), csv (RFC 4180 with a header, cells
// made safe for spreadsheets by escape.CSVCell) or json (an array).
func WriteTimeline(w io.Writer, format string, entries []Entry) error {
	switch format {
	case "json":
		if entries == nil {
			entries = []Entry{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	case "csv":
		cw := escape.NewCSVWriter(w)
		cw.Write(timelineHeader)
		for _, e := range entries {
			cw.Write(e.cells())
		}
		cw.Flush()
		return cw.Error()
	case "table", "":
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tWORKLOAD\tOPERATION\tRESULT\tADDRESS\tROLE\tOBJECT\tDETAIL")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04:05"), cut(e.Workload, 40), cut(e.Operation, 60), cut(e.Result, 40),
				cut(e.ClientIP, 45), e.Role, cut(e.Object, 60), cut(e.Detail, 60))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q (want table, csv or json)", format)
}

// cut shortens s for a terminal column, with control characters, tabs and newlines
// shown as escapes (escape.TerminalCell).
func cut(s string, n int) string {
	s = escape.TerminalCell(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
