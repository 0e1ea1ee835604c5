package e2e

import (
	"strings"
	"testing"
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
