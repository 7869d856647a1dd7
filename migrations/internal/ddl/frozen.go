package ddl

// Versions 1 to 3 were released before the generator wrote every file, so their files
// are frozen: the generator reproduces them byte for byte (their headers, written by
// hand then, are kept here verbatim) and FrozenSHA256 holds each file's hash as released,
// so a declaration in package schema that would change a released file fails the
// migrations tests instead of silently rewriting history.

// FrozenSHA256 is the SHA-256 (hex) of every released file, by "<dialect>/<file name>".
var FrozenSHA256 = map[string]string{
	"mysql/00001_init.sql":       "0e6c889597cab07b6045a8dd3391f816f4900be287509dc28b0f438b8188f6c8",
	"mysql/00002_views.sql":      "41f849810abeaa50c18eaa88379ad4cd48776f3d91e3f2db8670b0b4e2229b20",
	"mysql/00003_alerts.sql":     "a60557d41d1c1470a93131f51775954ab93196876ff1e4ea3a21189b70e78751",
	"postgres/00001_init.sql":    "e285d65d858f88a1a538061f3267ad43467ee646eed52cfaa8a5aa053e1b89e4",
	"postgres/00002_views.sql":   "53b96a1702c893023f49d01bdd1c785ac5d430150a31b5f126c4111e058233fc",
	"postgres/00003_alerts.sql":  "c0eec66702d651956855319c4097cf25cd438e1068e20370dd318515fe652db2",
	"sqlite/00001_init.sql":      "e2d07f17b13f882c5dc9c86275d879e77b3d82ec3792122c5a5e460edd9290cd",
	"sqlite/00002_views.sql":     "8116990e480d171413b096e9d51f3ade433ef3f58e335c3f45be05877c9301c2",
	"sqlite/00003_alerts.sql":    "bdcbf11bea8fe806e93c01104a3d53ff1b83c7a6fcc942117dacdf8ad09b7dad",
	"sqlserver/00001_init.sql":   "9fcd8cad043ef97ec31ad0867d154112de44b7f73f23d9fc90b18a97ffee3e97",
	"sqlserver/00002_views.sql":  "47430d934b31dc14117b1e9ef7f1d3971ca8f55c5a045a18f0dc6b06ed1c6c72",
	"sqlserver/00003_alerts.sql": "9ec7778da1c0cba52330095a72faf1b62542e5377e39aa03fefe285a4556bcc7",
}

// FrozenVersions is the last released version whose files are frozen.
const FrozenVersions = 3

// frozenHeaders are the released files' first lines, by version.
var frozenHeaders = map[int]func(dialect string) string{
	1: func(d string) string {
		h := Header + "-- Every table of package schema (see migrations/README.md for the type map).\n"
		switch d {
		case MySQL:
			h += "-- MySQL commits each DDL statement implicitly, so every statement is re-runnable\n-- (IF NOT EXISTS) in case a run stops halfway.\n"
		case SQLite:
			h += "-- Times are TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC, which sorts and compares\n-- correctly as text and is understood by SQLite's date functions.\n"
		}
		return h
	},
	2: func(string) string {
		return "-- Investigation views (documented in ingest/detect/README.md). Written by hand, not by\n" +
			"-- migrations/internal/gen: the same view names and columns on every database (schema.Views),\n" +
			"-- checked by ingest/detect's tests. Name/Value properties are read with correlated subqueries\n" +
			"-- on audit_property's primary key; flags are 1/0 (NULL when the record does not set them).\n"
	},
	3: func(d string) string {
		h := "-- Alerts raised by the detection rules and their delivery to webhooks (schema.Alert,\n" +
			"-- schema.AlertDelivery; see ingest/detect). Written by hand, not by migrations/internal/gen.\n"
		if d == MySQL {
			h += "-- MySQL commits each DDL statement implicitly, so each one is re-runnable.\n"
		}
		return h
	},
}
