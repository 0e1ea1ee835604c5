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

	"github.com/scenario-tool/scenario/scenariofile/spec"
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

// flappingCatalog answers the health endpoint with socat's TTL check
// passing on every other answer, critical on the others.
func flappingCatalog(t *testing.T) *api.Client {
	t.Helper()
	var calls atomic.Int32
	return fakeHealth(t, func() string {
		status := api.HealthPassing
		if calls.Add(1)%2 == 0 {
			status = api.HealthCritical
		}
		return fmt.Sprintf(`[{"Node": {"Node": "app1"}, "Service": {"ID": "socat", "Service": "socat"},
			"Checks": [{"CheckID": "ttl-socat", "Name": "socat is healthy", "Status": %q, "ServiceID": "socat", "Type": "ttl"}]}]`, status)
	})
}

func fakeHealth(t *testing.T, body func() string) *api.Client {
	t.Helper()
	return fakeConsul(t, func(path string) (string, bool) {
		switch path {
		case "/v1/agent/self":
			return `{"Config": {"NodeName": "app1"}}`, true
		case "/v1/agent/checks":
			return `{}`, true // the catalog's outputs are the evidence
		}
		return body(), true
	})
}

// A claim that gives within is watched once it holds: a status flapping
// between passing and critical fails it, whatever its phase when the
// step starts; the TTL check's evidence is Consul's word, and the note
// says so.
func TestHealthWithinFailsAFlappingStatus(t *testing.T) {
	e := &expectHealth{ref: "socat", name: "socat", id: "socat", status: api.HealthPassing, within: 2 * time.Second, eventual: true}
	err := e.Run(context.Background(), &catalogEnv{client: flappingCatalog(t)})
	if err == nil || !strings.Contains(err.Error(), "after it had held (on 1 looks)") || !strings.Contains(err.Error(), `critical by ttl-socat "socat is healthy" (critical)`) {
		t.Errorf("a flapping status: %v", err)
	}
	steady := fakeHealth(t, func() string {
		return `[{"Node": {"Node": "app1"}, "Service": {"ID": "socat", "Service": "socat"},
			"Checks": [{"CheckID": "ttl-socat", "Name": "socat is healthy", "Status": "passing", "ServiceID": "socat", "Type": "ttl", "Output": "set by scenario"}]}]`
	})
	env := &catalogEnv{client: steady}
	e.ttlSet = map[spec.CheckKey]spec.TTLSetting{{ID: "ttl-socat"}: {Status: "passing", Note: "set by scenario", Pos: spec.Pos{File: "s.yaml", Line: 7, Col: 5}}}
	start := time.Now()
	if err := e.Run(context.Background(), env); err != nil {
		t.Fatalf("a steady status: %v", err)
	}
	if took := time.Since(start); took < SettleFloor {
		t.Errorf("a claim with within was watched %s, less than %s", took, SettleFloor)
	}
	notes := strings.Join(env.notes, "\n")
	for _, want := range []string{
		`evidence: ttl-socat "socat is healthy": a TTL check, whose status is Consul's word only (nothing to test); the last check step of this scenario to set it set it passing, at s.yaml:7:5, with the note Consul has ("set by scenario"), though something else may have set it so since`,
		"settled: it first held after ",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// The stale message names the check, its interval and target, and
// suggests a within of a few intervals.
func TestStaleHealthSaysWhyAndSuggestsWithin(t *testing.T) {
	err := &staleError{claim: "Consul gives instance inventory passing", interval: time.Second,
		contrary: []string{"inventory on node vm: its tcp check service:inventory \"inventory tcp\" (every 1s) tests 127.0.0.1:7301, where no process this scenario started listens now"}}
	want := `Consul gives instance inventory passing, but inventory on node vm: its tcp check service:inventory "inventory tcp" (every 1s) tests 127.0.0.1:7301, where no process this scenario started listens now: ` +
		`Consul's status is stale, from the check's last run, before the change, which runs every 1s; a claim about the status after a change must give Consul time to see it: add within (e.g. within: 3s), and the step waits until Consul's status and the evidence agree`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

// A TTL check set by a check step and then by something else (an exec
// step through the API): the note says what the book knows and that
// Consul's status and note (its last update's) are another's.
func TestATTLCheckSetSinceByAnotherIsNotedSo(t *testing.T) {
	e := &expectHealth{ref: "socat", name: "socat", id: "socat", status: api.HealthPassing, within: time.Second}
	env := &catalogEnv{client: fakeHealth(t, func() string {
		return `[{"Node": {"Node": "app1"}, "Service": {"ID": "socat", "Service": "socat"},
			"Checks": [{"CheckID": "ttl-socat", "Name": "socat is healthy", "Status": "passing", "ServiceID": "socat", "Type": "ttl", "Output": "up-by-curl"}]}]`
	})}
	e.ttlSet = map[spec.CheckKey]spec.TTLSetting{{ID: "ttl-socat"}: {Status: "critical", Note: "down", Pos: spec.Pos{File: "s.yaml", Line: 9, Col: 12}}}
	if err := e.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	want := `the last check step of this scenario to set it set it critical, at s.yaml:9:12, with the note "down", but Consul has it passing with the note "up-by-curl": something else (an exec step, the API) set it since`
	if notes := strings.Join(env.notes, "\n"); !strings.Contains(notes, want) {
		t.Errorf("notes lack %q:\n%s", want, notes)
	}
}
