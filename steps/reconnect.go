package steps

import "time"

func init() {
	Register(Typed(Type{
		Name:    "reconnect",
		Summary: "restores the cable of a node cut by disconnect; serf takes the node back after ~5-11 s",
		Fields:  "NODE",
		Example: `- reconnect: app2`,
		Timeout: 10 * time.Second,
	}, func(d *Decoder, node *CableSpec, f *Fields) Step {
		return buildCable(d, string(*node), f.At(), "reconnect")
	}))
}
