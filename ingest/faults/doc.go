// Package faults holds the fault suite of o365ingest: scenario tests that run the real
// pipeline (pipeline.Run) against the API emulator, with a fault-injecting HTTP layer in
// front of it, into real databases (SQLite always; PostgreSQL and MariaDB through
// sinktest). Every scenario ends the same way: the record ids in audit_record (and
// quarantine) must equal the emulator's truth, each once, or every difference must be
// accounted for in the ledger (a blob expired before it was fetched, or failed with its
// reason) and reported by the pass's outcome.
//
// The package has no code outside its tests. A longer soak repeats the scenarios with
// random seeds for a while:
//
//	O365INGEST_SOAK=5m go test -run TestSoak -timeout 0 ./ingest/faults/
package faults
