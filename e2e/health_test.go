package e2e

import (
	"strings"
	"testing"
	"time"
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

// writeShop writes the inventory and checkout definitions and a scenario
// of steps after registering them and starting inventory, returning the
// scenario's path.
func writeShop(t *testing.T, steps string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"inventory.hcl": inventoryDef, "checkout.json": checkoutDef,
		"shop.yaml": "name: shop\nsteps:\n" +
			"  - start-agent: {}\n" +
			"  - register: inventory.hcl\n" +
			"  - register: checkout.json\n" +
			"  - run: {name: inventory, command: \"socat TCP-LISTEN:7301,bind=127.0.0.1,reuseaddr,fork SYSTEM:'sed -u s/^/stock-/'\", ready: 127.0.0.1:7301}\n" +
			steps} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "shop.yaml")
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
