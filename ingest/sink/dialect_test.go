package sink

import (
	"testing"
	"time"
)

// TestDialectText pins the SQL text each dialect writes, including SQL Server's, which no
// test here runs against a live server.
func TestDialectText(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 30, 0, 123456000, time.UTC)
	for _, c := range []struct {
		d                      *Dialect
		quote, rebind, limit   string
		insert, literal, empty string
	}{
		{postgresDialect, `"a b"`, "x = $1 AND y = $2", `SELECT "id" FROM t LIMIT 5`,
			`INSERT INTO "t" ("k", "v") VALUES (?, ?) ON CONFLICT ("k") DO NOTHING`, `'2026-11-20 10:30:00.123456+00'`, `TRUNCATE TABLE "t"`},
		{mysqlDialect, "`a b`", "x = ? AND y = ?", "SELECT `id` FROM t LIMIT 5",
			"INSERT INTO `t` (`k`, `v`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `k` = `k`", `'2026-11-20 10:30:00.123456'`, "TRUNCATE TABLE `t`"},
		{sqlserverDialect, "[a b]", "x = @p1 AND y = @p2", "SELECT TOP (5) [id] FROM t",
			"INSERT INTO [t] ([k], [v]) SELECT @p1, @p2 WHERE NOT EXISTS (SELECT 1 FROM [t] WITH (UPDLOCK, HOLDLOCK) WHERE [k] = @p3)",
			`CAST('2026-11-20T10:30:00.123456' AS DATETIME2(6))`, "TRUNCATE TABLE [t]"},
		{sqliteDialect, `"a b"`, "x = ? AND y = ?", `SELECT "id" FROM t LIMIT 5`,
			`INSERT INTO "t" ("k", "v") VALUES (?, ?) ON CONFLICT ("k") DO NOTHING`, `'2026-11-20 10:30:00.123456'`, `DELETE FROM "t"`},
	} {
		t.Run(c.d.Name(), func(t *testing.T) {
			d := c.d
			for _, g := range []struct{ what, got, want string }{
				{"Quote", d.Quote("a b"), c.quote},
				{"Rebind", d.Rebind("x = ? AND y = ?"), c.rebind},
				{"Limit", d.Limit("SELECT "+d.Quote("id")+" FROM t", 5), c.limit},
				{"TimeLiteral", d.TimeLiteral(at), c.literal},
				{"EmptyTable", d.EmptyTable("t"), c.empty},
			} {
				if g.got != g.want {
					t.Errorf("%s = %s, want %s", g.what, g.got, g.want)
				}
			}
			q, order := d.InsertIfAbsent("t", []string{"k", "v"}, 1, nil)
			want := d.Rebind(c.insert)
			if d.name == DialectSQLServer {
				want = c.insert
			}
			if q != want {
				t.Errorf("InsertIfAbsent =\n %s\nwant\n %s", q, want)
			}
			args := order([]any{"key", "value"})
			wantArgs := 2
			if d.name == DialectSQLServer {
				wantArgs = 3
			}
			if len(args) != wantArgs {
				t.Errorf("InsertIfAbsent takes %d arguments, want %d", len(args), wantArgs)
			}
			if got, err := DialectFor(d.Name()); err != nil || got != d {
				t.Errorf("DialectFor(%s) = %v, %v", d.Name(), got, err)
			}
		})
	}
}
