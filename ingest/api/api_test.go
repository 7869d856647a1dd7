package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/o365ingest/o365ingest/ingest/api"
	"github.com/o365ingest/o365ingest/ingest/emulator"
	"github.com/o365ingest/o365ingest/internal/corpus"
)

const tenant = "41463f53-8812-40f4-890f-865bf6e35190"

func corpusAPI(t *testing.T) string {
	t.Helper()
	return filepath.Join(corpus.Dir(t), "api")
}

// recorded splits a recorded .http response into status, headers and body.
func recorded(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	head, body, _ := strings.Cut(s, "\n\n")
	lines := strings.Split(strings.TrimSpace(head), "\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 {
		t.Fatalf("%s: status line %q", path, lines[0])
	}
	status, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("%s: status line %q", path, lines[0])
	}
	h := http.Header{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		h[k] = append(h[k], strings.TrimSpace(v)) // raw casing, as on the wire
	}
	return status, h, body
}

// fake is an httptest server with a token endpoint and a programmable API.
func fake(t *testing.T, api http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok"}`)
			return
		}
		api(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, base string, mod func(*api.Config)) *api.Client {
	t.Helper()
	cfg := api.Config{TenantID: tenant, ClientID: "app", ClientSecret: "s", APIURL: base, LoginURL: base,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, MaxRetries: 2, RateLimit: -1}
	if mod != nil {
		mod(&cfg)
	}
	c, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReplayListingFollowsNextPageUriAndNextPageUrl(t *testing.T) {
	dir := corpusAPI(t)
	_, pageHdr, _ := recorded(t, filepath.Join(dir, "msdocs-list-content-nextpage.response-headers.http"))
	status, hdr, body := recorded(t, filepath.Join(dir, "msdocs-list-content.response.http"))
	// The docs elide further elements with "...": keep the first one.
	body = regexp.MustCompile(`\},\s*\.\.\.\s*\]`).ReplaceAllString(body, "}]")
	for _, name := range []string{"NextPageUri", "NextPageUrl"} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			var srv *httptest.Server
			srv = fake(t, func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if !strings.EqualFold(r.URL.Query().Get("PublisherIdentifier"), tenant) {
					t.Errorf("call %d lacks PublisherIdentifier: %s", n, r.URL)
				}
				for k, v := range hdr {
					w.Header()[k] = v
				}
				if n == 1 {
					next := strings.Replace(pageHdr["NextPageUri"][0], "https://manage.office.com", srv.URL, 1)
					next = strings.Replace(next, "{tenant_id}", tenant, 1)
					w.Header()[name] = []string{next} // exact casing on the wire
				} else if r.URL.Query().Get("nextPage") != "2015101900R022885001761" {
					t.Errorf("second page requested without the token: %s", r.URL)
				}
				w.WriteHeader(status)
				io.WriteString(w, strings.ReplaceAll(body, "https://manage.office.com", srv.URL))
			})
			c := client(t, srv.URL, nil)
			start := time.Date(2015, 5, 23, 0, 0, 0, 0, time.UTC)
			blobs, err := c.ListContent(context.Background(), "Audit.SharePoint", start, start.Add(api.MaxWindow))
			if err != nil {
				t.Fatal(err)
			}
			if calls.Load() != 2 || len(blobs) != 2 {
				t.Fatalf("%d calls, %d blobs", calls.Load(), len(blobs))
			}
			b := blobs[0]
			if b.ContentType != "Audit.SharePoint" || !strings.HasPrefix(b.ContentID, "492638008028$") ||
				!b.Created.Equal(time.Date(2015, 5, 23, 17, 35, 0, 0, time.UTC)) || !b.Expiration.Equal(time.Date(2015, 5, 30, 17, 35, 0, 0, time.UTC)) {
				t.Errorf("parsed %+v", b)
			}
		})
	}
}

