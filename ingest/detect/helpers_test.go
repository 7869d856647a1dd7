package detect_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/o365ingest/o365ingest/ingest/normalize"
	"github.com/o365ingest/o365ingest/schema"
)

// Builders of raw records in the API's shape, small enough to read in a table.

var idSeq int

func nextID(prefix string) string {
	idSeq++
	return fmt.Sprintf("%s-%04d", prefix, idSeq)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

func marshal(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func nv(pairs ...string) []map[string]string {
	var out []map[string]string
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]string{"Name": pairs[i], "Value": pairs[i+1]})
	}
	return out
}

// exo is an Exchange admin cmdlet record (RecordType 1) with Parameters name/value pairs.
func exo(id string, at time.Time, user, ip, op string, params ...string) string {
	return marshal(map[string]any{"Id": id, "CreationTime": ts(at), "Operation": op, "RecordType": 1, "ResultStatus": "True",
		"UserType": 2, "Workload": "Exchange", "UserId": user, "ClientIP": ip, "ObjectId": user, "OrganizationName": "contoso.example",
		"Parameters": nv(params...)})
}

// outlook is an UpdateInboxRules mailbox record (RecordType 2) with OperationProperties.
func outlook(id string, at time.Time, user, ip string, props ...string) string {
	return marshal(map[string]any{"Id": id, "CreationTime": ts(at), "Operation": "UpdateInboxRules", "RecordType": 2, "ResultStatus": "Succeeded",
		"UserType": 0, "Workload": "Exchange", "UserId": user, "ClientIP": ip, "MailboxOwnerUPN": user, "LogonType": 0,
		"ClientInfoString": "Client=MSExchangeRPC", "OperationProperties": nv(props...)})
}

// signin is an Entra sign-in (RecordType 15), successful or failed.
func signin(id string, at time.Time, user, ip string, ok bool) string {
	op, errNo, status := "UserLoggedIn", "0", "Success"
	if !ok {
		op, errNo, status = "UserLoginFailed", "50126", "Failed"
	}
	return marshal(map[string]any{"Id": id, "CreationTime": ts(at), "Operation": op, "RecordType": 15, "ResultStatus": status,
		"UserType": 0, "Workload": "AzureActiveDirectory", "UserId": user, "ClientIP": ip, "ErrorNumber": errNo,
		"ApplicationId": "89bee1f7-5e6e-4d8a-9f3d-ecd601259da7", "ObjectId": "00000003-0000-0000-c000-000000000000",
		"ExtendedProperties": nv("UserAgent", "Mozilla/5.0", "RequestType", "OAuth2:Authorize", "ResultStatusDetail", "Success"),
		"DeviceProperties":   nv("OS", "Windows10", "BrowserType", "Edge", "IsCompliantAndManaged", "False", "SessionId", "s-"+id),
		"Actor":              []map[string]any{{"ID": user, "Type": 5}}})
}

// aad is an Entra directory audit record (RecordType 8).
func aad(id string, at time.Time, actor, op, status, target string, extra map[string]any) string {
	m := map[string]any{"Id": id, "CreationTime": ts(at), "Operation": op, "RecordType": 8, "ResultStatus": status,
		"UserType": 0, "Workload": "AzureActiveDirectory", "UserId": actor, "ClientIP": "192.0.2.10", "ObjectId": target,
		"Actor":  []map[string]any{{"ID": actor, "Type": 5}},
		"Target": []map[string]any{{"ID": target, "Type": 5}}}
	for k, v := range extra {
		m[k] = v
	}
	return marshal(m)
}

// mod builds ModifiedProperties from name, new, old triples.
func mod(triples ...string) []map[string]string {
	var out []map[string]string
	for i := 0; i+2 < len(triples); i += 3 {
		out = append(out, map[string]string{"Name": triples[i], "NewValue": triples[i+1], "OldValue": triples[i+2]})
	}
	return out
}

// spo is a SharePoint/OneDrive file or sharing record.
func spo(id string, at time.Time, user, op string, file string) string {
	rt := 6
	if op == "AnonymousLinkCreated" || op == "SharingSet" {
		rt = 14
	}
	return marshal(map[string]any{"Id": id, "CreationTime": ts(at), "Operation": op, "RecordType": rt,
		"UserType": 0, "Workload": "SharePoint", "UserId": user, "ClientIP": "192.0.2.10",
		"ObjectId": "https://contoso.sharepoint.com/sites/Finance/Shared Documents/" + file, "SiteUrl": "https://contoso.sharepoint.com/sites/Finance/",
		"SourceRelativeUrl": "Shared Documents", "SourceFileName": file, "SourceFileExtension": "xlsx", "ItemType": "File", "EventSource": "SharePoint",
		"UserAgent": "Mozilla/5.0"})
}

type detecttestDB struct {
	DB      *sql.DB
	dialect string
}

// normalizeForTenant normalizes a record whose OrganizationId names its tenant (as an
// import does).
func normalizeForTenant(raw string) (schema.Record, error) {
	return normalize.Record([]byte(raw), normalize.Source{ContentType: "import", ContentID: "test", IngestedAt: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)})
}
