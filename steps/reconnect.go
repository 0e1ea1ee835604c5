package steps

import (
	"time"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

func init() {
	Register(Typed(Type{
		Name:    "reconnect",
		Cluster: OwnClusterOnly("it mends the cables of the scenario's own nodes"),
		Summary: "restores the cable of a node cut by disconnect; serf takes the node back when it next tries a failed member (every 30 s)",
		Fields:  "NODE",
		Example: `- reconnect: app2`,
		Timeout: 10 * time.Second,
	}, func(d *spec.Decoder, val *CableSpec, f *spec.Fields) Step {
		return buildCable(d, string(*val), f.At(), "reconnect")
	}))
}
