package pipeline_test

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/ingest/pipeline"
	"github.com/o365ingest/o365ingest/ingest/recfile"
	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// corpusFiles writes the corpus records as a JSON array (one element per line), as JSON
// Lines and as a search-export CSV.
func corpusFiles(t *testing.T) map[string][]byte {
	t.Helper()
	recs := sinktest.Corpus(t)
	var arr, jsonl, csv bytes.Buffer
	arr.WriteString("[\n")
	csv.WriteString("CreationDate,UserIds,Operations,AuditData\n")
	for i, r := range recs {
		raw := bytes.TrimSpace(r.Raw)
		if i > 0 {
			arr.WriteString(",\n")
		}
		arr.Write(raw)
		jsonl.Write(raw)
		jsonl.WriteByte('\n')
		var head struct{ CreationTime, UserId, Operation string }
		_ = json.Unmarshal(raw, &head)
		fmt.Fprintf(&csv, "%s,%s,%s,\"%s\"\n", head.CreationTime, strings.ReplaceAll(head.UserId, ",", " "), head.Operation,
			strings.ReplaceAll(string(raw), `"`, `""`))
	}
	arr.WriteString("\n]\n")
	return map[string][]byte{"corpus.json": arr.Bytes(), "corpus.jsonl": jsonl.Bytes(), "corpus.csv": csv.Bytes()}
}

// mutate damages content with 1-3 random edits: a byte deleted, a syntax character
// inserted (a quote, a bracket, a comma, a line break), or the file cut short.
func mutate(rng *rand.Rand, content []byte) ([]byte, string) {
	out := bytes.Clone(content)
	var did []string
	for range 1 + rng.IntN(3) {
		// Keep the first line (the array's "[" or the CSV header): a file whose format
		// cannot be told is refused whole, by design.
		first := bytes.IndexByte(out, '\n') + 1
		if first >= len(out) {
			break
		}
		at := first + rng.IntN(len(out)-first)
		switch k := rng.IntN(10); {
		case k < 4:
			did = append(did, fmt.Sprintf("deleted %q at %d", out[at], at))
			out = append(out[:at], out[at+1:]...)
		case k < 9:
			c := `"{}[],:` + "\n\\"
			ins := c[rng.IntN(len(c))]
			did = append(did, fmt.Sprintf("inserted %q at %d", ins, at))
			out = append(out[:at], append([]byte{ins}, out[at:]...)...)
		default:
			did = append(did, fmt.Sprintf("cut at %d", at))
			out = out[:at]
		}
	}
	return out, strings.Join(did, ", ")
}

