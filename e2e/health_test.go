package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// expect health reads the health catalog: a TTL check set critical makes
// its instance critical, named as the check that decided; a service name
// means every instance, and the note says how many; a false claim fails
// within its time, naming the instance and the check that contradict it.
func TestExpectHealthNamesTheChecksThatDecided(t *testing.T) {
	needMesh(t)
	src := "name: health\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - register: " + repoRoot + "/scenarios/defs/socat-instances.hcl\n" +
		"  - expect: {health: socat, status: passing}\n" +
		"  - check: {id: ttl-socat-2, status: critical, note: down for the test}\n" +
		"  - expect: {health: socat-2, status: critical}\n" +
		"  - name: a false claim\n" +
		"    expect: {health: socat, status: critical, within: 1s}\n"
	file := writeScenario(t, t.TempDir(), "health.yaml", src)
	r := scenario(t, "run", file)
	r.mustExit(t, 1)
	for _, want := range []string{
		`note: health endpoint: every instance of socat (2) passing: socat-1 on node `,
		`ttl-socat-1 "socat-1 is healthy" (passing)`,
		`note: health endpoint: instance socat-2 of socat critical: socat-2 on node `,
		`: critical by ttl-socat-2 "socat-2 is healthy" (critical): down for the test`,
		`FAIL  6 expect           a false claim`,
		`expected every instance of socat critical within 1s; 1 of 2 not critical: socat-1 on node `,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// The newcomer's checkout and inventory: inventory's TCP check (1s) and
// each sidecar's alias check, declared passing, following its service.
const inventoryDef = `service {
  name    = "inventory"
  port    = 7301
  address = "127.0.0.1"
  check {
    name     = "inventory tcp"
    tcp      = "127.0.0.1:7301"
    interval = "1s"
  }
  connect {
    sidecar_service {
      address = "127.0.0.1"
      checks = [
        {
          name          = "inventory sidecar follows inventory"
          alias_service = "inventory"
          status        = "passing"
        }
      ]
    }
  }
}
`

const checkoutDef = `{
  "service": {
    "name": "checkout",
    "port": 7401,
    "address": "127.0.0.1",
    "connect": {
      "sidecar_service": {
        "address": "127.0.0.1",
        "checks": [
          {"name": "checkout sidecar follows checkout", "alias_service": "checkout", "status": "passing"}
        ],
        "proxy": {"upstreams": [{"destination_name": "inventory", "local_bind_port": 9301}]}
      }
    }
  }
}
`

// runInventory starts inventory, a socat on 127.0.0.1:7301.
const runInventory = "  - run: {name: inventory, command: \"socat TCP-LISTEN:7301,bind=127.0.0.1,reuseaddr,fork SYSTEM:'sed -u s/^/stock-/'\", ready: 127.0.0.1:7301}\n"

// writeShop writes the inventory and checkout definitions and a scenario
// of steps after registering them and starting inventory, returning the
// scenario's path.
func writeShop(t *testing.T, steps string) string {
	return writeShopWith(t, inventoryDef, runInventory+steps)
}

// writeShopWith writes inventory's definition inventory and checkout's,
// and a scenario of steps after registering them.
func writeShopWith(t *testing.T, inventory, steps string) string {
	t.Helper()
	dir := t.TempDir()
	writeScenario(t, dir, "inventory.hcl", inventory)
	writeScenario(t, dir, "checkout.json", checkoutDef)
	return writeScenario(t, dir, "shop.yaml", "name: shop\nsteps:\n"+
		"  - start-agent: {}\n"+
		"  - register: inventory.hcl\n"+
		"  - register: checkout.json\n"+
		steps)
}

// A sidecar whose alias check is declared passing is registered with
// that status, which the catalog shows until the agent syncs the alias's
// first computed status (critical while inventory's own check has not
// passed yet), which may take seconds after an agent starts. The sidecar
// step is ready only once the agent's alias agrees with inventory's
// checks, so the first probe right after it never meets the flap: 20
// runs in a row all pass.
func TestSidecarWithAnAliasCheckIsReadyOnlyOnceTheAliasFollows(t *testing.T) {
	needMesh(t)
	file := writeShop(t, "  - sidecar: inventory\n"+
		"  - sidecar: checkout\n"+
		"  - expect: {to: checkout/inventory, send: \"apples\\n\", reply: \"stock-apples\\n\", times: 3}\n")
	r := scenario(t, "run", "--count", "20", file)
	r.mustExit(t, 0)
	if n := strings.Count(r.stdout, "--- PASS shop"); n != 20 {
		t.Errorf("%d runs passed, want 20:\n%s", n, r.stdout)
	}
	var sidecars []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, " sidecar          inventory") {
			sidecars = append(sidecars, strings.TrimSpace(line[strings.LastIndex(line, "("):]))
		}
	}
	t.Logf("20 runs in %s; the inventory sidecar step took %s", r.elapsed.Round(time.Millisecond), strings.Join(sidecars, " "))
}