func TestReplayErrorBodies(t *testing.T) {
	dir := corpusAPI(t)
	af, err := os.ReadFile(filepath.Join(dir, "msdocs-error-AF50000.response.json"))
	if err != nil {
		t.Fatal(err)
	}
	quoted, err := os.ReadFile(filepath.Join(dir, "issue-quoted-error-bodies.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The single-line o365beat body (cut by the excerpt; close it again).
	m := regexp.MustCompile(`(?m)^\{"error":\{"code":"StartSubscription.*$`).Find(quoted)
	if m == nil {
		t.Fatal("quoted body not found")
	}
	notExist := string(m)
	if i := strings.LastIndex(notExist, `\r\n`); i > 0 {
		notExist = notExist[:i] + `"}}`
	}
	if !json.Valid([]byte(notExist)) {
		t.Fatalf("could not rebuild %s", notExist)
	}
	t.Run("AF50000 is transient, retried, then reported verbatim", func(t *testing.T) {
		var calls atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(500)
			w.Write(af)
		})
		err := client(t, srv.URL, nil).StartSubscription(context.Background(), "Audit.Exchange")
		var e *api.APIError
		if !errors.As(err, &e) || e.Code != "AF50000" || e.Message != "An internal server error occurred. Retry the request." || e.Status != 500 || !api.IsTransient(err) {
			t.Fatalf("got %v", err)
		}
		if calls.Load() != 3 {
			t.Errorf("%d calls, want 1 + 2 retries", calls.Load())
		}
	})
	t.Run("tenant does not exist hints at audit logging", func(t *testing.T) {
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, notExist)
		})
		err := client(t, srv.URL, nil).StartSubscription(context.Background(), "Audit.AzureActiveDirectory")
		var e *api.APIError
		if !errors.As(err, &e) || !api.IsConfig(err) || !strings.Contains(e.Hint, "audit logging") ||
			!strings.Contains(e.Message, "StartSubscription [CorrId=ID]") || !strings.Contains(e.Message, "Tenant ID does not exist.") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("AF20024 on start is success", func(t *testing.T) {
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"AF20024","message":"The subscription is already enabled. No property change."}}`)
		})
		if err := client(t, srv.URL, nil).StartSubscription(context.Background(), "Audit.Exchange"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AF10001 hints at the permission and is not retried", func(t *testing.T) {
		var calls atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(403)
			io.WriteString(w, `{"error":{"code":"AF10001","message":"The permission set () sent in the request did not include the expected permission ActivityFeed.Read."}}`)
		})
		_, err := client(t, srv.URL, nil).ListSubscriptions(context.Background())
		var e *api.APIError
		if !errors.As(err, &e) || !strings.Contains(e.Hint, "ActivityFeed.Read") || calls.Load() != 1 {
			t.Fatalf("got %v after %d calls", err, calls.Load())
		}
	})
	t.Run("a listing that is not strict JSON is retried, then reported", func(t *testing.T) {
		bad, _ := os.ReadFile(filepath.Join(dir, "msdocs-troubleshooting-content-listing.not-strict-json.txt"))
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) { w.Write(bad) })
		now := time.Now()
		_, err := client(t, srv.URL, nil).ListContent(context.Background(), "Audit.SharePoint", now.Add(-time.Hour), now)
		if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("expired and missing blobs are reported, not retried; a bare 404 is retried and only fails", func(t *testing.T) {
		var calls atomic.Int32
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			switch {
			case strings.HasSuffix(r.URL.Path, "bare"):
				w.WriteHeader(404)
				io.WriteString(w, "<html><body>404 Not Found</body></html>")
			case strings.HasSuffix(r.URL.Path, "gone"):
				w.WriteHeader(404)
				io.WriteString(w, `{"error":{"code":"AF20050","message":"The specified content (gone) does not exist."}}`)
			default:
				w.WriteHeader(400)
				io.WriteString(w, `{"error":{"code":"AF20051","message":"Content requested with the key x$y has already expired. Content older than 7 days cannot be retrieved."}}`)
			}
		})
		c := client(t, srv.URL, nil)
		blob := func(id string) api.ContentBlob {
			return api.ContentBlob{ContentID: id, ContentURI: srv.URL + "/api/v1.0/" + tenant + "/activity/feed/audit/" + id}
		}
		_, err := c.FetchBlob(context.Background(), blob("x$y"), nil)
		if !api.IsExpired(err) {
			t.Errorf("got %v", err)
		}
		_, err = c.FetchBlob(context.Background(), blob("gone"), nil)
		if !api.IsNotFound(err) || calls.Load() != 2 {
			t.Errorf("got %v after %d calls", err, calls.Load())
		}
		_, err = c.FetchBlob(context.Background(), blob("bare"), nil)
		if err == nil || api.IsNotFound(err) || api.IsExpired(err) || calls.Load() != 2+3 {
			t.Errorf("bare 404: got %v after %d calls; want a failure (not expiry) after 1 + 2 retries", err, calls.Load()-2)
		}
	})
	t.Run("a contentUri on another host never gets the token: the URI is rebuilt from the API base", func(t *testing.T) {
		var paths []string
		srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
			paths = append(paths, r.URL.Path+"?"+r.URL.RawQuery)
			io.WriteString(w, `[{"Id":"1"}]`)
		})
		for _, foreign := range []string{"http://localhost/api/v1.0/" + tenant + "/activity/feed/audit/a$b", "https://evil.example/a$b"} {
			paths = nil
			st, err := client(t, srv.URL, nil).FetchBlob(context.Background(), api.ContentBlob{ContentID: "a$b", ContentURI: foreign}, func(json.RawMessage, int) error { return nil })
			want := "/api/v1.0/" + tenant + "/activity/feed/audit/a$b?PublisherIdentifier=" + tenant
			if err != nil || st.Records != 1 || len(paths) != 1 || paths[0] != want {
				t.Errorf("contentUri %s: err %v, stats %+v, requests %q; want one request to %s", foreign, err, st, paths, want)
			}
		}
	})
}

func TestFetchBlobStreamsRecordsExactlyOnce(t *testing.T) {
	body := "[{\"Id\":\"a\"}, 42 ,\n{\"Id\":\"b\",\"X\":[1,2]}]\n"
	var calls atomic.Int32
	srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1: // cut short of its Content-Length
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, body[:20])
		case 2:
			io.WriteString(w, `{"not":"an array"}`)
		default:
			io.WriteString(w, body)
		}
	})
	var logs bytes.Buffer
	c := client(t, srv.URL, func(c *api.Config) {
		c.MaxRetries = 3
		c.SpoolMemory = 8 // force the temp-file spool
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	var archive bytes.Buffer
	var got []string
	st, err := c.FetchBlobWith(context.Background(), api.ContentBlob{ContentType: "Audit.General", ContentID: "c$1", ContentURI: srv.URL + "/api/v1.0/" + tenant + "/activity/feed/audit/c$1"},
		api.FetchOptions{Archive: &archive}, func(rec json.RawMessage, i int) error {
			got = append(got, string(rec))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"Id":"a"}`, `42`, `{"Id":"b","X":[1,2]}`}
	if strings.Join(got, "|") != strings.Join(want, "|") || st.Records != 3 || st.Attempts != 3 || st.Bytes != int64(len(body)) || archive.String() != body || len(st.SHA256) != 64 {
		t.Errorf("got %q, stats %+v, archive %q", got, st, archive.String())
	}
	if !strings.Contains(logs.String(), "retrying fetching blob") || !strings.Contains(logs.String(), "blob=c$1") {
		t.Errorf("retries not logged: %s", logs.String())
	}
	srv2 := fake(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>oops</html>") })
	_, err = client(t, srv2.URL, nil).FetchBlob(context.Background(), api.ContentBlob{ContentID: "d$1", ContentURI: srv2.URL + "/x/d$1"}, func(json.RawMessage, int) error { return nil })
	if !errors.Is(err, api.ErrMalformedBlob) {
		t.Errorf("unparseable blob: %v", err)
	}
}