// counts returns the distinct record ids stored and the quarantine rows.
func counts(t *testing.T, s sink.Sink) (ids map[string]bool, quarantined int) {
	t.Helper()
	ids = map[string]bool{}
	rows, err := s.Handle().DB.Query(`SELECT id FROM audit_record`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := s.Handle().DB.QueryRow(`SELECT COUNT(*) FROM quarantine`).Scan(&quarantined); err != nil {
		t.Fatal(err)
	}
	return ids, quarantined
}

// loadable returns the ids of the records of a file that normalize: an import must
// store each of them.
func loadable(t *testing.T, path string) []string {
	t.Helper()
	r, c, err := recfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ids []string
	for {
		raw, err := r.Next()
		if err != nil {
			return ids // the end, or damage: damaged records are quarantined
		}
		if rec, err := normalize.Record(raw, normalize.Source{ContentType: "import"}); err == nil {
			ids = append(ids, rec.ID)
		}
	}
}

// TestImportOfDamagedFilesAlwaysBalances is the mutation fuzz of issue 12: the corpus as
// a JSON array, JSON Lines and CSV, damaged at random, imports with every record read
// loaded, already present or quarantined (also when imported again), and the database
// holds every loaded id, on every database.
func TestImportOfDamagedFilesAlwaysBalances(t *testing.T) {
	files := corpusFiles(t)
	for _, drv := range sinktest.Drivers(t) {
		t.Run(drv, func(t *testing.T) {
			t.Parallel()
			s := sinktest.Open(t, drv)
			rounds := 12
			if drv == "sqlite" {
				rounds = 30
			}
			seed := uint64(len(drv))*1000003 + 12
			rng := rand.New(rand.NewPCG(seed, 12))
			dir := t.TempDir()
			var damagedFiles, quarantined, read int
			defer func() {
				t.Logf("%d files (%d damaged), %d records read, %d quarantined; seed %d", 3*rounds, damagedFiles, read, quarantined, seed)
			}()
			for _, name := range slices.Sorted(maps.Keys(files)) {
				content := files[name]
				for round := range rounds {
					data, how := content, "undamaged"
					if round > 0 {
						data, how = mutate(rng, content)
					}
					path := filepath.Join(dir, fmt.Sprintf("%d-%s", round, name))
					if err := os.WriteFile(path, data, 0o600); err != nil {
						t.Fatal(err)
					}
					before, qBefore := counts(t, s)
					for pass, what := range []string{"first import", "repeated import"} {
						sum, err := pipeline.Import(context.Background(), pipeline.ImportOptions{Sink: s, Files: []string{path}, BatchRecords: 50})
						if err != nil {
							t.Fatal(err)
						}
						f := sum.Files[0]
						if pass == 0 {
							read += f.Read
							quarantined += f.Quarantined
							if f.Quarantined > 0 {
								damagedFiles++
							}
						}
						if f.Err != nil || f.NotLoaded != 0 {
							t.Fatalf("%s %s (%s, seed %d): %v, %d not loaded", what, name, how, seed, f.Err, f.NotLoaded)
						}
						if f.Read != f.Loaded+f.Present+f.Quarantined || f.Read == 0 {
							t.Fatalf("%s %s (%s, seed %d): read=%d loaded=%d already_present=%d quarantined=%d does not add up",
								what, name, how, seed, f.Read, f.Loaded, f.Present, f.Quarantined)
						}
						after, qAfter := counts(t, s)
						wantNew, wantQ := f.Loaded, f.Quarantined
						if pass == 1 {
							wantNew, wantQ = 0, 0
							if f.Loaded != 0 {
								t.Fatalf("%s %s (%s): loaded %d again", what, name, how, f.Loaded)
							}
						}
						if len(after)-len(before) != wantNew || qAfter-qBefore != wantQ {
							t.Fatalf("%s %s (%s, seed %d): %d new ids and %d new quarantine rows stored, the summary says loaded=%d quarantined=%d",
								what, name, how, seed, len(after)-len(before), qAfter-qBefore, f.Loaded, f.Quarantined)
						}
						before, qBefore = after, qAfter
					}
					for _, id := range loadable(t, path) {
						if !before[id] {
							t.Fatalf("%s (%s): record %s normalizes but is not stored", name, how, id)
						}
					}
				}
			}
		})
	}
}

// flakySink drops the connection under the first fails loads, as a database restart does.
type flakySink struct {
	sink.Sink
	fails *int
}

func (s flakySink) Load(ctx context.Context, b sink.Batch) (sink.LoadResult, error) {
	if *s.fails > 0 {
		*s.fails--
		return sink.LoadResult{}, fmt.Errorf("writing: %w", driver.ErrBadConn)
	}
	return s.Sink.Load(ctx, b)
}

func TestImportGoesOnThroughARefusedValueAndADroppedConnection(t *testing.T) {
	base := sinktest.Open(t, "sqlite")
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf(`{"Id":"6f1c1a52-0000-4000-8000-%012d","CreationTime":"2026-11-20T10:00:00","Operation":"FileAccessed","OrganizationId":"7b1f4c2e-3a9d-4e61-b0c8-2f5d9a6e1c47","RecordType":6,"UserType":0,"Workload":"SharePoint","UserId":"a@contoso.example"}`, i))
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := "6f1c1a52-0000-4000-8000-000000000004"
	fails := 2
	s := flakySink{Sink: refusingSink{Sink: base, refuse: refused}, fails: &fails}
	sum, err := pipeline.Import(context.Background(), pipeline.ImportOptions{Sink: s, Files: []string{path}, BatchRecords: 100, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := sum.Files[0]
	if f.Err != nil || f.Read != 10 || f.Loaded != 9 || f.Quarantined != 1 || fails != 0 {
		t.Fatalf("want 9 loaded and the refused one quarantined after two dropped connections: %+v (drops left %d)", f, fails)
	}
	var reason string
	if err := base.Handle().DB.QueryRow(`SELECT reason FROM quarantine WHERE record_id = ?`, refused).Scan(&reason); err != nil || !strings.Contains(reason, "user_id") {
		t.Fatalf("quarantine of the refused record: %q, %v", reason, err)
	}
}
