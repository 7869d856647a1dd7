package main

import (
	"io"
	"log/slog"
	"strings"

	"golang.org/x/term"

	"github.com/o365ingest/o365ingest/ingest/escape"
)

// newLogger builds the slog logger: JSON when w is not a terminal (cron, systemd), text
// on a terminal, unless format says otherwise.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if logFormat(w, format) == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logFormat resolves a --log-format value: auto is JSON unless w is a terminal.
func logFormat(w io.Writer, format string) string {
	switch format {
	case "", "auto":
		if isTerminal(w) {
			return "text"
		}
		return "json"
	case "text":
		return "text"
	}
	return "json"
}

// setLogger builds env.Logger from a level and format.
func setLogger(env *Env, level, format string) {
	resolved := logFormat(env.Stderr, format)
	env.logOut = &logWriter{def: env.Stderr}
	env.Logger = newLogger(env.logOut, level, resolved)
	env.JSONLogs = resolved == "json"
	env.JSONSummary = format == "json"
	if env.Stop != nil {
		env.Stop.SetLogger(env.Logger)
	}
}

// rawTerminal returns the writer under an escape.TerminalWriter (stderr), for output
// that drives the terminal on purpose: the progress bar's cursor movements.
func rawTerminal(w io.Writer) io.Writer {
	if t, ok := w.(*escape.TerminalWriter); ok {
		return t.Underlying()
	}
	return w
}

// isTerminal reports whether w is a terminal: an *os.File, or a writer over one that
// tells its descriptor (escape.TerminalWriter, as stderr is).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