func selfSigned(t *testing.T) (*rsa.PrivateKey, *x509.Certificate, []byte, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "o365ingest test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return key, cert, certPEM, keyPEM
}

func TestCertificateAuthAgainstTheEmulator(t *testing.T) {
	key, cert, certPEM, keyPEM := selfSigned(t)
	emu, err := emulator.New(emulator.Options{Seed: 1, RecordsPerDay: 50, Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	base, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	mk := func(mod func(*api.Config)) *api.Client {
		cfg := api.Config{TenantID: emu.TenantID(), ClientID: emu.ClientID(), APIURL: base, LoginURL: base, RateLimit: -1,
			BackoffBase: time.Millisecond, MaxRetries: 1}
		mod(&cfg)
		c, err := api.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	t.Run("PEM certificate and key", func(t *testing.T) {
		c := mk(func(c *api.Config) { c.CertificatePEM, c.PrivateKeyPEM = certPEM, keyPEM })
		if _, err := c.EnsureSubscriptions(ctx, api.ContentTypes); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("PKCS#12", func(t *testing.T) {
		pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pw")
		if err != nil {
			t.Fatal(err)
		}
		c := mk(func(c *api.Config) { c.PKCS12, c.PKCS12Password = pfx, "pw" })
		if err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "app.pfx")
		os.WriteFile(p, pfx, 0o600)
		if lc, err := api.LoadCertificate(p, "", "pw"); err != nil || !lc.Cert.Equal(cert) {
			t.Fatalf("LoadCertificate: %v", err)
		}
		if _, err := api.LoadCertificate(p, "", "wrong"); err == nil {
			t.Error("wrong PKCS#12 password accepted")
		}
	})
	t.Run("a key the certificate does not match is rejected", func(t *testing.T) {
		_, other, otherCert, otherKey := selfSigned(t)
		_ = other
		c := mk(func(c *api.Config) { c.CertificatePEM, c.PrivateKeyPEM = otherCert, otherKey })
		err := c.Token(ctx)
		var e *api.APIError
		if !errors.As(err, &e) || e.Code != "AADSTS700027" || !api.IsConfig(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a wrong secret says so", func(t *testing.T) {
		c := mk(func(c *api.Config) { c.ClientSecret = "nope" })
		err := c.Token(ctx)
		var e *api.APIError
		if !errors.As(err, &e) || e.Code != "AADSTS7000215" || !strings.Contains(e.Hint, "secret") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "nope") {
			t.Error("secret shown in error")
		}
	})
}

func TestRateLimiterAndCancellation(t *testing.T) {
	var calls atomic.Int32
	srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "[]")
	})
	// 60 a minute: a burst of 10, then one a second.
	c := client(t, srv.URL, func(c *api.Config) { c.RateLimit = 60; c.PublisherID = "00000000-0000-4000-8000-00000000a001" })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var err error
	for range 20 {
		if _, err = c.ListSubscriptions(ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) || calls.Load() != 10 {
		t.Errorf("after %d calls: %v; want the burst of 10 then a cancelled wait", calls.Load(), err)
	}
	// The bucket is shared by every client with that publisher id.
	c2 := client(t, srv.URL, func(c *api.Config) { c.RateLimit = 60; c.PublisherID = "00000000-0000-4000-8000-00000000a001" })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := c2.ListSubscriptions(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second client with the same publisher: %v", err)
	}

	// A back-off wait is cancellable too.
	slow := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(403)
		io.WriteString(w, `{"error":{"code":"AF429","message":"Too many requests. Method=ListSubscriptions, PublisherId=x"}}`)
	})
	c3 := client(t, slow.URL, func(c *api.Config) { c.RetryAfterMax = time.Hour; c.MaxRetries = 5 })
	ctx3, cancel3 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel3()
	start := time.Now()
	if _, err := c3.ListSubscriptions(ctx3); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("throttled wait: %v after %s", err, time.Since(start))
	}
}