// inventory's TCP check declared passing and run every 30 s: Consul says
// passing from the registration on, and for up to 30 s after inventory
// is gone, before its first run and after its last.
var slowInventoryDef = strings.Replace(strings.Replace(inventoryDef, `interval = "1s"`, `interval = "30s"
    status   = "passing"`, 1), `status        = "passing"`, ``, 1)

// A health claim of passing rests on evidence about the instance now: the
// target of its TCP check answered by a process the scenario started.
// Consul's passing with nothing there is stale: a claim without within
// fails at once, saying so; one with within waits for Consul and the
// evidence to agree, and fails when they never do. A sidecar's service
// ID is a service of its own for expect health, its alias check's
// evidence being that of the service it follows.
func TestHealthPassingNeedsTheCheckTargetAnsweredNow(t *testing.T) {
	needMesh(t)
	alive := writeShopWith(t, inventoryDef, runInventory+
		"  - expect: {health: inventory, status: passing, within: 5s}\n"+
		"  - expect: {health: inventory-sidecar-proxy, status: passing, within: 5s}\n"+
		"  - sidecar: checkout\n")
	r := scenario(t, "run", alive)
	r.mustExit(t, 0)
	for _, want := range []string{
		`note: evidence: service:inventory "inventory tcp" tests 127.0.0.1:7301: taken now by inventory, pid `,
		`note: health endpoint: instance inventory-sidecar-proxy passing: inventory-sidecar-proxy on node `,
		`service:inventory-sidecar-proxy "inventory sidecar follows inventory" follows inventory, whose service:inventory "inventory tcp" tests 127.0.0.1:7301: taken now by inventory, pid `,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	for _, c := range []struct {
		name, steps string
		want        []string
	}{
		{"before inventory starts", "  - expect: {health: inventory, status: passing}\n",
			[]string{`expected instance inventory passing: Consul gives instance inventory passing, but inventory on node `}},
		{"after inventory stopped", runInventory + "  - sidecar: inventory\n  - stop: inventory\n  - expect: {health: inventory-sidecar-proxy, status: passing}\n",
			[]string{`expected instance inventory-sidecar-proxy passing: Consul gives instance inventory-sidecar-proxy passing, but inventory-sidecar-proxy on node `}},
		// Consul's first run of the check comes at a random moment of its
		// 30 s: when it falls in these 2 s, the failure says critical
		// first, then the stale passing seen before.
		{"within", runInventory + "  - stop: inventory\n  - expect: {health: inventory, status: passing, within: 2s}\n",
			[]string{`expected instance inventory passing within 2s; `, `Consul gives instance inventory passing, but inventory on node `}},
	} {
		r := scenario(t, "run", writeShopWith(t, slowInventoryDef, c.steps))
		r.mustExit(t, 1)
		for _, want := range append(c.want,
			`tcp check service:inventory "inventory tcp" (every 30s) tests 127.0.0.1:7301, where no process this scenario started listens now: Consul's status is stale, from the check's last run, before the change, which runs every 30s; a claim about the status after a change must give Consul time to see it: add within (e.g. within: 1m30s)`,
		) {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, want, r.stdout)
			}
		}
		t.Logf("%s: failed in %s", c.name, r.elapsed.Round(time.Millisecond))
	}

	// An impostor: this test, not the scenario, listens at the target.
	impostor, err := net.Listen("tcp", "127.0.0.1:7301")
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	r = scenario(t, "run", writeShopWith(t, slowInventoryDef, "  - expect: {health: inventory, status: passing}\n"))
	r.mustExit(t, 1)
	if want := fmt.Sprintf("tests 127.0.0.1:7301, where pid %d (", os.Getpid()); !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, "listens, which this scenario did not start: Consul's passing may be that process's doing, not the scenario's service's; stop it, or start the service with a run step") {
		t.Errorf("an impostor at the target is not named as such (%q):\n%s", want, r.stdout)
	}
}

