package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/o365ingest/o365ingest/schema"
)

// contentIDSize is what the content_id columns hold (content_blob, quarantine,
// audit_record), in characters.
var contentIDSize = func() int {
	c, _ := schema.ContentBlob.Column("content_id")
	return c.Size
}()

// contentKey is the content id the database keeps for an id the API listed: the id
// itself when every database can store it as a key (at most contentIDSize characters
// of valid UTF-8, no control characters), else "sha256:" and the hex sha256 of its
// bytes. Any id can so be ledgered, quarantined and found again by the next pass. note
// is "" for an id kept as it is; else it says what was done and quotes the original,
// for the ledger row's reason.
func contentKey(id string) (key, note string) {
	if fitsKey(id) {
		return id, ""
	}
	sum := sha256.Sum256([]byte(id))
	key = "sha256:" + hex.EncodeToString(sum[:])
	return key, fmt.Sprintf("contentId of %d bytes cannot be a key (over %d characters, invalid UTF-8 or control characters): stored as %s; the original: %q",
		len(id), contentIDSize, key, id)
}

func fitsKey(id string) bool {
	if id == "" || len(id) > 4*contentIDSize || !utf8.ValidString(id) || utf8.RuneCountInString(id) > contentIDSize {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// withNote joins a contentKey note and a reason.
func withNote(note, reason string) string {
	switch {
	case note == "":
		return reason
	case reason == "":
		return note
	}
	return reason + "; " + note
}
