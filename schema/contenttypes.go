package schema

import "slices"

// The content types of the Management Activity API, in its spelling (case-sensitive).
const (
	AuditExchange             = "Audit.Exchange"
	AuditSharePoint           = "Audit.SharePoint"
	AuditAzureActiveDirectory = "Audit.AzureActiveDirectory"
	AuditGeneral              = "Audit.General"
	DLPAll                    = "DLP.All"
)

// ContentType is one content type of the Management Activity API and which records the
// service publishes under it.
type ContentType struct {
	// Name is the API's name, case-sensitive.
	Name string
	// Workloads are the Workload values of its records; empty for a content type chosen
	// by record type alone (DLP.All) or the catch-all (Audit.General).
	Workloads []string
	// RecordTypes, when set, are the only record types of those workloads it holds (for
	// DLP.All: the record types it holds whatever the workload).
	RecordTypes []int
	// CatchAll marks the content type of every record no other one takes.
	CatchAll bool
}

// ContentTypes is the registry of content types, in the order o365ingest subscribes to
// and loads them by default. Config, the API client, the emulator, import and status all
// read it.
var ContentTypes = []ContentType{
	{Name: AuditExchange, Workloads: []string{"Exchange"}, RecordTypes: []int{1, 2, 3, 19, 50}},
	{Name: AuditSharePoint, Workloads: []string{"SharePoint", "OneDrive"}},
	{Name: AuditAzureActiveDirectory, Workloads: []string{"AzureActiveDirectory"}},
	{Name: AuditGeneral, CatchAll: true},
	{Name: DLPAll, RecordTypes: []int{11, 13, 33, 63, 107}},
}

// ContentTypeNames returns the names of the registry, in its order (a fresh slice).
func ContentTypeNames() []string {
	out := make([]string, len(ContentTypes))
	for i, c := range ContentTypes {
		out[i] = c.Name
	}
	return out
}

// LookupContentType returns the content type called name (case-sensitive).
func LookupContentType(name string) (ContentType, bool) {
	for _, c := range ContentTypes {
		if c.Name == name {
			return c, true
		}
	}
	return ContentType{}, false
}

// ContentTypeOf returns the content type the service publishes a record of workload and
// recordType under: a content type chosen by record type alone first (DLP.All), then the
// one of the workload (if it restricts record types, only those), else the catch-all.
func ContentTypeOf(workload string, recordType int) string {
	catchAll := ""
	for _, c := range ContentTypes {
		if len(c.Workloads) == 0 && slices.Contains(c.RecordTypes, recordType) {
			return c.Name
		}
		if c.CatchAll {
			catchAll = c.Name
		}
	}
	for _, c := range ContentTypes {
		if slices.Contains(c.Workloads, workload) && (len(c.RecordTypes) == 0 || slices.Contains(c.RecordTypes, recordType)) {
			return c.Name
		}
	}
	return catchAll
}
