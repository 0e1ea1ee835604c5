package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/internal/suggest"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// disconnectType is the disconnect step.
var disconnectType = cableType("disconnect", "it cuts the cables of the scenario's own nodes",
	"cuts a node's network cable: its packets go nowhere, existing TCP connections stall (nothing is reset) and serf marks the node failed after ~4-6 s; reconnect restores it")

// cableType is the type of disconnect or reconnect, whose value is the
// node whose cable they act on; why says why it cannot run against an
// existing cluster.
func cableType(name, why, summary string) Type {
	return Typed(Type{
		Name:    name,
		Cluster: OwnClusterOnly(why),
		Summary: summary,
		Fields:  "NODE",
		Example: "- " + name + ": app2",
		Timeout: 10 * time.Second,
	}, func(d *spec.Decoder, val *CableSpec, f *spec.Fields) Step {
		return buildCable(d, string(*val), f.At(), name)
	})
}

// CableSpec is the value of a disconnect or reconnect step: the node.
type CableSpec string

// kindDisconnected names the nodes whose cable is cut, for validation.
const kindDisconnected = "disconnected node"

// cable is a disconnect or reconnect step.
type cable struct {
	node string
	cut  bool
}

func buildCable(d *spec.Decoder, node string, v *yaml.Node, verb string) Step {
	if !knownNode(d, v, verb, node) {
		return nil
	}
	c := &cable{node: node, cut: verb == "disconnect"}
	switch {
	case c.cut && d.Defined(kindDisconnected, node):
		d.Errorf(v, "disconnect: node %s is already disconnected by an earlier step; reconnect it first", node)
	case c.cut:
		d.Define(kindDisconnected, node, v)
	case !d.Defined(kindDisconnected, node):
		d.Errorf(v, "reconnect: node %s is not disconnected (no earlier disconnect step cut it)", node)
	default:
		d.Undefine(kindDisconnected, node)
	}
	return c
}

// knownNode reports an error unless node is one of the scenario's nodes.
func knownNode(d *spec.Decoder, at *yaml.Node, what, node string) bool {
	nodes := d.Nodes()
	switch {
	case !needsNodes(d, at, what):
		return false
	case !slices.Contains(nodes, node):
		msg := fmt.Sprintf("%s: unknown node %q", what, node)
		if s := suggest.Closest(node, nodes); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		d.Errorf(at, "%s; the scenario's nodes are %s", msg, strings.Join(nodes, ", "))
		return false
	}
	return true
}

func (c *cable) String() string { return c.node }

// Change: the cut lasts until the reconnect of the same node.
func (c *cable) Change() Change {
	if c.cut {
		return Change{Kind: ChangeFault, What: "disconnect " + c.node, Node: c.node, Span: "cable"}
	}
	return Change{Kind: ChangeFault, What: "reconnect " + c.node, Node: c.node, Span: "cable", End: true}
}

func (c *cable) Run(ctx context.Context, env Env) error {
	net, err := networkOf(env)
	if err != nil {
		return err
	}
	if c.cut {
		return net.Disconnect(c.node)
	}
	return net.Reconnect(c.node)
}
