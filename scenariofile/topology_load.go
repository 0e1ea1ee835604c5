package scenariofile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/internal/suggest"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// nodeName is what a node may be called: it names a network namespace, a
// log folder and the Consul node, so a short DNS label.
var nodeName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,14}$`)

// maxNodes bounds a topology: every node runs an agent, and 2 cores carry
// about five (see docs/internals/performance.md).
const maxNodes = 16

func decodeNodes(d *spec.Decoder, n *yaml.Node) []string {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.Errorf(n, "nodes must be a list of node names, like [server, app1, app2]")
		return nil
	}
	if len(n.Content) > maxNodes {
		d.Errorf(n, "nodes: %d nodes is more than %d; each runs a Consul agent", len(n.Content), maxNodes)
	}
	var nodes []string
	for _, item := range n.Content {
		name, ok := d.String(item, "nodes item")
		switch {
		case !ok:
		case !nodeName.MatchString(name) || strings.HasSuffix(name, "-"):
			d.Errorf(item, "node name %q must be a short DNS label: a lowercase letter, then up to 14 lowercase letters, digits or dashes (it names a network namespace and the Consul node)", name)
		case slices.Contains(nodes, name):
			d.Errorf(item, "node %q is listed twice", name)
		default:
			nodes = append(nodes, name)
		}
	}
	return nodes
}

// decodeItemNode reads an item's `node:` and checks it against the
// scenario's nodes and the step type.
func decodeItemNode(d *spec.Decoder, n *yaml.Node, name string, t steps.Type, at *yaml.Node, index int) string {
	nodes := d.Nodes()
	if n == nil {
		if len(nodes) > 0 && t.OnNode {
			d.Errorf(at, "step %d (%s) acts on one node: say which with `node:` (one of %s)", index+1, t.Name, strings.Join(nodes, ", "))
		}
		return ""
	}
	switch {
	case len(nodes) == 0:
		d.Errorf(n, "node %q: this scenario has no nodes; list them at the top with `nodes: [%s, ...]`, or remove `node:`", name, name)
		return ""
	case !slices.Contains(nodes, name):
		msg := fmt.Sprintf("unknown node %q", name)
		if s := suggest.Closest(name, nodes); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.Errorf(n, "%s; the scenario's nodes are %s", msg, strings.Join(nodes, ", "))
		return ""
	}
	return name
}

// planCluster collects the agents the scenario starts on its nodes and
// checks that they can form clusters: every datacenter has a server, a
// dev server is alone in its datacenter, and the servers of a datacenter
// start in consecutive steps (the first cannot elect a leader until the
// others have started, so nothing may wait for it in between).
func planCluster(d *spec.Decoder, sc *Scenario) steps.Cluster {
	c := steps.Cluster{Nodes: sc.Nodes}
	if len(sc.Nodes) == 0 {
		return c
	}
	type seen struct {
		item  *Item
		index int
	}
	lastServer := map[string]seen{}
	var at []spec.Pos // of each agent's step
	for i := range sc.Items {
		item := &sc.Items[i]
		starter, ok := item.Step.(steps.AgentStarter)
		if !ok || item.Node == "" {
			continue
		}
		plan := starter.Agent(item.Node)
		if plan.Server {
			if prev, ok := lastServer[plan.Datacenter]; ok {
				for j := prev.index + 1; j < i; j++ {
					if _, agent := sc.Items[j].Step.(steps.AgentStarter); !agent {
						d.ErrorAt(item.Pos, "the servers of %s must start in consecutive start-agent steps: step %d (%s) comes between the servers of steps %d and %d, and would wait for a leader that needs the later server; move it after step %d",
							plan.Datacenter, j+1, sc.Items[j].Type, prev.index+1, i+1, i+1)
						break
					}
				}
			}
			lastServer[plan.Datacenter] = seen{item, i}
		}
		c.Agents = append(c.Agents, plan)
		at = append(at, item.Pos)
	}
	for k, a := range c.Agents {
		servers := c.Servers(a.Datacenter, true)
		if len(servers) == 0 {
			d.ErrorAt(at[k], "node %s runs a client of datacenter %s, which has no server: add a start-agent step with `server: true` (or `dev: true`) in %s", a.Node, a.Datacenter, a.Datacenter)
			continue
		}
		if a.Dev {
			for _, b := range c.Agents {
				if b.Server && b.Datacenter == a.Datacenter && b.Node != a.Node {
					d.ErrorAt(at[k], "datacenter %s has a dev server on %s and another server on %s: a dev server cannot join others; use `server: true` on each", a.Datacenter, a.Node, b.Node)
					break
				}
			}
		}
	}
	return c
}
