package steps

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// An instance's status is Consul's aggregate of its checks, the node's
// own included, maintenance read as critical; the checks named are those
// that make it.
func TestHealthStatusAndTheChecksThatDecide(t *testing.T) {
	serf := &api.HealthCheck{CheckID: "serfHealth", Name: "Serf Health Status", Status: api.HealthPassing}
	ttl := func(status, output string) *api.HealthCheck {
		return &api.HealthCheck{CheckID: "ttl-socat", Name: "socat is healthy", Status: status, Output: output}
	}
	for _, c := range []struct {
		checks       api.HealthChecks
		status, want string
	}{
		{api.HealthChecks{serf, ttl(api.HealthPassing, "")}, api.HealthPassing,
			`socat on node app1: passing by serfHealth "Serf Health Status" (passing), ttl-socat "socat is healthy" (passing)`},
		{api.HealthChecks{serf, ttl(api.HealthCritical, "set by scenario")}, api.HealthCritical,
			`socat on node app1: critical by ttl-socat "socat is healthy" (critical): set by scenario`},
		{api.HealthChecks{serf, ttl(api.HealthWarning, "")}, api.HealthWarning,
			`socat on node app1: warning by ttl-socat "socat is healthy" (warning)`},
		{api.HealthChecks{{CheckID: "serfHealth", Status: api.HealthCritical}, ttl(api.HealthPassing, "")}, api.HealthCritical,
			`socat on node app1: critical by serfHealth (critical)`},
		{api.HealthChecks{serf, {CheckID: api.ServiceMaintPrefix + "socat", Name: "Service Maintenance Mode", Status: api.HealthCritical}, ttl(api.HealthPassing, "")}, api.HealthCritical,
			`socat on node app1: critical by _service_maintenance:socat "Service Maintenance Mode" (critical)`},
		{nil, api.HealthPassing, `socat on node app1: passing by no check (an instance without checks is passing)`},
	} {
		h := healthOf{id: "socat", node: "app1", status: aggregate(c.checks), checks: c.checks}
		if h.status != c.status || h.String() != c.want {
			t.Errorf("%s\nwant %s (%s)", h, c.want, c.status)
		}
	}
}

// catalogEnv is a fakeEnv whose agent is client.
type catalogEnv struct {
	notingEnv
	client *api.Client
}

func (c *catalogEnv) Consul() (*api.Client, error) { return c.client, nil }

// A look at the catalog cut short by the deadline says nothing: the
// failure shows the last answer that came, with its checks.
func TestHealthFailureShowsTheLastAnswerNotTheDeadline(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			<-r.Context().Done() // every later answer comes too late
			return
		}
		fmt.Fprint(w, `[{"Node": {"Node": "app1"}, "Service": {"ID": "socat", "Service": "socat"},
			"Checks": [{"CheckID": "ttl-socat", "Name": "socat is healthy", "Status": "passing", "ServiceID": "socat"}]}]`)
	}))
	defer srv.Close()
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &expectHealth{ref: "socat", name: "socat", id: "socat", status: api.HealthCritical, within: 300 * time.Millisecond}
	err = e.Run(context.Background(), &catalogEnv{client: client})
	if err == nil || !strings.Contains(err.Error(), `expected instance socat critical within 300ms; 1 of 1 not critical: socat on node app1: passing by ttl-socat "socat is healthy" (passing)`) {
		t.Errorf("error: %v", err)
	}
}
