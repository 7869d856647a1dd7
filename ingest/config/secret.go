package config

import (
	"fmt"
	"log/slog"
	"strconv"
)

// redacted is what every rendering of a non-empty Secret prints.
const redacted = "[redacted]"

// Secret holds a credential (a client secret, a certificate password, a DSN
// that may carry a password). Every way of printing it — fmt verbs including
// %v, %+v, %#v, %s, %q and %x, JSON, text and YAML marshalling, and slog —
// renders "[redacted]" when it is set and "" when it is empty, so a Config can
// be logged or dumped without leaking. Code that needs the value calls Reveal.
type Secret string

// Reveal returns the secret value. Call it only where the value is used
// (building a token request, opening a database), never to print it.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

// String renders "[redacted]" for a set secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString renders the secret for %#v as a quoted "[redacted]" (or ""),
// keeping %#v output valid Go syntax without the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format implements fmt.Formatter so that no verb, not even %x or %d,
// reaches the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(s.GoString()))
	case verb == 'q':
		_, _ = f.Write([]byte(strconv.Quote(s.String())))
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// MarshalJSON renders the secret as the JSON string "[redacted]" (or "").
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText renders "[redacted]" (or ""); YAML and other text encoders use it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue renders the secret for log/slog as "[redacted]" (or "").
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
