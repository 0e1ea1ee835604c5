package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/internal/suggest"
)

// The topology checks: a scenario's nodes, which node each step acts on,
// and whether the agents its start-agent steps start there can form
// clusters.

// nodeName is what a node may be called: it names a network namespace, a
// log folder and the Consul node, so a short DNS label.
var nodeName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,14}$`)

// maxNodes bounds a topology: every node runs an agent, and 2 cores carry
// about five (see docs/internals/performance.md).
const maxNodes = 16

// DefaultDatacenter is Consul's.
const DefaultDatacenter = "dc1"

// Cluster is a scenario's topology, known before it runs: its nodes and
// the agents its start-agent steps start there, so that each agent knows
// whom to join.
type Cluster struct {
	Nodes  []string
	Agents []AgentPlan // in scenario order
}

// AgentPlan is one agent a start-agent step starts on a node.
type AgentPlan struct {
	Node, Datacenter string
	Server, Dev      bool
}

// RunsServer says whether node's agent is a server (of any datacenter).
func (c Cluster) RunsServer(node string) bool {
	for _, a := range c.Agents {
		if a.Node == node && a.Server {
			return true
		}
	}
	return false
}

// Servers lists the nodes whose agents are servers of datacenter, in
// scenario order, once each; dev servers only when withDev.
func (c Cluster) Servers(datacenter string, withDev bool) []string {
	var out []string
	for _, a := range c.Agents {
		if a.Server && (withDev || !a.Dev) && a.Datacenter == datacenter && !slices.Contains(out, a.Node) {
			out = append(out, a.Node)
		}
	}
	return out
}

// Datacenters lists the datacenters of the scenario's agents, in order.
func (c Cluster) Datacenters() []string {
	var dcs []string
	for _, a := range c.Agents {
		if !slices.Contains(dcs, a.Datacenter) {
			dcs = append(dcs, a.Datacenter)
		}
	}
	return dcs
}

// Primary is the primary datacenter: the first server's.
func (c Cluster) Primary() string {
	for _, a := range c.Agents {
		if a.Server {
			return a.Datacenter
		}
	}
	return DefaultDatacenter
}

// DecodeNodes reads the scenario's top-level `nodes` and makes them the
// scenario's nodes.
func (d *Decoder) DecodeNodes(n *yaml.Node) []string {
	n = Resolve(n)
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
	d.nodes = nodes
	return nodes
}

// ItemNode reads the current step item's `node:` (at is its value, nil
// when absent) and checks it against the scenario's nodes and the step
// type (onNode: it acts on one node); it returns the node, or "".
func (d *Decoder) ItemNode(at *yaml.Node, name string, onNode bool) string {
	nodes := d.nodes
	if at == nil {
		if len(nodes) > 0 && onNode {
			d.ErrorAt(d.step.pos, "step %d (%s) acts on one node: say which with `node:` (one of %s)", d.step.index+1, d.step.typeName, strings.Join(nodes, ", "))
		}
		return ""
	}
	switch {
	case len(nodes) == 0:
		d.Errorf(at, "node %q: this scenario has no nodes; list them at the top with `nodes: [%s, ...]`, or remove `node:`", name, name)
		return ""
	case !slices.Contains(nodes, name):
		d.unknownNode(at, "", name)
		return ""
	}
	return name
}

// NeedNodes reports an error at at unless the scenario has nodes; what
// names the step.
func (d *Decoder) NeedNodes(at *yaml.Node, what string) bool {
	if len(d.nodes) == 0 {
		d.Errorf(at, "%s needs nodes: list them at the top (`nodes: [server, app1]`) and start their agents with `node:`", what)
		return false
	}
	return true
}

// KnownNode reports an error at at unless node is one of the scenario's
// nodes; what names the step.
func (d *Decoder) KnownNode(at *yaml.Node, what, node string) bool {
	switch {
	case !d.NeedNodes(at, what):
		return false
	case !slices.Contains(d.nodes, node):
		d.unknownNode(at, what+": ", node)
		return false
	}
	return true
}

func (d *Decoder) unknownNode(at *yaml.Node, prefix, name string) {
	msg := fmt.Sprintf("%sunknown node %q", prefix, name)
	if s := suggest.Closest(name, d.nodes); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.Errorf(at, "%s; the scenario's nodes are %s", msg, strings.Join(d.nodes, ", "))
}

// plannedAgent is an agent a step starts on a node, with that step.
type plannedAgent struct {
	plan AgentPlan
	step stepInfo
}

// PlanAgent records that the current step starts plan's agent on its
// node (nothing on the host, which has one agent and no cluster to plan).
func (d *Decoder) PlanAgent(plan AgentPlan) {
	if d.node == "" {
		return
	}
	plan.Node = d.node
	d.agents = append(d.agents, plannedAgent{plan, d.step})
}

// Cluster returns the agents the scenario starts on its nodes, having
// checked that they can form clusters: every datacenter has a server, a
// dev server is alone in its datacenter, and the servers of a datacenter
// start in consecutive steps (the first cannot elect a leader until the
// others have started, so nothing may wait for it in between). Call it
// once every step was read.
func (d *Decoder) Cluster() Cluster {
	c := Cluster{Nodes: d.nodes}
	if len(d.nodes) == 0 {
		return c
	}
	agentStep := map[int]bool{}
	for _, a := range d.agents {
		agentStep[a.step.index] = true
	}
	lastServer := map[string]stepInfo{}
	for _, a := range d.agents {
		if a.plan.Server {
			if prev, ok := lastServer[a.plan.Datacenter]; ok {
				for _, between := range d.steps {
					if between.index > prev.index && between.index < a.step.index && !agentStep[between.index] {
						d.ErrorAt(a.step.pos, "the servers of %s must start in consecutive start-agent steps: step %d (%s) comes between the servers of steps %d and %d, and would wait for a leader that needs the later server; move it after step %d",
							a.plan.Datacenter, between.index+1, between.typeName, prev.index+1, a.step.index+1, a.step.index+1)
						break
					}
				}
			}
			lastServer[a.plan.Datacenter] = a.step
		}
		c.Agents = append(c.Agents, a.plan)
	}
	for _, a := range d.agents {
		if len(c.Servers(a.plan.Datacenter, true)) == 0 {
			d.ErrorAt(a.step.pos, "node %s runs a client of datacenter %s, which has no server: add a start-agent step with `server: true` (or `dev: true`) in %s", a.plan.Node, a.plan.Datacenter, a.plan.Datacenter)
			continue
		}
		if a.plan.Dev {
			for _, b := range c.Agents {
				if b.Server && b.Datacenter == a.plan.Datacenter && b.Node != a.plan.Node {
					d.ErrorAt(a.step.pos, "datacenter %s has a dev server on %s and another server on %s: a dev server cannot join others; use `server: true` on each", a.plan.Datacenter, a.plan.Node, b.Node)
					break
				}
			}
		}
	}
	return c
}
