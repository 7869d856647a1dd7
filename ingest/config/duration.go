package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads and writes a day suffix as well as
// the units of time.ParseDuration: "7d", "1d12h", "36h", "90m".
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String renders whole days as "7d" and anything else as time.Duration does.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// ParseDuration parses a duration with an optional leading day count:
// "7d", "1d12h", "36h", "90m", "1h30m". A bare number ("7") is rejected: the
// unit is required. Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 36h, 90m)", s)
	}
	var days time.Duration
	rest := in
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		n, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 36h, 90m)", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		d, err = time.ParseDuration(rest)
		if err != nil || d < 0 || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 7d, 36h, 90m)", s)
		}
	}
	return days + d, nil
}

// UnmarshalText parses the text form accepted by ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText renders d as String does, so it round-trips through YAML and JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML parses a YAML scalar with ParseDuration. Errors carry the
// line and are collected with the decoder's other type errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration such as 7d, 36h or 90m", n.Line)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
	return nil
}
