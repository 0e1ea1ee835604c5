package steps

import (
	"testing"

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
