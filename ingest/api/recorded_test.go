package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/api"
)

// testCA issues one loopback server certificate for the given host names.
func testCA(t *testing.T, hosts []string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "o365ingest test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, pool
}

// docJSON makes a docs sample body valid JSON: the docs elide elements with "...".
func docJSON(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t == "..." || t == "...," {
			continue
		}
		keep = append(keep, l)
	}
	s = strings.Join(keep, "\n")
	s = regexp.MustCompile(`\},\s*\.\.\.\s*\]`).ReplaceAllString(s, "}]")
	s = regexp.MustCompile(`,\s*\]`).ReplaceAllString(s, "]")
	return strings.TrimSpace(s)
}

// requestLine reads a recorded request's method and URL.
func requestLine(t *testing.T, path string) (string, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
	return f[0], f[1]
}

type seen struct {
	method, host, path string
	query              url.Values
	form               url.Values
	auth               string
}

// TestRecordedSamplesAtTheRealHostNames replays every recorded sample of
// ../shared/corpus/api the client has a call for, through the client configured
// only with a cloud (no URL override): a transport dials the real host names to a
// loopback TLS server holding a test CA's certificate for them.
func TestRecordedSamplesAtTheRealHostNames(t *testing.T) {
	dir := corpusAPI(t)
	read := func(name string) (int, http.Header, string) { return recorded(t, filepath.Join(dir, name)) }
	_, subsHdr, subsBody := read("msdocs-list-subscriptions.response.http")
	_, startHdr, startBody := read("msdocs-start-subscription.response.http")
	_, listHdr, listBody := read("msdocs-list-content.response.http")
	_, nextHdr, _ := read("msdocs-list-content-nextpage.response-headers.http")
	_, blobHdr, blobBody := read("msdocs-retrieve-content.response.http")
	af50000, err := os.ReadFile(filepath.Join(dir, "msdocs-error-AF50000.response.json"))
	if err != nil {
		t.Fatal(err)
	}
	const docTenant = "41463f53-8812-40f4-890f-865bf6e35190"
	const publisher = "46b472a7-c68e-4adf-8ade-3db49497518e" // the docs' PublisherIdentifier

	var hosts []string
	for _, cl := range api.Clouds {
		a, l, _ := api.CloudEndpoints(cl)
		hosts = append(hosts, strings.TrimPrefix(a, "https://"), strings.TrimPrefix(l, "https://"))
	}
	cert, pool := testCA(t, hosts)

	for _, cloud := range api.Clouds {
		t.Run(string(cloud), func(t *testing.T) {
			apiURL, loginURL, _ := api.CloudEndpoints(cloud)
			apiHost, loginHost := strings.TrimPrefix(apiURL, "https://"), strings.TrimPrefix(loginURL, "https://")
			onHost := func(s string) string { return strings.ReplaceAll(s, "https://manage.office.com", apiURL) }
			var mu sync.Mutex
			var calls []seen
			blobFailed := false
			port443 := 0
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				mu.Lock()
				if strings.HasSuffix(r.Host, ":443") {
					port443++
					r.Host = strings.TrimSuffix(r.Host, ":443")
				}
				calls = append(calls, seen{r.Method, r.Host, r.URL.Path, r.URL.Query(), r.PostForm, r.Header.Get("Authorization")})
				mu.Unlock()
				reply := func(h http.Header, body string) {
					for k, v := range h {
						w.Header()[k] = v
					}
					w.Header().Del("Content-Length")
					io.WriteString(w, body)
				}
				p := r.URL.Path
				switch {
				case r.Host == loginHost && p == "/"+docTenant+"/oauth2/v2.0/token":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok-`+string(cloud)+`"}`)
				case r.Host != apiHost:
					t.Errorf("request to %s%s", r.Host, p)
					w.WriteHeader(404)
				case strings.HasSuffix(p, "/subscriptions/list"):
					reply(subsHdr, docJSON(subsBody))
				case strings.HasSuffix(p, "/subscriptions/start"):
					reply(startHdr, docJSON(startBody))
				case strings.HasSuffix(p, "/subscriptions/content"):
					h := listHdr.Clone()
					if r.URL.Query().Get("nextPage") == "" {
						next := onHost(strings.ReplaceAll(nextHdr["NextPageUri"][0], "{tenant_id}", docTenant))
						if cloud == api.CloudGCC || cloud == api.CloudDoD {
							// The default port written out is the same origin (issue 10 point 7).
							next = strings.Replace(next, apiHost, apiHost+":443", 1)
						}
						h["NextPageUri"] = []string{next}
					}
					reply(h, onHost(docJSON(listBody)))
				case strings.Contains(p, "/activity/feed/audit/"):
					mu.Lock()
					first := !blobFailed
					blobFailed = true
					mu.Unlock()
					if first { // the docs' AF50000 body: transient, retried
						w.WriteHeader(500)
						w.Write(af50000)
						return
					}
					reply(blobHdr, docJSON(blobBody))
				default:
					t.Errorf("unexpected %s %s", r.Method, r.URL)
					w.WriteHeader(404)
				}
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			defer srv.Close()
			loop := srv.Listener.Addr().String()
			tr := &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool},
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					host, port, _ := net.SplitHostPort(addr)
					if port != "443" || !strings.Contains(strings.Join(hosts, " "), host) {
						t.Errorf("dial to %s", addr)
					}
					return (&net.Dialer{}).DialContext(ctx, network, loop)
				},
			}
			c, err := api.New(api.Config{TenantID: docTenant, ClientID: "app", ClientSecret: "secret", Cloud: cloud,
				PublisherID: publisher, HTTPClient: &http.Client{Transport: tr}, RateLimit: -1,
				BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			subs, err := c.ListSubscriptions(ctx)
			if err != nil || len(subs) != 2 || subs[0].ContentType != "Audit.SharePoint" || subs[0].Status != "enabled" {
				t.Fatalf("subscriptions %+v, %v", subs, err)
			}
			if err := c.StartSubscription(ctx, "Audit.SharePoint"); err != nil {
				t.Fatal(err)
			}
			start := time.Date(2015, 10, 1, 0, 0, 0, 0, time.UTC)
			blobs, err := c.ListContent(ctx, "Audit.SharePoint", start, start.Add(api.MaxWindow))
			if err != nil || len(blobs) != 2 {
				t.Fatalf("listing: %d blobs (want the first page's and the NextPageUri page's), %v", len(blobs), err)
			}
			if !strings.HasPrefix(blobs[0].ContentURI, apiURL+"/api/v1.0/") {
				t.Errorf("contentUri %s", blobs[0].ContentURI)
			}
			recs := 0
			for _, b := range blobs {
				st, err := c.FetchBlob(ctx, b, func(rec json.RawMessage, _ int) error {
					var m map[string]any
					if err := json.Unmarshal(rec, &m); err != nil || m["Id"] == nil {
						t.Errorf("record %s", rec)
					}
					recs++
					return nil
				})
				if err != nil || st.Records == 0 {
					t.Fatalf("blob %s: %+v %v", b.ContentID, st, err)
				}
			}
			// The recorded retrieve-content request, as the docs wrote it.
			_, raw := requestLine(t, filepath.Join(dir, "msdocs-retrieve-content.request.http"))
			id := raw[strings.LastIndex(raw, "/")+1:]
			if st, err := c.FetchBlob(ctx, api.ContentBlob{ContentType: "Audit.AzureActiveDirectory", ContentID: id, ContentURI: onHost(raw)},
				func(json.RawMessage, int) error { return nil }); err != nil || st.Records == 0 {
				t.Fatalf("recorded blob: %+v %v", st, err)
			}

			mu.Lock()
			defer mu.Unlock()
			var tokens, pages, blobGets int
			for _, s := range calls {
				if s.host == loginHost {
					tokens++
					if s.form.Get("scope") != apiURL+"/.default" || s.form.Get("grant_type") != "client_credentials" || s.form.Get("client_secret") != "secret" {
						t.Errorf("token request %v", s.form)
					}
					continue
				}
				if s.auth != "Bearer tok-"+string(cloud) {
					t.Errorf("%s %s without the token", s.method, s.path)
				}
				if s.query.Get("PublisherIdentifier") != publisher {
					t.Errorf("%s %s?%s lacks PublisherIdentifier", s.method, s.path, s.query.Encode())
				}
				if s.query.Get("nextPage") != "" {
					pages++
					if s.query.Get("nextPage") != "2015101900R022885001761" || !strings.HasPrefix(s.path, "/api/v1/") {
						t.Errorf("NextPageUri not followed as given: %s?%s", s.path, s.query.Encode())
					}
				}
				if strings.Contains(s.path, "/audit/") {
					blobGets++
				}
			}
			if (cloud == api.CloudGCC || cloud == api.CloudDoD) && port443 != 1 {
				t.Errorf("the NextPageUri written with :443 was requested %d times, want 1", port443)
			}
			if tokens != 1 || pages != 1 || blobGets != 4 {
				t.Errorf("%d token requests (want 1), %d next pages (want 1), %d blob GETs (want 3 + 1 AF50000 retry)", tokens, pages, blobGets)
			}
			// The client's requests have the recorded requests' methods and paths.
			root := "/api/v1.0/" + docTenant + "/activity/feed"
			for _, name := range []string{"msdocs-list-subscriptions.request.http", "msdocs-start-subscription.request.http",
				"msdocs-list-content.request.http", "msdocs-retrieve-content.request.http"} {
				method, raw := requestLine(t, filepath.Join(dir, name))
				u, err := url.Parse(strings.Replace(raw, "{root}", "https://manage.office.com"+root, 1))
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, s := range calls {
					if s.method == method && s.path == u.Path && s.host == apiHost &&
						(u.Query().Get("contentType") == "" || s.query.Get("contentType") == u.Query().Get("contentType")) {
						found = true
					}
				}
				if !found {
					t.Errorf("no request like the recorded %s %s", method, u.Path)
				}
			}
			t.Logf("%s: token at %s, %d API calls, %d records", cloud, loginHost, len(calls)-tokens, recs)
		})
	}
}