// One service ID registered on two nodes, each with its own check: each
// node's instance is judged by its own node's definition, not by the
// other's. api's check on app1 tests 127.0.0.1:9001, on app2
// 127.0.0.1:9002; only 9002 listens, on both nodes, so app1's instance
// has no evidence and the claim of passing fails, whichever definition
// the book read last.
func TestHealthEvidenceJudgesEachNodesInstanceByItsOwnCheck(t *testing.T) {
	needMesh(t, namespaces)
	api := func(port int) string {
		return fmt.Sprintf("  - register: {service: {name: api, port: %d, address: 127.0.0.1, check: {name: api tcp, tcp: \"127.0.0.1:%d\", interval: 1h, status: passing}}}\n", port, port)
	}
	listen := "  - run: {name: listener, command: \"socat TCP-LISTEN:9002,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9002\"}\n"
	src := "name: health-nodes\nnodes: [server, app1, app2]\nsteps:\n" +
		"  - {start-agent: {dev: true}, node: server}\n" +
		"  - {start-agent: {}, node: app1}\n" +
		"  - {start-agent: {}, node: app2}\n" +
		"  - node: app1\n" + indentStep(listen) +
		"  - node: app2\n" + indentStep(listen) +
		"  - node: app1\n" + indentStep(api(9001)) +
		"  - node: app2\n" + indentStep(api(9002)) +
		"  - expect: {health: api, status: passing}\n"
	file := writeScenario(t, t.TempDir(), "health-nodes.yaml", src)
	r := scenario(t, "run", file)
	r.mustExit(t, 1)
	for _, want := range []string{
		`api on node app1: its tcp check service:api "api tcp" (every 1h) tests 127.0.0.1:9001, where no process this scenario started listens now`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "api on node app2: its tcp check") {
		t.Errorf("app2's instance, whose target listens, is judged contrary:\n%s", r.stdout)
	}
}

// indentStep turns a step item "  - key: value\n" into the rest of an
// item begun by "  - node: NODE\n".
func indentStep(item string) string { return "    " + strings.TrimPrefix(item, "  - ") }

// A check the scenario did not register (an exec step added it through
// the agent's API) has an unknown target: the instance's registered
// address answered by a live process is no evidence for it, its real
// target (here 127.0.0.1:9102, where nothing listens) being elsewhere.
// Declared passing and never run, its passing is no evidence either.
func TestHealthCheckOfUnknownDefinitionIsNotJudgedByTheInstancesAddress(t *testing.T) {
	needMesh(t, testenv.Program("curl"))
	check := `{"ID": "api-extra", "Name": "api extra", "ServiceID": "api", "TCP": "127.0.0.1:9102", "Interval": "1h", "Status": "passing"}`
	dir := t.TempDir()
	checkFile := writeScenario(t, dir, "check.json", check)
	src := "name: health-unknown-check\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - run: {name: api, command: \"socat TCP-LISTEN:9101,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9101\"}\n" +
		"  - register: {service: {name: api, port: 9101, address: 127.0.0.1}}\n" +
		"  - exec: {command: \"curl -sf -X PUT --data @" + checkFile + " http://$CONSUL_HTTP_ADDR/v1/agent/check/register\"}\n" +
		"  - expect: {health: api, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, dir, "health-unknown-check.yaml", src))
	r.mustExit(t, 1)
	want := `Consul has not run its tcp check api-extra "api extra" (every 1h) yet`
	if !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}
	if strings.Contains(r.stdout, "tests 127.0.0.1:9101") {
		t.Errorf("the instance's address is taken as the evidence of a check that tests elsewhere:\n%s", r.stdout)
	}
}

