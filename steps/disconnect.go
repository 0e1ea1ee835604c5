package steps

import (
	"context"
	"time"

	"gopkg.in/yaml.v3"

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
	if !d.KnownNode(v, verb, node) {
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
