package scenariofile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTopologyFormat(t *testing.T) {
	dir := writeFixtures(t)
	cases := []struct {
		name, src string
		want      []string // substrings of the errors, in order; none: valid
	}{
		{"a valid topology", `nodes: [server, app1]
steps:
  - {start-agent: {server: true}, node: server}
  - {start-agent: {}, node: app1}
  - {register: socat.json, node: app1}
  - {disconnect: app1}
  - {reconnect: app1}
  - {loss: 30%, node: app1}
  - {bandwidth: 1mbit, node: app1}
`, nil},
		{"unknown node", `nodes: [server]
steps:
  - {start-agent: {dev: true}, node: sever}
`, []string{`3:38: unknown node "sever" (did you mean "server"?); the scenario's nodes are server`}},
		{"process step without node", `nodes: [server]
steps:
  - {start-agent: {dev: true}, node: server}
  - run: {name: x, command: "true"}
`, []string{`4:5: step 2 (run) acts on one node: say which with ` + "`node:`" + ` (one of server)`}},
		{"a probe to an address without the node it dials from", `nodes: [server, app1]
steps:
  - {start-agent: {dev: true}, node: server}
  - {start-agent: {}, node: app1}
  - expect: {to: "app1:8282", send: "hello", reply: "hello"}
  - send: {to: "127.0.0.1:8282", data: "x"}
  - {expect: {to: "app1:8282", send: "hello", reply: "hello"}, node: server}
`, []string{`5:18: expect.to: app1:8282 is an address, and in a scenario with nodes a probe to an address dials from the node the item names: say which with ` + "`node:`", `6:16: send.to: 127.0.0.1:8282 is an address`}},
		{"services registered before another node's agent starts stay known", `nodes: [app1, app2]
steps:
  - {start-agent: {dev: true}, node: app1}
  - {register: socat.json, node: app1}
  - {start-agent: {}, node: app2}
  - {sidecar: socat, node: app1}
`, nil},
		{"node without nodes", `steps:
  - {start-agent: {}, node: server}
`, []string{`2:29: node "server": this scenario has no nodes`}},
		{"bad node names", `nodes: [Server, a_b, ok, ok]
steps:
  - {start-agent: {dev: true}, node: ok}
`, []string{`node name "Server" must be a short DNS label`, `node name "a_b" must be a short DNS label`, `node "ok" is listed twice`}},
		{"servers of a datacenter apart", `nodes: [s1, s2, app]
steps:
  - {start-agent: {server: true}, node: s1}
  - {start-agent: {}, node: app}
  - {register: socat.json, node: app}
  - {start-agent: {server: true}, node: s2}
`, []string{`6:6: the servers of dc1 must start in consecutive start-agent steps: step 3 (register) comes between`}},
		{"a client with no server in its datacenter", `nodes: [s1, app]
steps:
  - {start-agent: {server: true}, node: s1}
  - {start-agent: {datacenter: dc2}, node: app}
`, []string{`node app runs a client of datacenter dc2, which has no server`}},
		{"a dev server beside another server", `nodes: [s1, s2]
steps:
  - {start-agent: {dev: true}, node: s1}
  - {start-agent: {server: true}, node: s2}
`, []string{`datacenter dc1 has a dev server on s1 and another server on s2`}},
		{"server without nodes", `steps:
  - start-agent: {server: true}
`, []string{`start-agent.server: without nodes the agent is always a server`}},
		{"runner-owned agent flags on a node", `nodes: [s1]
steps:
  - {start-agent: {dev: true, args: [-retry-join, 1.2.3.4]}, node: s1}
`, []string{`-retry-join is set by the runner on a scenario's node`}},
		{"network steps without nodes", `steps:
  - disconnect: app1
`, []string{`disconnect needs nodes`}},
		{"reconnect without disconnect", `nodes: [s1]
steps:
  - {start-agent: {dev: true}, node: s1}
  - reconnect: s1
`, []string{`reconnect: node s1 is not disconnected`}},
		{"bad loss and rate", `nodes: [s1]
steps:
  - {start-agent: {dev: true}, node: s1}
  - {loss: 130%, node: s1}
  - {bandwidth: fast, node: s1}
`, []string{`loss: "130%" is not a percentage`, `bandwidth: "fast" is not a rate`}},
		{"an agent per node", `nodes: [a, b]
steps:
  - {start-agent: {dev: true}, node: a}
  - {start-agent: {}, node: b}
  - {stop: agent, node: b}
  - {start-agent: {}, node: b}
  - {stop: agent}
`, []string{"7:6: step 5 (stop) acts on one node: say which with `node:` (one of a, b)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseIn(t, dir, c.src)
			if len(c.want) == 0 && len(errs) > 0 {
				t.Fatalf("want valid, got:\n%s", strings.Join(errs, "\n"))
			}
			if len(errs) < len(c.want) {
				t.Fatalf("want %d errors, got:\n%s", len(c.want), strings.Join(errs, "\n"))
			}
			for i, w := range c.want {
				if !strings.Contains(errs[i], w) {
					t.Errorf("error %d: want %q in\n%s", i, w, strings.Join(errs, "\n"))
				}
			}
		})
	}
}