// A TCP check registered passing is passing before Consul ever runs it:
// that is the registration's word, no observation, even with its target
// answered now (it could still fail when run). Without within the claim
// fails saying Consul has not run the check; with within the step waits
// until Consul has run it. A check of the node (added through the
// agent's API) counts as the instance's own do.
func TestHealthPassingDeclaredButNotRunIsNoEvidence(t *testing.T) {
	needMesh(t, testenv.Program("curl"))
	dir := t.TempDir()
	steps := func(interval, expect string) string {
		return "name: health-not-run\nsteps:\n" +
			"  - start-agent: {}\n" +
			"  - run: {name: api, command: \"socat TCP-LISTEN:9111,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9111\"}\n" +
			"  - register: {service: {name: api, port: 9111, address: 127.0.0.1, check: {id: api-tcp, name: api tcp, tcp: \"127.0.0.1:9111\", interval: " + interval + ", status: passing}}}\n" +
			expect
	}
	r := scenario(t, "run", writeScenario(t, dir, "declared.yaml", steps("10m", "  - expect: {health: api, status: passing}\n")))
	r.mustExit(t, 1)
	if want := `Consul has not run its tcp check api-tcp "api tcp" (every 10m) yet: its passing is the status the registration declared, no observation`; !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, "add within (e.g. within: 11m)") {
		t.Errorf("a declared passing is taken as evidence (output lacks %q):\n%s", want, r.stdout)
	}

	r = scenario(t, "run", writeScenario(t, dir, "run.yaml", steps("1s", "  - expect: {health: api, status: passing, within: 5s}\n")))
	r.mustExit(t, 0)
	if want := `api-tcp "api tcp" tests 127.0.0.1:9111: taken now by api`; !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}

	check := `{"ID": "node-tcp", "Name": "node tcp", "TCP": "127.0.0.1:9112", "Interval": "10m", "Status": "passing"}`
	checkFile := writeScenario(t, dir, "check.json", check)
	r = scenario(t, "run", writeScenario(t, dir, "node.yaml", steps("1s",
		"  - exec: {command: \"curl -sf -X PUT --data @"+checkFile+" http://$CONSUL_HTTP_ADDR/v1/agent/check/register\"}\n"+
			"  - expect: {health: api, status: passing, within: 3s}\n")))
	r.mustExit(t, 1)
	if want := `expected instance api passing within 3s; Consul gives instance api passing, but api on node `; !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, `Consul has not run its node's tcp check node-tcp "node tcp" (every 10m) yet`) {
		t.Errorf("a node check declared passing is taken as evidence (output lacks %q):\n%s", want, r.stdout)
	}
}

