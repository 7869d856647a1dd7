package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/metrics"
	"strings"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// allocatedBytes is the bytes the Go heap has allocated since the process started
// (runtime/metrics /gc/heap/allocs:bytes, MemStats.TotalAlloc without stopping the world).
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// perRecord divides a total by the records loaded (0 without records).
func perRecord(total float64, records int) float64 {
	if records <= 0 {
		return 0
	}
	return total / float64(records)
}

// CPUPerRecord is the process CPU (user+system) of the pipeline phase per record, in
// microseconds.
func (r *Result) CPUPerRecord() float64 {
	return perRecord(float64(r.CPU.Microseconds()), r.Pipeline.Records)
}

// AllocPerRecord is the Go heap allocated during the pipeline phase per record, in KB
// (1024 bytes).
func (r *Result) AllocPerRecord() float64 {
	return perRecord(float64(r.Allocated)/1024, r.Pipeline.Records)
}

// ServerSetting is one server variable that matters to a bulk load.
type ServerSetting struct{ Name, Value string }

// mysqlSettings are the MariaDB/MySQL variables that set what a bulk load into InnoDB
// costs: the buffer pool (the indexes of audit_record must fit, or every insert reads
// pages), the redo log's size (a small one makes checkpoints flush often) and the flush
// at each commit (of the redo log and of the binary log).
var mysqlSettings = []string{"innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit", "innodb_log_file_size", "sync_binlog"}

// ServerSettings returns the bulk-load settings of the server behind s: on MySQL and
// MariaDB those of mysqlSettings the server has (sync_binlog is absent without a binary
// log on some versions); nothing for the other databases.
func ServerSettings(ctx context.Context, s sink.Sink) ([]ServerSetting, error) {
	h := s.Handle()
	if h.Dialect.Name() != sink.DialectMySQL {
		return nil, nil
	}
	var out []ServerSetting
	for _, name := range mysqlSettings {
		var n, v string
		err := h.DB.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE '"+name+"'").Scan(&n, &v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the server's %s: %w", name, err)
		}
		out = append(out, ServerSetting{Name: name, Value: v})
	}
	return out, nil
}

// FormatSettings renders settings as "name=value ..." (sizes as they are, in bytes).
func FormatSettings(settings []ServerSetting) string {
	parts := make([]string, len(settings))
	for i, s := range settings {
		parts[i] = s.Name + "=" + s.Value
	}
	return strings.Join(parts, " ")
}
