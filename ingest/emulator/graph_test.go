package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/o365ingest/o365ingest/ingest/emulator"
)

func graphToken(t *testing.T, s *emulator.Server, base, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}, "scope": {resource + "/.default"}}
	resp, err := http.PostForm(base+"/"+s.TenantID()+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("no token for %s: %d %v", resource, resp.StatusCode, err)
	}
	return tr.AccessToken
}

func graphDo(t *testing.T, method, u, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGraphEndpoints: tokens for the Graph resource reach /v1.0; a token for the
// Management API does not; a withheld permission is Graph's 403 shape; the attacked
// mailbox holds the forwarding rule; every call is listed at /_emulator/graph-calls.
func TestGraphEndpoints(t *testing.T) {
	s, err := emulator.New(emulator.Options{Seed: 1, RecordsPerDay: 50, RateLimit: -1, GraphWithhold: []string{"User.RevokeSessions.All"}})
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	story := s.AttackStory()
	tok := graphToken(t, s, base, "https://graph.microsoft.com")

	code, body := graphDo(t, "GET", base+"/v1.0/users/"+story.User+"/mailFolders/inbox/messageRules", tok)
	if code != 200 || !strings.Contains(body, `"displayName":"`+emulator.AttackRuleName+`"`) || !strings.Contains(body, story.ForwardTo) {
		t.Errorf("messageRules: %d %s", code, body)
	}
	code, body = graphDo(t, "POST", base+"/v1.0/users/"+story.User+"/revokeSignInSessions", tok)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code != 403 || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "Authorization_RequestDenied" || e.Error.Message == "" {
		t.Errorf("withheld permission: %d %s", code, body)
	}
	code, body = graphDo(t, "PATCH", base+"/v1.0/users/nobody@contoso.example", tok)
	if code != 404 && code != 400 {
		t.Errorf("PATCH of an unknown user: %d %s", code, body)
	}
	mgmt := graphToken(t, s, base, "https://manage.office.com")
	if code, body = graphDo(t, "GET", base+"/v1.0/users/"+story.User, mgmt); code != 401 {
		t.Errorf("a Management API token was accepted by Graph: %d %s", code, body)
	}

	resp, err := http.Get(base + "/_emulator/graph-calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var calls []emulator.GraphCall
	if err := json.NewDecoder(resp.Body).Decode(&calls); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.Method+" "+c.Path)
	}
	want := "GET /v1.0/users/" + story.User + "/mailFolders/inbox/messageRules,POST /v1.0/users/" + story.User + "/revokeSignInSessions,PATCH /v1.0/users/nobody@contoso.example,GET /v1.0/users/" + story.User
	if strings.Join(got, ",") != want || calls[1].Status != 403 {
		t.Errorf("graph-calls %v", calls)
	}
}
