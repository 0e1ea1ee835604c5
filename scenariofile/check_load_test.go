package scenariofile

import (
	"strings"
	"testing"
)

// check on a check that is not a TTL check is invalid at its id, by the
// ID the agent gives it (its id, or service:ID[:N]), a sidecar's default
// checks included; a TTL check, or one the file does not define, is not.
func TestCheckOnACheckThatIsNotTTLIsInvalid(t *testing.T) {
	dir := writeFixtures(t)
	src := `steps:
  - start-agent: {}
  - register:
      service:
        name: api
        port: 9000
        checks: [{id: api-http, http: "http://127.0.0.1:9000/health", interval: 10s}, {id: api-ttl, ttl: 10m}]
        connect: {sidecar_service: {}}
  - register: {service: {name: db, port: 5432, check: {tcp: "127.0.0.1:5432", interval: 5s}}}
  - check: {id: api-http, status: critical}
  - check: {id: api-ttl, status: critical}
  - check: {id: "service:db", status: passing}
  - check: {id: "service:api-sidecar-proxy:2", status: passing}
  - check: {id: defined-elsewhere, status: passing}
`
	_, msgs := parseIn(t, dir, src)
	errorsStartWith(t, msgs,
		`10:17: check: "api-http" is an HTTP check of api (registered at `+dir+`/s.yaml:5:9), not a TTL check`,
		`12:17: check: "service:db" is a TCP check of db`,
		`13:17: check: "service:api-sidecar-proxy:2" is an alias check of api-sidecar-proxy`,
	)
}

// On a scenario's nodes, a check ID is the one the node's own agent has.
func TestCheckIsJudgedOnItsNode(t *testing.T) {
	dir := writeFixtures(t)
	src := `nodes: [server, app1, app2]
steps:
  - {start-agent: {dev: true}, node: server}
  - {start-agent: {}, node: app1}
  - {start-agent: {}, node: app2}
  - {register: {service: {name: a, port: 1, check: {id: c, ttl: 10m}}}, node: app1}
  - {register: {service: {name: b, port: 2, check: {id: c, tcp: "127.0.0.1:2", interval: 5s}}}, node: app2}
  - {check: {id: c, status: critical}, node: app1}
  - {check: {id: c, status: critical}, node: app2}
`
	_, msgs := parseIn(t, dir, src)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], `9:18: check: "c" is a TCP check of b`) {
		t.Errorf("errors:\n%s", strings.Join(msgs, "\n"))
	}
}

// expect health reads an instance's ID first, else a service's name (then
// every instance); it needs a registered service, a status, and no keys
// of other forms.
func TestExpectHealthDecodes(t *testing.T) {
	dir := writeFixtures(t)
	src := `steps:
  - start-agent: {}
  - register:
      services:
        - {name: api, id: api-1, port: 9001, check: {id: t1, ttl: 10m}}
        - {name: api, id: api-2, port: 9002, check: {id: t2, ttl: 10m}}
  - register: socat.json
  - expect: {health: api, status: passing}
  - expect: {health: api-2, status: critical, within: 30s}
  - expect: {health: socat, status: warning}
`
	sc, msgs := parseIn(t, dir, src)
	if len(msgs) > 0 {
		t.Fatalf("errors:\n%s", strings.Join(msgs, "\n"))
	}
	var labels []string
	for _, it := range sc.Items[3:] {
		labels = append(labels, it.Label)
	}
	if got := strings.Join(labels, "; "); got != "every instance of api is passing; instance api-2 of api is critical; instance socat is warning" {
		t.Errorf("labels: %s", got)
	}
	_, msgs = parseIn(t, dir, `steps:
  - start-agent: {}
  - register: socat.json
  - expect: {health: sokat, status: passing}
  - expect: {health: socat, status: sick}
  - expect: {health: socat}
  - expect: {health: socat, status: passing, send: "x"}
`)
	errorsStartWith(t, msgs,
		`4:22: no earlier step registered service "sokat" (did you mean "socat"?)`,
		`5:37: expect.status: "sick" is not one of passing, warning, critical`,
		`6:13: expect: missing required key "status"`,
		`7:46: expect on health does not take "send"`,
	)
}

// errorsStartWith fails t unless msgs are as many as wants, and each
// starts with its want.
func errorsStartWith(t *testing.T, msgs []string, wants ...string) {
	t.Helper()
	if len(msgs) != len(wants) {
		t.Fatalf("errors:\n%s", strings.Join(msgs, "\n"))
	}
	for i, w := range wants {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("error %d: %s\nwant: %s...", i, msgs[i], w)
		}
	}
}