// Every check starts critical: one Consul has not run yet is no evidence
// of critical, as a declared passing is none of passing. Its target is
// alive here, so Consul's first run would say passing; without within the
// claim fails saying the check has not run, and once Consul has run a
// check whose target is dead, critical passes.
func TestHealthCriticalNotRunIsNoEvidence(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	steps := func(target, interval, expect string) string {
		return "name: health-critical-not-run\nsteps:\n" +
			"  - start-agent: {}\n" +
			"  - run: {name: api, command: \"socat TCP-LISTEN:9113,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9113\"}\n" +
			"  - register: {service: {name: api, port: 9113, address: 127.0.0.1, check: {id: api-tcp, name: api tcp, tcp: \"" + target + "\", interval: " + interval + "}}}\n" +
			expect
	}
	r := scenario(t, "run", writeScenario(t, dir, "unrun.yaml", steps("127.0.0.1:9113", "10m", "  - expect: {health: api, status: critical}\n")))
	r.mustExit(t, 1)
	if want := `Consul has not run its check api-tcp "api tcp" yet: its critical is the status every check starts with, no observation`; !strings.Contains(r.stdout, want) {
		t.Errorf("a check's starting critical is taken as evidence (output lacks %q):\n%s", want, r.stdout)
	}

	r = scenario(t, "run", writeScenario(t, dir, "ran.yaml", steps("127.0.0.1:9114", "1s", "  - expect: {health: api, status: critical, within: 5s}\n")))
	r.mustExit(t, 0)
}

// A check registered again by an exec step (through the agent's API) with
// another target: Consul's last run names the target it tested, and that
// target is the evidence, not the one the book read from the register
// step (127.0.0.1:9121, which a process of the scenario still answers).
func TestHealthEvidenceTestsTheTargetConsulsLastRunNames(t *testing.T) {
	needMesh(t, testenv.Program("curl"))
	dir := t.TempDir()
	again := `{"ID": "api", "Name": "api", "Port": 9121, "Address": "127.0.0.1", "Check": {"CheckID": "api-tcp", "Name": "api tcp", "TCP": "127.0.0.1:9122", "Interval": "3s"}}`
	againFile := writeScenario(t, dir, "again.json", again)
	src := "name: health-registered-again\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - run: {name: old, command: \"socat TCP-LISTEN:9121,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9121\"}\n" +
		"  - run: {name: new, command: \"socat TCP-LISTEN:9122,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9122\"}\n" +
		"  - register: {service: {id: api, name: api, port: 9121, address: 127.0.0.1, check: {id: api-tcp, name: api tcp, tcp: \"127.0.0.1:9121\", interval: 1h}}}\n" +
		"  - exec: {command: \"curl -sf -X PUT --data @" + againFile + " http://$CONSUL_HTTP_ADDR/v1/agent/service/register\"}\n" +
		"  - expect: {health: api, status: passing, within: 10s}\n" +
		"  - stop: new\n" +
		"  - name: Consul's passing is stale now\n" +
		"    expect: {health: api, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, dir, "again.yaml", src))
	r.mustExit(t, 1)
	if want := `api-tcp "api tcp" tests 127.0.0.1:9122 (the target Consul's last run of it names, not 127.0.0.1:9121 as the scenario registered it: the check was registered again, before or after that run): taken now by new`; !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stdout, "FAIL  8 expect           Consul's passing is stale now") || !strings.Contains(r.stdout, "tests 127.0.0.1:9122 (the target Consul's last run of it names") {
		t.Errorf("the book's old target stands in for Consul's:\n%s", r.stdout)
	}
}

// The scenario's own second registration moves a check to a target where
// nothing listens: Consul keeps the check's last output, naming the old
// target, which still answers. Which is newer cannot be told from
// Consul's answer, so both must answer: the claim fails on the new one.
func TestHealthEvidenceTestsTheScenariosTargetBesideConsulsLastRun(t *testing.T) {
	needMesh(t)
	register := func(port string) string {
		return "  - register: {service: {id: rr, name: rr, port: 9141, address: 127.0.0.1, check: {id: rr-tcp, name: rr tcp, tcp: \"127.0.0.1:" + port + "\", interval: 1h}}}\n"
	}
	src := "name: health-registered-again-by-the-scenario\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - run: {name: old, command: \"socat TCP-LISTEN:9141,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9141\"}\n" +
		"  - register: {service: {id: rr, name: rr, port: 9141, address: 127.0.0.1, check: {id: rr-tcp, name: rr tcp, tcp: \"127.0.0.1:9141\", interval: 1s}}}\n" +
		"  - expect: {health: rr, status: passing, within: 10s}\n" +
		register("9142") +
		"  - name: the new target is dead\n" +
		"    expect: {health: rr, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, t.TempDir(), "again.yaml", src))
	r.mustExit(t, 1)
	if want := `tests 127.0.0.1:9142 (as the scenario registered it; Consul's last run of it names 127.0.0.1:9141`; !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "FAIL  6 expect           the new target is dead") {
		t.Errorf("Consul's old output stands in for the scenario's new target (output lacks %q):\n%s", want, r.stdout)
	}
}

