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
	want := []string{
		`10:17: check: "api-http" is an HTTP check of api (registered at ` + dir + `/s.yaml:5:9), not a TTL check`,
		`12:17: check: "service:db" is a TCP check of db`,
		`13:17: check: "service:api-sidecar-proxy:2" is an alias check of api-sidecar-proxy`,
	}
	if len(msgs) != len(want) {
		t.Fatalf("errors:\n%s", strings.Join(msgs, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("error %d: %s\nwant: %s...", i, msgs[i], w)
		}
	}
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
