package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// loadSource loads a scenario written out from src.
func loadSource(t *testing.T, src string) *runner.Scenario {
	t.Helper()
	path := filepath.Join(t.TempDir(), "g.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenariofile.Load(path, steps.Default())
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The graph draws what the scenario declares: instances by ID, wildcard
// intentions as wildcards and as Consul ranks them, the ACL default, and
// prepared-query upstreams as queries.
func TestGraphOfInstancesWildcardsAndQueries(t *testing.T) {
	src := `steps:
  - start-agent: {args: [-hcl, 'acl { enabled = true
      default_policy = "deny" }']}
  - register:
      services:
        - {name: socat, id: socat-1, port: 8181, connect: {sidecar_service: {port: 21001}}}
        - {name: socat, id: socat-2, port: 8182, connect: {sidecar_service: {port: 21002}}}
  - register:
      service:
        name: web
        port: 8080
        connect:
          sidecar_service:
            proxy:
              upstreams:
                - {destination_name: socat, local_bind_port: 9191}
                - {destination_type: prepared_query, destination_name: socat-pq, local_bind_port: 9192}
  - prepared-query: {name: socat-pq, service: socat}
  - sidecar: socat-1
  - set-intention: {source: "*", destination: socat, action: allow}
  - set-intention: {source: web, destination: "*", action: deny}
  - set-intention: {source: api, destination: "*", action: deny}
`
	dot := graphOf(loadSource(t, src))
	for _, want := range []string{
		`default: deny (ACL default_policy)`,
		`"socat-1" [shape=box`, `"socat-2" [shape=box`,
		`"socat-1-sidecar" [shape=hexagon, style=filled`, `"socat-2-sidecar" [shape=hexagon, style=dashed`,
		`label="sidecar\n(mTLS 127.0.0.1, port assigned by Consul)\nsocat → listens 127.0.0.1:9191\nquery socat-pq → listens 127.0.0.1:9192"`,
		// *→socat (precedence 8) beats web→* (6): allowed, to each instance.
		`"web-sidecar" -> "socat-1-sidecar" [label="upstream socat\nmTLS 127.0.0.1:21001\nintention * → socat: allow", color="#1e8e3e"`,
		`"web-sidecar" -> "socat-2-sidecar" [label="upstream socat\nmTLS 127.0.0.1:21002\nintention * → socat: allow"`,
		`"web-sidecar" -> "query:socat-pq"`, `"query:socat-pq" [shape=note`,
		`"query:socat-pq" -> "socat-1-sidecar" [style=dashed, label="returns socat (passing)"]`,
		`"query:socat-pq" -> "socat-2-sidecar"`,
		`"*" [shape=plaintext, label="* (any service)"]`,
		`"web" -> "*" [label="intention only\nintention: deny", color="#d93025"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	if strings.Contains(dot, `"*" [shape=box`) {
		t.Errorf("the wildcard is drawn as a service:\n%s", dot)
	}
}

// A proxy registered as a service of its own is drawn as its
// destination's sidecar, not as a service.
func TestGraphOfAProxyRegisteredAsAService(t *testing.T) {
	sc, err := scenariofile.Load("../../testdata/consul-formats/proxy-as-service.yaml", steps.Default())
	if err != nil {
		t.Fatal(err)
	}
	dot := graphOf(sc)
	for _, want := range []string{`"socat-a-sidecar" [shape=hexagon, style=filled, fillcolor="#fff4e5", label="sidecar\n(mTLS 127.0.0.1:21005)"]`,
		`"web-sidecar" -> "socat-a-sidecar" [label="upstream socat\nmTLS 127.0.0.1:21005`} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	if strings.Contains(dot, "cluster_socat-proxy") {
		t.Errorf("the proxy is drawn as a service:\n%s", dot)
	}
}

// A service-intentions entry draws the intentions it makes, replacing its
// destination's earlier ones; L7 permissions draw as the deny they are.
func TestGraphOfServiceIntentionsEntries(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	src := `steps:
  - start-agent: {}
  - register: {service: {name: socat, port: 8181, connect: {sidecar_service: {}}}}
  - register: {service: {name: web, port: 8080, connect: {sidecar_service: {proxy: {upstreams: [{destination_name: socat, local_bind_port: 9191}]}}}}}
  - register: {service: {name: api, port: 8090, connect: {sidecar_service: {proxy: {upstreams: [{destination_name: socat, local_bind_port: 9192}]}}}}}
  - set-intention: {source: api, destination: socat, action: allow}
  - config-entry:
      entry:
        Kind: service-intentions
        Name: socat
        Sources:
          - {Name: web, Action: allow}
          - Name: "*"
            Permissions: [{Action: allow, HTTP: {PathPrefix: /}}]
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenariofile.Load(file, steps.Default())
	if err != nil {
		t.Fatal(err)
	}
	dot := graphOf(sc)
	for _, want := range []string{
		`"web-sidecar" -> "socat-sidecar" [label="upstream socat\nmTLS 127.0.0.1, port assigned by Consul\nintention: allow", color="#1e8e3e"`,
		`"api-sidecar" -> "socat-sidecar" [label="upstream socat\nmTLS 127.0.0.1, port assigned by Consul\nintention: allow → deleted\nintention * → socat: L7 permissions (the built-in proxy denies)", color="#d93025"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
}

// One service ID on several nodes is one box per node: each instance with
// its own sidecar, an upstream reaching the instances of the datacenter
// it names (its own agent's when it names none), and a prepared query
// answering from its own datacenter, then its failover.
func TestGraphDrawsOneServiceIDOnSeveralNodesOncePerNode(t *testing.T) {
	for _, tc := range []struct {
		file        string
		want, avoid []string
	}{
		{"../../scenarios/two-datacenters.yaml", []string{
			`"app1/socat" [shape=box`, `"app2/socat" [shape=box`,
			`"app1/socat-sidecar" [shape=hexagon, style=filled`, `"app2/socat-sidecar" [shape=hexagon, style=filled`,
			`label="sidecar\n(mTLS app2, port assigned by Consul)"`,
			// web's upstream names dc2: app2's socat, not app1's.
			`"app1/web-sidecar" -> "app2/socat-sidecar" [label="upstream socat\nmTLS app2`,
			`"query:socat-pq" -> "app1/socat-sidecar" [style=dashed, label="returns socat (passing)"]`,
			`"query:socat-pq" -> "app2/socat-sidecar" [style=dashed, label="failover to dc2\n(when no socat in dc1 passes)"]`,
		}, []string{`"app1/web-sidecar" -> "app1/socat-sidecar"`, `"socat" [`}},
		{"../../scenarios/node-disconnect-rejoins.yaml", []string{
			`"app2/socat" [shape=box`, `"app3/socat" [shape=box`,
			`"app1/web-sidecar" -> "app2/socat-sidecar" [label="upstream socat\nmTLS app2`,
			`"app1/web-sidecar" -> "app3/socat-sidecar" [label="upstream socat\nmTLS app3`,
		}, nil},
	} {
		sc, err := scenariofile.Load(tc.file, steps.Default())
		if err != nil {
			t.Fatal(err)
		}
		dot := graphOf(sc)
		for _, want := range tc.want {
			if !strings.Contains(dot, want) {
				t.Errorf("%s: DOT lacks %s:\n%s", tc.file, want, dot)
			}
		}
		for _, avoid := range tc.avoid {
			if strings.Contains(dot, avoid) {
				t.Errorf("%s: DOT has %s:\n%s", tc.file, avoid, dot)
			}
		}
	}
}

// An upstream to a datacenter where its service has no instance points
// at a box saying so, not at another datacenter's instance.
func TestGraphUpstreamToAnEmptyDatacenterSaysSo(t *testing.T) {
	src := `nodes: [s1, a1, s2]
steps:
  - {start-agent: {dev: true}, node: s1}
  - {start-agent: {}, node: a1}
  - {start-agent: {dev: true, datacenter: dc2}, node: s2}
  - {register: {service: {name: socat, port: 8181, connect: {sidecar_service: {}}}}, node: a1}
  - register:
      service: {name: web, port: 8080, connect: {sidecar_service: {proxy: {upstreams: [{destination_name: socat, datacenter: dc2, local_bind_port: 9191}]}}}}
    node: a1
`
	dot := graphOf(loadSource(t, src))
	for _, want := range []string{`"socat in dc2" [shape=box, style=dashed, label="socat\n(not registered in dc2)"]`, `"a1/web-sidecar" -> "socat in dc2"`} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	if strings.Contains(dot, `"a1/web-sidecar" -> "a1/socat-sidecar"`) {
		t.Errorf("the dc2 upstream points at dc1's socat:\n%s", dot)
	}
}
