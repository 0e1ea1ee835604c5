package steps

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// An alias check's status is Consul's (CheckAlias.processChecks): the
// followed service's checks and the node's own, critical over warning
// over passing; a service without checks is passing if it exists.
func TestAliasStatusIsWhatConsulComputes(t *testing.T) {
	inv := func(status string) *api.HealthCheck {
		return &api.HealthCheck{Node: "vm", CheckID: "service:inventory", Name: "inventory tcp", ServiceID: "inventory", Status: status}
	}
	other := &api.HealthCheck{Node: "vm", CheckID: "service:other", Name: "other", ServiceID: "other", Status: api.HealthCritical}
	nodeWarn := &api.HealthCheck{Node: "vm", CheckID: "disk", Name: "disk", Status: api.HealthWarning}
	target := aliasTarget{service: "inventory"}
	for _, c := range []struct {
		checks    []*api.HealthCheck
		exists    bool
		want, why string
	}{
		{[]*api.HealthCheck{inv(api.HealthPassing), other}, true, api.HealthPassing, "all its checks passing"},
		{[]*api.HealthCheck{inv(api.HealthCritical)}, true, api.HealthCritical, `its checks "inventory tcp" critical`},
		{[]*api.HealthCheck{inv(api.HealthPassing), nodeWarn}, true, api.HealthWarning, `its checks "disk" warning`},
		{[]*api.HealthCheck{other}, true, api.HealthPassing, "no check of it (an instance without checks is passing)"},
		{[]*api.HealthCheck{other}, false, api.HealthCritical, "no service inventory"},
	} {
		got, why := aliasStatus(c.checks, target, c.exists)
		if got != c.want || why != c.why {
			t.Errorf("aliasStatus = %s (%s), want %s (%s)", got, why, c.want, c.why)
		}
	}
	// On another node, only that node's checks count.
	remote := aliasTarget{service: "inventory", node: "app2"}
	if got, _ := aliasStatus([]*api.HealthCheck{inv(api.HealthCritical)}, remote, true); got != api.HealthPassing {
		t.Errorf("a check of node vm decided an alias of node app2: %s", got)
	}
}

// A sidecar's alias checks are read from its registered checks, by ID.
func TestAliasTargetsAreTheAliasChecksOfARegistration(t *testing.T) {
	got := aliasTargetsOf(map[string]*api.AgentServiceCheck{
		"service:inventory-sidecar-proxy:1": {TCP: "127.0.0.1:21000"},
		"service:inventory-sidecar-proxy:2": {AliasService: "inventory"},
		"follows-db":                        {AliasService: "db", AliasNode: "app2"},
	})
	if want := "map[follows-db:service db on node app2 service:inventory-sidecar-proxy:2:service inventory]"; fmt.Sprint(got) != want {
		t.Errorf("aliasTargetsOf = %v, want %s", got, want)
	}
}

// fakeAgent answers the agent and catalog endpoints the readiness and
// health steps read, with fixed bodies.
func fakeAgent(t *testing.T, bodies map[string]string) *api.Client {
	t.Helper()
	return fakeConsul(t, func(path string) (string, bool) {
		body, ok := bodies[path]
		return body, ok
	})
}

// fakeConsul is a Consul HTTP API whose every answer is answer's for the
// request's path (404 where it has none).
func fakeConsul(t *testing.T, answer func(path string) (string, bool)) *api.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answer(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Consul-Index", "7")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// The race the newcomer met: the catalog shows the sidecar passing (its
// alias check's declared status, synced with the registration) and so
// does the agent, whose alias has not yet computed inventory's critical.
// The sidecar is not ready; once the alias follows, it is.
func TestSidecarIsNotReadyWhileItsAliasHasNotFollowed(t *testing.T) {
	checks := func(alias, tcp string) string {
		return fmt.Sprintf(`{"service:inventory": {"Node": "vm", "CheckID": "service:inventory", "Name": "inventory tcp", "Status": %q, "ServiceID": "inventory", "Type": "tcp"},
			"service:inventory-sidecar-proxy": {"Node": "vm", "CheckID": "service:inventory-sidecar-proxy", "Name": "inventory sidecar follows inventory", "Status": %q, "ServiceID": "inventory-sidecar-proxy", "Type": "alias"}}`, tcp, alias)
	}
	catalog := `[{"Node": {"Node": "vm"}, "Service": {"ID": "inventory-sidecar-proxy", "Service": "inventory-sidecar-proxy"},
		"Checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "service:inventory-sidecar-proxy", "Status": "passing", "ServiceID": "inventory-sidecar-proxy"}]}]`
	targets := map[string]aliasTarget{"service:inventory-sidecar-proxy": {service: "inventory"}}
	ready := func(client *api.Client) error {
		return agentPassing(client, "inventory-sidecar-proxy", targets).Check(context.Background())
	}
	racing := fakeAgent(t, map[string]string{"/v1/agent/checks": checks(api.HealthPassing, api.HealthCritical), "/v1/health/service/inventory-sidecar-proxy": catalog})
	if err := passing(racing, "inventory-sidecar-proxy", "inventory-sidecar-proxy", "inventory").Check(context.Background()); err != nil {
		t.Fatalf("the catalog should say passing here: %v", err)
	}
	err := ready(racing)
	if err == nil || !strings.Contains(err.Error(), `its alias check "inventory sidecar follows inventory" (service:inventory-sidecar-proxy) is passing, but service inventory, which it follows, is critical by its checks "inventory tcp" critical`) {
		t.Errorf("ready while the alias had not followed: %v", err)
	}
	critical := fakeAgent(t, map[string]string{"/v1/agent/checks": checks(api.HealthCritical, api.HealthCritical)})
	if err := ready(critical); err == nil || !strings.Contains(err.Error(), `the agent has its alias check "inventory sidecar follows inventory" (service:inventory-sidecar-proxy) critical, following service inventory; check "inventory tcp" (ID service:inventory, of inventory) is critical: ""`) {
		t.Errorf("ready while the alias was critical: %v", err)
	}
	followed := fakeAgent(t, map[string]string{"/v1/agent/checks": checks(api.HealthPassing, api.HealthPassing)})
	if err := ready(followed); err != nil {
		t.Errorf("not ready once the alias followed: %v", err)
	}
}

// The node's own checks count for an alias but do not wake it (Consul's
// agent/checks/alias.go re-reads them once a minute): a sidecar that waits
// on an alias held back so is told so, with what to do.
func TestAnAliasHeldBackByANodeCheckSaysWhy(t *testing.T) {
	agent := fakeAgent(t, map[string]string{"/v1/agent/checks": `{
		"node-tcp": {"Node": "vm", "CheckID": "node-tcp", "Name": "node tcp", "Status": "passing", "Type": "tcp"},
		"serfHealth": {"Node": "vm", "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
		"service:web": {"Node": "vm", "CheckID": "service:web", "Name": "web tcp", "Status": "passing", "ServiceID": "web", "Type": "tcp"},
		"follows-web": {"Node": "vm", "CheckID": "follows-web", "Name": "follows web", "Status": "critical", "ServiceID": "web-sidecar-proxy", "Type": "alias"}}`})
	got, err := agentNotPassing(context.Background(), agent, "web-sidecar-proxy", map[string]aliasTarget{"follows-web": {service: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "the node's own checks (node-tcp) count for the alias too, but a change of theirs does not wake it"; !strings.Contains(got, want) || !strings.Contains(got, "timeout over a minute") {
		t.Errorf("agentNotPassing = %q, want it to say %q and what to do", got, want)
	}
}
