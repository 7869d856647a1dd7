package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// stallingProxy forwards TCP connections to target until stall is called; from then on
// it forwards nothing in either direction and keeps every connection open, as a database
// server that hangs (or a network that drops packets) does.
type stallingProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *stallingProxy) addr() string { return p.ln.Addr().String() }

func (p *stallingProxy) stall() { p.stalled.Store(true) }

func (p *stallingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst until the proxy stalls; then it reads and drops nothing more:
// the bytes wait in the kernel, unanswered.
func (p *stallingProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		if p.stalled.Load() {
			<-make(chan struct{}) // hold the connection open, forever
		}
		src.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		} else if n > 0 {
			<-make(chan struct{})
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			if err != io.EOF {
				return
			}
			return
		}
	}
}

func (p *stallingProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// viaProxy rewrites a PostgreSQL URL DSN to connect through addr.
func viaProxy(t *testing.T, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// TestAStalledDatabaseCannotHoldTheProcess: PostgreSQL stops answering mid-backfill
// (a TCP proxy in front of it stalls). The first SIGTERM stops softly, and after
// ingest.shutdown_timeout the stop turns hard; a second SIGTERM turns it hard at once.
// Either way the process exits 4 and says what it abandoned, and the database holds no
// record without its ledger row.
func TestAStalledDatabaseCannotHoldTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, c := range []struct {
		name    string
		timeout string
		second  bool
		within  time.Duration
	}{
		{"the shutdown timeout turns the first SIGTERM hard", "2s", false, 12 * time.Second},
		{"a second SIGTERM stops hard at once", "1h", true, 10 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn := sinktest.DSN(t, "postgres")
			u, _ := url.Parse(dsn)
			proxy := newStallingProxy(t, u.Host)
			e := startEmulator(t, "--seed", "14", "--records-per-day", "3000", "--days", "3", "--latency", "20ms")
			cfg := e.writeConfig(t, "  shutdown_timeout: "+c.timeout+"\n")
			cmd := exec.Command(binary(t), "--config", cfg, "--log-level", "warn", "backfill", "--since", "3d",
				"--sink", "postgres", "--dsn", viaProxy(t, dsn, proxy.addr()))
			cmd.Env = append(os.Environ(), "E2E_SECRET="+e.secret)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			waitForRecords(t, dsn, exited, &out)
			proxy.stall()
			time.Sleep(300 * time.Millisecond) // let the next batch run into the stall
			sent := time.Now()
			cmd.Process.Signal(syscall.SIGTERM)
			if c.second {
				time.Sleep(500 * time.Millisecond)
				cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case <-exited:
			case <-time.After(c.within + 20*time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running %v after SIGTERM against a stalled database:\n%s", time.Since(sent), out.String())
			}
			took := time.Since(sent)
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
				t.Fatalf("exit code %d, want %d:\n%s", code, exitInterrupted, out.String())
			}
			if took > c.within {
				t.Errorf("took %v to stop, want under %v", took, c.within)
			}
			if !strings.Contains(out.String(), "stopping hard") || !strings.Contains(out.String(), "abandoned") {
				t.Errorf("the hard stop is not reported:\n%s", out.String())
			}
			t.Logf("stopped %v after the first SIGTERM:\n%s", took.Round(time.Millisecond), out.String())
			assertNothingHalfCommitted(t, dsn)
		})
	}
}

// waitForRecords waits until the backfill has stored some records.
func waitForRecords(t *testing.T, dsn string, exited <-chan error, out *bytes.Buffer) {
	t.Helper()
	s, err := sink.Open(context.Background(), "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("the backfill ended before the database stalled:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		var n int
		if err := s.Handle().DB.QueryRow(`SELECT COUNT(*) FROM audit_record`).Scan(&n); err == nil && n > 0 {
			return
		}
	}
	t.Fatalf("no record stored after 60s:\n%s", out.String())
}

// assertNothingHalfCommitted checks that every stored record came with its blob's ledger
// row (records and ledger commit together).
func assertNothingHalfCommitted(t *testing.T, dsn string) {
	t.Helper()
	s, err := sink.Open(context.Background(), "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var orphans, records int
	if err := s.Handle().DB.QueryRow(`SELECT COUNT(*) FROM audit_record r WHERE NOT EXISTS
		(SELECT 1 FROM content_blob b WHERE b.content_id = r.content_id AND b.status = 'loaded')`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle().DB.QueryRow(`SELECT COUNT(*) FROM audit_record`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || records == 0 {
		t.Fatalf("%d of %d records have no loaded ledger row", orphans, records)
	}
}