func TestTopologyClusterPlan(t *testing.T) {
	dir := writeFixtures(t)
	sc, errs := parseIn(t, dir, `nodes: [s1, s2, app1, d2]
steps:
  - {start-agent: {server: true}, node: s1}
  - {start-agent: {server: true}, node: s2}
  - {start-agent: {}, node: app1}
  - {start-agent: {dev: true, datacenter: dc2}, node: d2}
`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	c := sc.Cluster
	if got := strings.Join(c.Servers("dc1", true), ","); got != "s1,s2" {
		t.Errorf("dc1 servers %q", got)
	}
	if got := strings.Join(c.Servers("dc2", false), ","); got != "" {
		t.Errorf("dc2 non-dev servers %q (its only server is a dev one)", got)
	}
	if got := strings.Join(c.Servers("dc2", true), ","); got != "d2" {
		t.Errorf("dc2 servers %q", got)
	}
	if c.Primary() != "dc1" {
		t.Errorf("primary %q", c.Primary())
	}
	if sc.Items[2].Node != "app1" {
		t.Errorf("item node %q", sc.Items[2].Node)
	}
}

// An agent on a node that loads a sidecar at a loopback address from its
// config dir is warned about: other nodes could never reach it. The same
// config dir on the host, or a sidecar at the node's address, is not.
func TestConfigDirLoopbackSidecarOnANodeWarns(t *testing.T) {
	dir := writeFixtures(t)
	loopback := filepath.Join(dir, "conf-loopback")
	reachable := filepath.Join(dir, "conf-reachable")
	for d, body := range map[string]string{
		loopback:  `{"service": {"name": "socat", "port": 8181, "address": "127.0.0.1", "connect": {"sidecar_service": {"checks": [{"alias_service": "socat"}]}}}}`,
		reachable: `{"service": {"name": "socat", "port": 8181, "connect": {"sidecar_service": {"checks": [{"alias_service": "socat"}]}}}}`,
	} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "socat.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		src  string
		want string // "" for no warning
	}{
		{"nodes: [app1]\nsteps:\n  - {start-agent: {dev: true, config-dir: conf-loopback}, node: app1}\n", "the sidecar of socat would be advertised at 127.0.0.1, which sidecars on other nodes cannot reach"},
		{"nodes: [app1]\nsteps:\n  - {start-agent: {dev: true, config-dir: conf-reachable}, node: app1}\n", ""},
		{"steps:\n  - start-agent: {config-dir: conf-loopback}\n", ""},
	} {
		sc, errs := parseIn(t, dir, c.src)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		switch {
		case c.want == "" && len(sc.Warnings) > 0:
			t.Errorf("%s: warnings %v, want none", c.src, sc.Warnings)
		case c.want != "" && (len(sc.Warnings) != 1 || !strings.Contains(sc.Warnings[0].Error(), c.want)):
			t.Errorf("%s: warnings %v, want one with %q", c.src, sc.Warnings, c.want)
		}
	}
}
