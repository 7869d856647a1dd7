package faults_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// openTagged opens an isolated, migrated database whose connections the test can find
// and kill from another session: PostgreSQL by application_name, MariaDB by schema.
// It returns the sink, its DSN, and a function terminating every connection of it.
func openTagged(t *testing.T, driver string) (sink.Sink, string, func() int) {
	t.Helper()
	dsn := sinktest.DSN(t, driver)
	var kill func() int
	switch driver {
	case "postgres":
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		app := "faults_" + strings.TrimPrefix(q.Get("search_path"), "o365t_")
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		dsn = u.String()
		kill = func() int {
			return killAll(t, "pgx", sinktest.DefaultPostgresDSN,
				`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, app)
		}
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		db := cfg.DBName
		kill = func() int {
			admin, err := sql.Open("mysql", sinktest.DefaultMySQLDSN)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			rows, err := admin.Query(`SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()`, db)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for rows.Next() {
				var id int64
				rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			n := 0
			for _, id := range ids {
				if _, err := admin.Exec(`KILL ?`, id); err == nil {
					n++
				}
			}
			return n
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sink.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatalf("opening %s: %v", sink.Describe(driver, dsn), err)
	}
	t.Cleanup(func() { s.Close() })
	if err := sink.Migrate(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s, dsn, kill
}

func killAll(t *testing.T, driverName, dsn, query string, arg any) int {
	admin, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow(query, arg).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDatabaseRestartMidRun kills every connection of the pass three times while it
// loads, as a database restart does. The pass may report blobs it could not load; the
// next pass must complete the load, with nothing lost or doubled.
func TestDatabaseRestartMidRun(t *testing.T) {
	for _, driver := range []string{"postgres", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			s, _, kill := openTagged(t, driver)
			e := newEnv(t, s, emulator.Options{Seed: 31, Latency: 2 * time.Millisecond, RecordsPerDay: 300})
			var loaded, kills atomic.Int32
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 3; k++ {
					for loaded.Load() < int32(20*(k+1)) {
						select {
						case <-done:
							return
						case <-time.After(5 * time.Millisecond):
						}
					}
					kills.Add(int32(kill()))
				}
			}()
			opts := e.options()
			opts.BatchRecords = 50
			opts.Progress = func(p pipeline.Progress) { loaded.Store(int32(p.BlobsDone)) }
			first, err := pipeline.Run(context.Background(), opts)
			close(done)
			wg.Wait()
			if err != nil {
				t.Logf("the pass stopped: %v", err)
			}
			t.Logf("killed %d connections; first pass: %s loaded=%d failed=%d errors=%v", kills.Load(), first.Outcome(), first.BlobsLoaded, first.BlobsFailed, first.Errors)
			if kills.Load() == 0 {
				t.Fatal("no connection was killed: the scenario did not happen")
			}
			e.complete(e.run(context.Background()))
		})
	}
}

// failingStatement makes every insert into audit_record fail, as a full disk does.
var failingStatement = map[string][2]string{
	"sqlite": {`CREATE TRIGGER disk_full BEFORE INSERT ON audit_record BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`,
		`DROP TRIGGER disk_full`},
	"postgres": {`CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$;
		CREATE TRIGGER disk_full BEFORE INSERT ON audit_record FOR EACH ROW EXECUTE FUNCTION disk_full()`,
		`DROP TRIGGER disk_full ON audit_record; DROP FUNCTION disk_full()`},
	"mysql": {`CREATE TRIGGER disk_full BEFORE INSERT ON audit_record FOR EACH ROW SIGNAL SQLSTATE 'HY000' SET MESSAGE_TEXT = 'The table audit_record is full'`,
		`DROP TRIGGER disk_full`},
}

// TestFullDisk: while every insert fails, the pass loads nothing, marks the blobs failed
// with the database's message and says data is missing; once space is back, the next
// pass loads everything.
func TestFullDisk(t *testing.T) {
	for _, driver := range drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			s := sinktest.Open(t, driver)
			e := newEnv(t, s, emulator.Options{Seed: 41})
			if _, err := s.Handle().DB.Exec(failingStatement[driver][0]); err != nil {
				t.Fatal(err)
			}
			first := e.run(context.Background())
			e.account(first)
			if first.BlobsLoaded != 0 || first.BlobsFailed == 0 || first.Outcome() != "incomplete" {
				t.Fatalf("with a full disk: %+v", first)
			}
			for id, st := range ledger(t, s) {
				if st[0] != "failed" || !strings.Contains(strings.ToLower(st[1]), "full") && !strings.Contains(st[1], "No space") {
					t.Fatalf("blob %s: %v; want failed with the database's message", id, st)
				}
			}
			if _, err := s.Handle().DB.Exec(failingStatement[driver][1]); err != nil {
				t.Fatal(err)
			}
			e.complete(e.run(context.Background()))
		})
	}
}

// lockStatements hold a lock on audit_record from another session.
var lockStatements = map[string]string{
	"postgres": `LOCK TABLE audit_record IN EXCLUSIVE MODE`,
	"mysql":    `SELECT COUNT(*) FROM audit_record FOR UPDATE`,
}

// TestLockHeldByAnotherSession: another session holds the write lock for two seconds
// as the pass starts; the pass waits for it (within the database's lock timeout) and
// loads everything.
func TestLockHeldByAnotherSession(t *testing.T) {
	for _, driver := range drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			s := sinktest.Open(t, driver)
			e := newEnv(t, s, emulator.Options{Seed: 51})
			ctx := context.Background()
			conn, err := s.Handle().DB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if driver == "sqlite" {
				// The sink's BEGIN is IMMEDIATE: this transaction holds the write lock.
				_, err = tx.Exec(`DELETE FROM ingest_lease WHERE name = 'nothing'`)
			} else {
				_, err = tx.Exec(lockStatements[driver])
			}
			if err != nil {
				t.Fatal(err)
			}
			if driver == "sqlite" {
				// SQLite's sink keeps one connection, and this test holds it: open a
				// second sink on the same file for the pass.
				t.Skip("the SQLite sink has a single connection; lock contention is between processes (see TestTwoRunsAtOnce)")
			}
			go func() {
				time.Sleep(2 * time.Second)
				tx.Rollback()
				conn.Close()
			}()
			e.complete(e.run(ctx))
		})
	}
}

// TestTwoRunsAtOnce starts two passes at once, each with its own connections, against
// one database: the leases split the work, so no blob is fetched or loaded twice.
func TestTwoRunsAtOnce(t *testing.T) {
	for _, driver := range drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			dsn := sinktest.DSN(t, driver)
			open := func() sink.Sink {
				s, err := sink.Open(context.Background(), driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				if err := sink.Migrate(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			a := open()
			b := open()
			e := newEnv(t, a, emulator.Options{Seed: 61, Latency: time.Millisecond})
			fetched := map[string]int{}
			var mu sync.Mutex
			e.proxy.set(func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, _ int) bool {
				if kind == "blob" {
					mu.Lock()
					fetched[blobID(r)]++
					mu.Unlock()
				}
				return false
			})
			var sums [2]pipeline.Summary
			var errs [2]error
			var wg sync.WaitGroup
			for i, s := range []sink.Sink{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := e.options()
					o.Sink = s
					o.Holder = "faults-test/" + string(rune('a'+i))
					sums[i], errs[i] = pipeline.Run(context.Background(), o)
				}()
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				t.Fatal(err)
			}
			for id, n := range fetched {
				if n > 1 {
					t.Errorf("blob %s fetched %d times", id, n)
				}
			}
			loaded := sums[0].BlobsLoaded + sums[1].BlobsLoaded
			if loaded != len(fetched) || sums[0].RecordsDuplicate+sums[1].RecordsDuplicate != 0 {
				t.Errorf("the two passes loaded %d blobs and counted %d duplicates; %d blobs were fetched",
					loaded, sums[0].RecordsDuplicate+sums[1].RecordsDuplicate, len(fetched))
			}
			t.Logf("held units: %d and %d", sums[0].UnitsHeld, sums[1].UnitsHeld)
			// Whichever pass finished last wrote the last ingest_run: check against it.
			last := sums[0]
			if lastOutcome(t, a) != last.Outcome() {
				last = sums[1]
			}
			e.complete(last)
		})
	}
}

// poisonSink refuses every Load that holds one blob, as a database refuses a value it
// cannot store.
type poisonSink struct {
	sink.Sink
	poison string
}

func (p poisonSink) Load(ctx context.Context, b sink.Batch) (sink.LoadResult, error) {
	for _, bl := range b.Blobs {
		if bl.Entry.ContentID == p.poison {
			return sink.LoadResult{}, errors.New("value refused by the database")
		}
	}
	return p.Sink.Load(ctx, b)
}

func (p poisonSink) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	return p.Sink.(sink.Leaser).Acquire(ctx, name, holder, ttl)
}

func (p poisonSink) Holder(ctx context.Context, name string) (string, error) {
	return p.Sink.(sink.Leaser).Holder(ctx, name)
}

func (p poisonSink) Release(ctx context.Context, name, holder string) error {
	return p.Sink.(sink.Leaser).Release(ctx, name, holder)
}

// TestOneRefusedBlobFailsAlone: a blob the database refuses fails alone; the blobs loaded
// in the same batch are not failed with it (they would be, pass after pass).
func TestOneRefusedBlobFailsAlone(t *testing.T) {
	s := sinktest.Open(t, "sqlite")
	e := newEnv(t, s, emulator.Options{Seed: 71})
	var first string
	var once sync.Once
	e.proxy.set(func(p *proxy, w http.ResponseWriter, r *http.Request, kind string, _ int) bool {
		if kind == "blob" {
			once.Do(func() { first = blobID(r) })
		}
		return false
	})
	// Find a blob id first, then poison it for a fresh database.
	e.run(context.Background())
	s2 := sinktest.Open(t, "sqlite")
	e.sink = poisonSink{Sink: s2, poison: first}
	opts := e.options()
	opts.BatchRecords = 100000 // everything in as few batches as possible
	sum, err := pipeline.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.BlobsFailed != 1 || sum.BlobsLoaded != sum.BlobsListed-1 || sum.BlobsFailed+sum.BlobsLoaded != sum.BlobsListed {
		t.Fatalf("one refused blob should fail alone: %+v", sum)
	}
}
