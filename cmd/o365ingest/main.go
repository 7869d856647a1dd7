// Command o365ingest pulls Microsoft 365 unified audit logs from the Office 365 Management
// Activity API and bulk-loads them into SQL: SQLite (the default), PostgreSQL,
// MySQL/MariaDB and SQL Server/Azure SQL.
package main

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/o365ingest/o365ingest/ingest/escape"
	"github.com/o365ingest/o365ingest/ingest/stop"
)

func main() {
	c := stop.New()
	stderr := escape.NewTerminalWriter(os.Stderr)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range sigs {
			c.Signal()
		}
	}()
	c.OnHard(func(string) {
		// A database that does not answer must not hold the process: what the
		// cancelled work has not given up by now is abandoned with the process (an
		// uncommitted transaction dies with its connection).
		time.AfterFunc(hardGrace, func() {
			c.Logger().Error("stopped hard: work still waiting on the database was abandoned; nothing was half committed")
			os.Exit(exitInterrupted)
		})
	})
	code := run(c.Context(), os.Args[1:], &Env{Stdout: os.Stdout, Stderr: stderr, Stdin: os.Stdin, Interactive: isTerminal(os.Stdin), Getenv: os.Getenv, Stop: c})
	os.Exit(code)
}

// hardGrace is how long work cancelled by a hard stop has to return before the process
// exits without it.
const hardGrace = 3 * time.Second

// Exit codes every command uses.
const (
	exitOK          = 0 // everything done
	exitFailure     = 1 // failed
	exitUsage       = 2 // bad command line or config
	exitIncomplete  = 3 // ran, but some data is known to be missing (expired or failed blobs)
	exitInterrupted = 4 // stopped by SIGINT/SIGTERM; nothing half-done was committed
)

// Env is what a command may touch of the outside world; tests inject their own.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is read by the commands that ask before acting (prune); nil reads nothing.
	Stdin io.Reader
	// Interactive says Stdin is a terminal a person answers on; off a terminal, such
	// commands refuse unless told --yes.
	Interactive bool
	// Logger is set by run from the global flags and the config's log section.
	Logger *slog.Logger
	// Getenv reads the environment (only config resolution and sink selection use it).
	Getenv func(string) string
	// ConfigPath is the --config value (or O365INGEST_CONFIG), "" when none.
	ConfigPath string
	// LogLevel and LogFormat are the --log-level and --log-format values ("" = config/default).
	LogLevel, LogFormat string
	// JSONLogs is set when Logger writes JSON: errors are then log lines too, so that
	// every line of stderr parses.
	JSONLogs bool
	// JSONSummary is set by an explicit --log-format json (or log.format: json): the
	// summary on stdout is then one JSON object. With auto it stays the key=value lines
	// that scripts read.
	JSONSummary bool
	// Stop is the process's shutdown (nil in tests that call run directly); loading the
	// config sets its timeout.
	Stop *stop.Controller

	logOut *logWriter // the logger's output: stderr, or above a progress bar
}

// logTo sends the logs to w (a running progress bar), or back to stderr when w is nil.
func (env *Env) logTo(w io.Writer) {
	if env.logOut == nil {
		return
	}
	env.logOut.mu.Lock()
	env.logOut.to = w
	env.logOut.mu.Unlock()
}