func TestConfigValidationAndClouds(t *testing.T) {
	for _, c := range api.Clouds {
		a, l, err := api.CloudEndpoints(c)
		if err != nil || !strings.HasPrefix(a, "https://manage") || !strings.HasPrefix(l, "https://login.microsoftonline.") {
			t.Errorf("%s: %s %s %v", c, a, l, err)
		}
	}
	if _, _, err := api.CloudEndpoints("mars"); err == nil {
		t.Error("unknown cloud accepted")
	}
	_, err := api.New(api.Config{TenantID: "contoso.example", APIURL: "http://10.0.0.1"})
	for _, want := range []string{"GUID", "client id", "secret or a certificate", "plain http"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation error %v lacks %q", err, want)
		}
	}
}

func TestOnResponseSeesEveryAnswerAndThrottling(t *testing.T) {
	var n atomic.Int32
	srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(403)
			io.WriteString(w, `{"error":{"code":"AF429","message":"Too many requests. Method=ListSubscriptions, PublisherId=x"}}`)
			return
		}
		io.WriteString(w, "[]")
	})
	var mu sync.Mutex
	var got []api.Response
	c := client(t, srv.URL, func(c *api.Config) {
		c.BackoffBase, c.BackoffMax = time.Millisecond, time.Millisecond
		c.OnResponse = func(r api.Response) { mu.Lock(); got = append(got, r); mu.Unlock() }
	})
	if _, err := c.ListSubscriptions(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []api.Response{{Status: 403, Throttled: true}, {Status: 200}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OnResponse saw %v, want %v", got, want)
	}
}