// A gRPC check against a plain TCP echo, declared passing: a connection
// taken there is not a gRPC health answer. Before Consul runs it, its
// passing is no evidence; once Consul ran it (critical, as the echo
// speaks no gRPC) the claim fails; the note of a passing one says only
// a connection was accepted.
func TestHealthGRPCCheckIsNotPassedByATCPAccept(t *testing.T) {
	needMesh(t)
	src := "name: health-grpc\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - run: {name: echo, command: \"socat TCP-LISTEN:9131,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9131\"}\n" +
		"  - register: {service: {name: g, port: 9131, address: 127.0.0.1, check: {id: g-grpc, name: g grpc, grpc: \"127.0.0.1:9131\", interval: 10m, status: passing}}}\n" +
		"  - expect: {health: g, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, t.TempDir(), "grpc.yaml", src))
	r.mustExit(t, 1)
	if want := `Consul has not run its grpc check g-grpc "g grpc" (every 10m) yet`; !strings.Contains(r.stdout, want) {
		t.Errorf("a TCP accept stands for a gRPC health answer (output lacks %q):\n%s", want, r.stdout)
	}
}

// A proxy registered as its own service (kind connect-proxy) whose alias
// check follows another service (db, passing) than its destination (web,
// critical: its TTL not set yet): Consul has the proxy passing, and the
// sidecar step is ready, its alias judged by what it follows.
func TestSidecarRegisteredOnItsOwnFollowsItsAliasChecksService(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	writeScenario(t, dir, "web.hcl", `services = [
  { name = "db", id = "db", port = 8090, address = "127.0.0.1" },
  {
    name = "web", id = "web", port = 8080, address = "127.0.0.1"
    checks = [{ id = "web-ttl", name = "web ttl", ttl = "10m" }]
  },
  {
    kind = "connect-proxy", name = "web-proxy", id = "web-proxy", port = 21000, address = "127.0.0.1"
    proxy {
      destination_service_name = "web"
      destination_service_id   = "web"
      local_service_address    = "127.0.0.1"
      local_service_port       = 8080
    }
    checks = [{ id = "web-proxy-alias", name = "web-proxy follows db", alias_service = "db" }]
  },
]
`)
	src := "name: proxy-alias-other\nsteps:\n" +
		"  - start-agent: {}\n" +
		"  - register: web.hcl\n" +
		"  - {sidecar: web, timeout: 20s}\n" +
		"  - check: {id: web-ttl, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, dir, "proxy.yaml", src))
	r.mustExit(t, 0)
}

