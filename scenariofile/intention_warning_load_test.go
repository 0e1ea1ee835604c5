package scenariofile

import (
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/steps"
)

// An intention check right after an intention write needs no within
// where Consul's check reads what was written (the scenario's own agents,
// one datacenter: the check is the leader's, which applied the write);
// where it may lag (a second datacenter, replicated from the primary; a
// cluster the scenario did not start) the warning asks for one.
func TestAnIntentionCheckAfterAWriteWarnsOnlyWhereItMayLag(t *testing.T) {
	const write = "  - set-intention: {source: web, destination: socat, action: deny}\n" +
		"  - expect: {intention: {source: web, destination: socat}, allowed: false}\n"
	const lags = "expect after an intention change has no within"
	for _, c := range []struct {
		name, src string
		opts      []Option
		want      string // "" for no warning
	}{
		{"the host's agent", "steps:\n  - start-agent: {}\n" + write, nil, ""},
		{"one datacenter of nodes", "nodes: [s1, c1]\nsteps:\n  - {start-agent: {server: true}, node: s1}\n  - {start-agent: {}, node: c1}\n" + write, nil, ""},
		{"two datacenters", "nodes: [s1, s2]\nsteps:\n  - {start-agent: {server: true}, node: s1}\n  - {start-agent: {server: true, datacenter: dc2}, node: s2}\n" + write, nil, lags},
		{"an agent joining others", "steps:\n  - start-agent: {dev: false, args: [-retry-join=10.0.0.9]}\n" + write, nil, lags},
		{"an existing cluster", "steps:\n" + write, []Option{AgainstExistingCluster(true)}, lags},
	} {
		sc, err := Parse("w.yaml", []byte(c.src), steps.Default(), c.opts...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var warnings []string
		for _, w := range sc.Warnings {
			if strings.Contains(w.Error(), "has no within") {
				warnings = append(warnings, w.Error())
			}
		}
		switch {
		case c.want == "" && len(warnings) > 0:
			t.Errorf("%s: warnings %v, want none", c.name, warnings)
		case c.want != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], c.want)):
			t.Errorf("%s: warnings %v, want one with %q", c.name, warnings, c.want)
		}
	}
}
