package steps

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// ownedEnv is a fakeEnv whose processes are this test's own.
type ownedEnv struct{ fakeEnv }

func (o *ownedEnv) OwnerOf(pid, _ int) string {
	if pid == os.Getpid() {
		return "this test"
	}
	return ""
}

// An HTTP check's evidence is its request made as Consul's check makes it
// (agent/checks/check.go CheckHTTP): its method, headers (Host as the
// request's host), body, and redirects followed (up to Go's ten, as
// Consul's client does); a 2xx at the end is the evidence.
func TestHealthHTTPEvidenceRequestsAsConsulsCheckDoes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			body, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || string(body) != "ping" || r.Header.Get("X-Check") != "yes" || r.Host != "svc.example" ||
				r.Header.Get("User-Agent") != "Consul Health Check" {
				http.Error(w, "not as the check asks: "+r.Method+" "+string(body)+" "+r.Host+" "+r.Header.Get("User-Agent"), http.StatusBadRequest)
				return
			}
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	defer srv.Close()
	env := &ownedEnv{}
	def := func(path string) *api.AgentServiceCheck {
		return &api.AgentServiceCheck{HTTP: srv.URL + path, Method: http.MethodPost, Body: "ping",
			Header: map[string][]string{"X-Check": {"yes"}, "Host": {"svc.example"}}}
	}
	got, err := answered(context.Background(), env, "http", def("/health"), false, srv.URL+"/health")
	if err != nil || !strings.Contains(got, "POST answered 200 OK now by this test") {
		t.Errorf("a redirect to a 2xx, as Consul follows it: %q, %v", got, err)
	}
	if !strings.HasSuffix(got, ", redirected to "+srv.URL+"/ok") {
		t.Errorf("the evidence does not say where the redirect led: %q", got)
	}
	if _, err := answered(context.Background(), env, "http", def("/loop"), false, srv.URL+"/loop"); err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
		t.Errorf("endless redirects: %v, want Consul's client's error", err)
	}
	// With disable_redirects, Consul's check takes the redirect as its
	// answer, not 2xx: so does the evidence.
	if got, err := answered(context.Background(), env, "http", def("/health"), true, srv.URL+"/health"); err == nil || !strings.Contains(err.Error(), "is answered 302 Found now, not 2xx") {
		t.Errorf("a redirect with disable_redirects: %q, %v; want the 302 as the answer", got, err)
	}

	// TLS as Consul's check has it without agent TLS for checks: verified
	// unless tls_skip_verify.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	check := &api.AgentServiceCheck{HTTP: tlsSrv.URL}
	if _, err := answered(context.Background(), env, "http", check, false, tlsSrv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an unverified certificate without tls_skip_verify: %v, want Consul's check's failure", err)
	}
	check.TLSSkipVerify = true
	if _, err := answered(context.Background(), env, "http", check, false, tlsSrv.URL); err != nil {
		t.Errorf("with tls_skip_verify: %v", err)
	}
}