// An alias's evidence is that of what it follows, to any depth: a
// follows b follows c, whose TCP check's target is dead; x follows c
// through alias_node (its own node, named); y follows z follows y, a
// cycle that ends as Consul's word.
func TestHealthEvidenceFollowsAliasChainsAndAliasNode(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	writeScenario(t, dir, "chain.hcl", `services = [
  {
    name = "c", id = "c", port = 9151, address = "127.0.0.1"
    checks = [{ id = "c-tcp", name = "c tcp", tcp = "127.0.0.1:9151", interval = "10m", status = "passing" }]
  },
  { name = "b", id = "b", port = 9152, checks = [{ id = "b-alias", name = "b-alias", alias_service = "c" }] },
  { name = "a", id = "a", port = 9153, checks = [{ id = "a-alias", name = "a-alias", alias_service = "b" }] },
  { name = "x", id = "x", port = 9154, checks = [{ id = "x-alias", name = "x-alias", alias_node = "chain-node", alias_service = "c" }] },
  { name = "y", id = "y", port = 9155, checks = [{ id = "y-alias", name = "y-alias", alias_service = "z", status = "passing" }] },
  { name = "z", id = "z", port = 9156, checks = [{ id = "z-alias", name = "z-alias", alias_service = "y", status = "passing" }] },
]
`)
	src := "name: alias-chain\nsteps:\n" +
		"  - start-agent: {node: chain-node}\n" +
		"  - register: chain.hcl\n" +
		"  - name: a\n    expect: {health: a, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, dir, "a.yaml", src))
	r.mustExit(t, 1)
	if want := `its alias check a-alias follows b, whose alias check b-alias follows c, whose tcp check c-tcp "c tcp" (every 10m) tests 127.0.0.1:9151, where no process this scenario started listens now`; !strings.Contains(r.stdout, want) {
		t.Errorf("an alias chain is not followed (output lacks %q):\n%s", want, r.stdout)
	}
	r = scenario(t, "run", writeScenario(t, dir, "x.yaml", strings.Replace(src, "{health: a,", "{health: x,", 1)))
	r.mustExit(t, 1)
	if want := `its alias check x-alias follows c, whose tcp check c-tcp "c tcp" (every 10m) tests 127.0.0.1:9151`; !strings.Contains(r.stdout, want) {
		t.Errorf("alias_node is not followed (output lacks %q):\n%s", want, r.stdout)
	}
	// Consul's own outcome for the cycle depends on which alias first
	// runs before the other service is registered: one that finds it
	// missing turns critical, and the two then hold each other critical.
	// Either way the claim rests on Consul's word, and the walk ends.
	r = scenario(t, "run", writeScenario(t, dir, "y.yaml", strings.Replace(src, "{health: a, status: passing}", "{health: y, status: passing, within: 5s}", 1)))
	switch want := map[int]string{
		0: `y-alias follows z, whose z-alias follows y, which the aliases followed so far lead from: a cycle, Consul's word only`,
		1: `expected instance y passing within 5s; 1 of 1 not passing: y on node chain-node: critical by y-alias (critical): Aliased check "z-alias" failing`,
	}[r.exit]; {
	case want == "":
		t.Errorf("exit status %d, want 0 (Consul says passing) or 1 (Consul says critical)\nstdout:\n%s\nstderr:\n%s", r.exit, r.stdout, r.stderr)
	case !strings.Contains(r.stdout, want):
		t.Errorf("exit %d: output lacks %q:\n%s", r.exit, want, r.stdout)
	}
}

// A start-agent config dir's check defined apart from its service
// (top-level, service_id) is the book's too: its target (9162, where
// nothing listens) is tested, not the service's address (9161, which a
// process of the scenario answers).
func TestHealthEvidenceKnowsAConfigDirsTopLevelCheck(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeScenario(t, filepath.Join(dir, "conf"), "s.hcl", `service { name = "s", id = "s", port = 9161, address = "127.0.0.1" }
check {
  id = "s-tcp-9162", name = "s tcp 9162", service_id = "s"
  tcp = "127.0.0.1:9162", interval = "10m", status = "passing"
}
`)
	src := "name: config-dir-check\nsteps:\n" +
		"  - start-agent: {config-dir: conf}\n" +
		"  - run: {name: s, command: \"socat TCP-LISTEN:9161,bind=127.0.0.1,reuseaddr,fork EXEC:cat\", ready: \"127.0.0.1:9161\"}\n" +
		"  - expect: {health: s, status: passing}\n"
	r := scenario(t, "run", writeScenario(t, dir, "c.yaml", src))
	r.mustExit(t, 1)
	if want := `its tcp check s-tcp-9162 "s tcp 9162" (every 10m) tests 127.0.0.1:9162, where no process this scenario started listens now`; !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}
}
