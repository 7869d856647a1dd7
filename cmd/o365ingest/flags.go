package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/o365ingest/o365ingest/ingest/config"
)

// listFlag is a repeatable or comma-separated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// parseFlags parses a command's flags; --help prints usage and exits 0, a bad flag 2.
// It returns ok=false with the exit code when the command must stop.
func parseFlags(fs *flag.FlagSet, env *Env, args []string, synopsis string) (int, bool) {
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: o365ingest %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprint(out, "\nGlobal flags: --config FILE, --log-level L, --log-format F (see o365ingest --help).\n")
	}
	// --help goes to stdout with exit 0; the flag package would print it to stderr.
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return exitOK, false
		}
	}
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// parseInterspersed parses flags wherever they stand among the arguments
// (import FILE --sink postgres, subscriptions stop --content-type DLP.All); "--" ends
// the flags, and everything after it is an argument even when it starts with "-".
// Afterwards fs.Args() holds the arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse stopped at a non-flag, or after a "--" it consumed: tell them apart by
		// what it consumed (a flag value "--" is not a terminator).
		if consumed := args[:len(args)-len(rest)]; endsWithTerminator(fs, consumed) {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the arguments where fs.Args() finds them; flags already set stay set.
	return fs.Parse(append([]string{"--"}, positional...))
}

// endsWithTerminator reports whether the last of the arguments fs.Parse consumed is the
// "--" that ends the flags, rather than the value of a flag.
func endsWithTerminator(fs *flag.FlagSet, consumed []string) bool {
	for i := 0; i < len(consumed); i++ {
		a := consumed[i]
		if a == "--" {
			return i == len(consumed)-1
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasValue {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			i++ // its value is the next argument
		}
	}
	return false
}

// usageError prints a usage problem and returns the usage exit code.
func usageError(env *Env, format string, args ...any) int {
	fmt.Fprintf(env.Stderr, "o365ingest: "+format+"\n", args...)
	return exitUsage
}

// parseSince parses a positive duration: "7d", "36h", "90m" (config.ParseDuration).
func parseSince(s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q (want e.g. 7d, 36h, 90m)", s)
	}
	return d, nil
}

// parseTime parses a --from/--to value: RFC 3339, or a date, or a zone-less date-time (UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339 like 2026-11-20T00:00:00Z, or 2026-11-20)", s)
}
