package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/o365ingest/o365ingest/schema"
)

// routeRecord maps a record to its content type by Workload and RecordType.
// (the registry in package schema).
func routeRecord(workload string, recordType int) string {
	return schema.ContentTypeOf(workload, recordType)
}

// loadCorpus serves the records of dir/records/*.jsonl (or dir/*.jsonl)
// unchanged: each line that is a JSON object becomes one array element, byte
// for byte. Records are grouped per content type into blobs of up to 10,
// spread over the last Days.
func (s *Server) loadCorpus(dir string, now time.Time) error {
	if st, err := os.Stat(filepath.Join(dir, "records")); err == nil && st.IsDir() {
		dir = filepath.Join(dir, "records")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("emulator: no *.jsonl records in %s", dir)
	}
	slices.Sort(files)
	per := map[string][]event{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("emulator: reading corpus: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
				continue
			}
			var head struct {
				ID         string          `json:"Id"`
				Workload   string          `json:"Workload"`
				RecordType json.RawMessage `json:"RecordType"`
			}
			if json.Unmarshal(line, &head) != nil || head.ID == "" {
				continue
			}
			rt, _ := strconv.Atoi(string(bytes.Trim(head.RecordType, `"`)))
			ct := routeRecord(head.Workload, rt)
			per[ct] = append(per[ct], event{contentType: ct, at: now, id: head.ID, raw: bytes.Clone(line)})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	span := time.Duration(s.opts.Days)*24*time.Hour - 3*time.Hour
	for _, ct := range ContentTypes {
		evs := per[ct]
		nb := (len(evs) + 9) / 10
		for i := 0; i < nb; i++ {
			chunk := evs[i*10 : min(len(evs), (i+1)*10)]
			created := now.Add(-span + time.Duration(i+1)*span/time.Duration(nb+1))
			s.add(s.newBlob(ct, chunk, created, created))
		}
	}
	return nil
}
