package steps

import (
	"time"

	"gopkg.in/yaml.v3"
)

func init() {
	Register(Type{
		Name:    "reconnect",
		Summary: "restores the cable of a node cut by disconnect; serf takes the node back after ~5-11 s",
		Fields:  "NODE",
		Example: `- reconnect: app2`,
		Timeout: 10 * time.Second,
		Decode:  func(d *Decoder, v *yaml.Node) Step { return decodeCable(d, v, "reconnect") },
		Schema:  str(),
	})
}
