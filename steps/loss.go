package steps

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// lossType is the loss step.
var lossType = Typed(Type{
	Name:    "loss",
	Cluster: OwnClusterOnly("it drops packets on the links of the scenario's own nodes"),
	OnNode:  true,
	Summary: "drops a percentage of the node's packets, in and out, silently (nftables; this kernel has no netem, so no latency); 0% stops it; 100% is a partition that the agent's loopback does not feel",
	Fields:  "PERCENT, like 30% (0% stops the loss), on the node the item names with node:",
	Example: "- loss: 30%",
	Timeout: 10 * time.Second,
}, buildLoss)

// LossSpec is the value of a loss step: a percentage, like 30%.
type LossSpec string

type loss struct{ percent int }

func buildLoss(d *spec.Decoder, val *LossSpec, f *spec.Fields) Step {
	s, v := string(*val), f.At()
	p, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")))
	if err != nil || p < 0 || p > 100 {
		d.Errorf(v, "loss: %q is not a percentage from 0%% to 100%%, like 30%%", s)
		return nil
	}
	// Its node was checked with the item's node:; without nodes it has none.
	d.NeedNodes(v, "loss")
	return &loss{percent: p}
}

func (l *loss) String() string {
	if l.percent == 0 {
		return "no more loss"
	}
	return fmt.Sprintf("%d%% of packets dropped", l.percent)
}

func (l *loss) Change() Change {
	return Change{Kind: ChangeFault, What: fmt.Sprintf("loss %d%%", l.percent), Span: "loss", End: l.percent == 0}
}

func (l *loss) Run(ctx context.Context, env Env) error {
	net, err := networkOf(env)
	if err != nil {
		return err
	}
	return net.SetLoss(env.Node(), l.percent)
}
