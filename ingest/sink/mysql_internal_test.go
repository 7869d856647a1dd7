package sink

import (
	"strings"
	"testing"
	"time"
)

func TestMySQLConfig(t *testing.T) {
	cfg, err := mysqlConfig("u:secret@tcp(db:3306)/audit?sql_mode=%27ANSI%27")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ParseTime || !cfg.InterpolateParams || cfg.Loc != time.UTC || cfg.MaxAllowedPacket != 0 {
		t.Errorf("parseTime %v interpolateParams %v loc %v maxAllowedPacket %d", cfg.ParseTime, cfg.InterpolateParams, cfg.Loc, cfg.MaxAllowedPacket)
	}
	if cfg.Params["sql_mode"] != "'ANSI'" {
		t.Errorf("the DSN's own sql_mode was replaced: %q", cfg.Params["sql_mode"])
	}
	if cfg.Params["time_zone"] != "'+00:00'" {
		t.Errorf("time_zone = %q", cfg.Params["time_zone"])
	}
	if dsn := cfg.FormatDSN(); !strings.Contains(dsn, "parseTime=true") || !strings.Contains(dsn, "charset=utf8mb4") {
		t.Errorf("DSN %q lacks parseTime or the utf8mb4 charset", dsn)
	}
}

func TestMySQLChunk(t *testing.T) {
	s := &MySQL{maxPacket: 16 << 20}
	small := []any{"abc", int64(1), time.Now(), nil}
	rows := make([][]any, 1201)
	for i := range rows {
		rows[i] = small
	}
	spans, err := s.chunk(rows, func(int) string { return "r" })
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 3 || spans[0] != (span{0, 500}) || spans[2] != (span{1000, 1201}) {
		t.Errorf("1201 small rows: %v, want spans of at most 500", spans)
	}
	big := []any{strings.Repeat("x", 3<<20)}
	spans, err = s.chunk([][]any{big, big, big, big}, func(int) string { return "r" })
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Errorf("four 3 MB rows: %v, want two statements under the 8 MB budget", spans)
	}
	quoted := []any{strings.Repeat("'", 9<<20)} // 9 MB, 18 MB escaped
	if _, err := s.chunk([][]any{small, quoted}, func(i int) string { return "record r" + string(rune('0'+i)) }); err == nil || !strings.Contains(err.Error(), "record r1") {
		t.Errorf("a row over max_allowed_packet: %v, want an error naming record r1", err)
	}
}
