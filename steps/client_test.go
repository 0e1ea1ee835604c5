package steps

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// The runner's client of its own agent sends the runner's token, and
// nothing the caller's CONSUL_* variables say: a token file (which
// api.NewClient lets win over a token equal to CONSUL_HTTP_TOKEN, or over
// none), basic auth, a namespace or partition, TLS files.
func TestAgentClientIgnoresTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("callers-file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", file)
	t.Setenv("CONSUL_HTTP_TOKEN", "mgmt-token")
	t.Setenv("CONSUL_HTTP_AUTH", "user:pass")
	t.Setenv("CONSUL_NAMESPACE", "team")
	t.Setenv("CONSUL_PARTITION", "part")
	t.Setenv("CONSUL_HTTP_SSL", "true")
	t.Setenv("CONSUL_CACERT", filepath.Join(t.TempDir(), "missing.pem"))
	t.Setenv("CONSUL_HTTP_ADDR", "192.0.2.1:8500")

	type seen struct{ token, auth, query string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, seen{r.Header.Get("X-Consul-Token"), r.Header.Get("Authorization"), r.URL.RawQuery})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`"127.0.0.1:8300"`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// What api.NewClient alone does with this environment: the file's
	// token replaces the one given.
	if c, err := api.NewClient(&api.Config{Address: addr, Scheme: "http", Token: "mgmt-token"}); err == nil {
		_, _ = c.Status().Leader()
		if len(got) != 1 || got[0].token != "callers-file-token" {
			t.Logf("api.NewClient no longer lets the token file win (%+v): AgentClient's placeholder may be unneeded", got)
		}
	}
	got = nil

	for _, token := range []string{"mgmt-token", "other-token", ""} {
		c, err := AgentClient(AgentConfig(addr, token))
		if err != nil {
			t.Fatalf("token %q: %v", token, err)
		}
		if _, err := c.Status().Leader(); err != nil {
			t.Fatalf("token %q: %v", token, err)
		}
		// A step's own token (register's token:) is sent as given.
		if _, err := c.Status().LeaderWithQueryOptions(&api.QueryOptions{Token: "step-token"}); err != nil {
			t.Fatal(err)
		}
		want := []seen{{token: token}, {token: "step-token"}}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("token %q: the agent saw %+v, want %+v", token, got, want)
		}
		got = nil
	}
}
