package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/pipeline"
)

// TestSummaryNamesTheFailedUnit: the text and the JSON summary name a failed unit, its
// step, its cause and the permission it lacks.
func TestSummaryNamesTheFailedUnit(t *testing.T) {
	sum := &pipeline.Summary{BlobsListed: 4, BlobsLoaded: 4, UnitsOK: 4, Errors: []error{&pipeline.UnitError{
		Tenant: "contoso", ContentType: "DLP.All", Step: "starting the subscription",
		Cause:      "missing permission ActivityFeed.ReadDlp (Office 365 Management APIs application permission, with admin consent)",
		Permission: "ActivityFeed.ReadDlp", Err: errors.New("api: HTTP 401 AF10001")}}}
	var text bytes.Buffer
	printSummary(&text, "run", sum)
	if !strings.Contains(text.String(), `run: unit failed tenant=contoso content_type=DLP.All step="starting the subscription" cause="missing permission ActivityFeed.ReadDlp`) {
		t.Errorf("text summary:\n%s", text.String())
	}
	var js bytes.Buffer
	printSummaryJSON(&js, "run", sum, -1)
	var out struct {
		Missing bool `json:"data_missing"`
		Units   []struct {
			Tenant      string `json:"tenant"`
			ContentType string `json:"content_type"`
			Permission  string `json:"missing_permission"`
			Throttled   bool   `json:"throttled"`
		} `json:"units_failed"`
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Missing || len(out.Units) != 1 || out.Units[0].ContentType != "DLP.All" || out.Units[0].Permission != "ActivityFeed.ReadDlp" || out.Units[0].Throttled {
		t.Errorf("JSON summary %s", js.String())
	}
}
