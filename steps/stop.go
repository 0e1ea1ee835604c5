package steps

import (
	"context"
	"time"

	"gopkg.in/yaml.v3"
)

func init() {
	Register(Type{
		Name:    "stop",
		OnNode:  true,
		Summary: "stops something the scenario started (its whole process group: SIGTERM, then SIGKILL after a grace period)",
		Fields:  "agent | a run name | sidecar/SERVICE",
		Example: `- stop: sidecar/web`,
		Timeout: 30 * time.Second,
		Decode:  decodeStop,
		Schema:  str(),
	})
}

type stop struct{ name string }

func decodeStop(d *Decoder, v *yaml.Node) Step {
	name, ok := d.String(v, "stop")
	if !ok {
		return nil
	}
	if d.Use(KindProcess, name, v) {
		d.Undefine(KindProcess, name)
		d.ReleaseSidecar(name)
	}
	return &stop{name: name}
}

func (s *stop) String() string { return s.name }

func (s *stop) Run(ctx context.Context, env Env) error { return env.Stop(s.name) }
