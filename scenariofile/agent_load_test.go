package scenariofile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/steps"
)

// Against an existing cluster (`run --agent`, `validate --agent`), each
// step type is judged by the effect its registration declares: one that
// writes is refused without --allow-writes, naming the step at its
// file:line:col and the flag; one that needs the scenario's own cluster
// is refused always; one that reads passes either way. Every type is
// tried, from its own example, so a new type is covered as it is added.
func TestAgainstAnExistingClusterEveryStepTypeIsJudgedByItsDeclaredEffect(t *testing.T) {
	dir := writeFixtures(t)
	for _, typ := range steps.Default().Types() {
		for _, allowWrites := range []bool{false, true} {
			path := filepath.Join(dir, "gate.yaml")
			src := "steps:\n" + indentExample(typ.Example)
			_, err := Parse(path, []byte(src), steps.Default(), AgainstExistingCluster(allowWrites))
			got := ""
			if err != nil {
				got = err.Error()
			}
			at := path + ":2:5: step 1 (" + typ.Name + ") "
			var want string
			switch typ.Cluster.Use {
			case steps.UseUndone:
				if !allowWrites {
					want = at + "writes to the live cluster: add --allow-writes to let it (it is undone at the end)"
				}
			case steps.UseNotUndone:
				if !allowWrites {
					want = at + "can change the live cluster in ways the runner cannot undo (" + typ.Cluster.Why + "): add --allow-writes"
				}
			case steps.UseOwnCluster:
				want = at + "cannot run with --agent: " + typ.Cluster.Why
			case steps.UseReads:
			default:
				t.Errorf("%s declares no effect on a cluster", typ.Name)
			}
			name := fmt.Sprintf("%s allowWrites=%v", typ.Name, allowWrites)
			switch {
			case want != "" && !strings.Contains(got, want):
				t.Errorf("%s: want %q among the errors:\n%s", name, want, got)
			case want == "" && strings.Contains(got, "--agent") || want == "" && strings.Contains(got, "--allow-writes"):
				t.Errorf("%s: refused, but it may run:\n%s", name, got)
			}
		}
	}
}

// indentExample turns a type's one-line example ("- type: ...") into the
// first item of steps.
func indentExample(example string) string { return "  " + example + "\n" }

// The steps that write in the issue that found `--agent` writing
// unasked: each is refused without --allow-writes.
func TestAgainstAnExistingClusterTheWritesOfTheFindingAreRefused(t *testing.T) {
	src := `steps:
  - exec: {command: "consul intention create -deny web socat && consul kv put gate x"}
  - acl-token: {name: t, service-identities: [web]}
  - run: {name: writer, command: "sleep 1"}
  - config-entry: {entry: {Kind: service-defaults, Name: socat, Protocol: tcp}}
  - check: {id: ttl-socat, status: critical}
  - prepared-query: {name: q, service: socat}
  - set-intention: {source: web, destination: socat, action: deny}
  - rotate-ca: {}
`
	_, err := Parse("gate.yaml", []byte(src), steps.Default(), AgainstExistingCluster(false))
	if err == nil {
		t.Fatal("every write was accepted")
	}
	for i, typ := range []string{"exec", "acl-token", "run", "config-entry", "check", "prepared-query", "set-intention", "rotate-ca"} {
		if want := fmt.Sprintf("gate.yaml:%d:5: step %d (%s) ", i+2, i+1, typ); !strings.Contains(err.Error(), want) {
			t.Errorf("no refusal of %s (%q):\n%v", typ, want, err)
		}
	}
	if strings.Contains(err.Error(), "warning") {
		t.Errorf("warnings among the errors:\n%v", err)
	}
}

// A gate names the cluster's services, which no step registered: no
// warning says so (the services are the cluster's).
func TestAgainstAnExistingClusterNoWarningAboutUnregisteredServices(t *testing.T) {
	src := `steps:
  - expect: {intention: {source: web, destination: socat}, allowed: true}
  - set-intention: {source: web, destination: socat, action: deny}
  - prepared-query: {name: q, service: socat}
`
	sc, err := Parse("gate.yaml", []byte(src), steps.Default(), AgainstExistingCluster(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range sc.Warnings {
		t.Errorf("warning: %v", w)
	}
}

// A service defined in a file given to the agent by -config-file in
// start-agent.args (relative to the scenario file) is known to later
// steps, as config-dir's services are.
func TestServicesOfAConfigFileInStartAgentArgsAreKnownToLaterSteps(t *testing.T) {
	dir := writeFixtures(t)
	if _, errs := parseIn(t, dir, "steps:\n  - start-agent: {}\n  - sidecar: web\n"); errs == nil {
		t.Fatal("a sidecar of a service nobody defined is accepted: the test proves nothing")
	}
	if _, errs := parseIn(t, dir, "steps:\n  - start-agent: {args: [-config-file, web.json]}\n  - sidecar: web\n"); errs != nil {
		t.Errorf("web of -config-file web.json is unknown to the sidecar step:\n%s", strings.Join(errs, "\n"))
	}
}
