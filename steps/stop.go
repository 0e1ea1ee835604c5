package steps

import (
	"context"
	"time"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// stopType is the stop step.
var stopType = Typed(Type{
	Name:    "stop",
	Cluster: OwnClusterOnly("it would stop one of the cluster's processes"),
	OnNode:  true,
	Summary: "stops something the scenario started (its whole process group: SIGTERM, then SIGKILL after a grace period)",
	Fields:  "agent | a run name | sidecar/SERVICE",
	Example: `- stop: sidecar/web`,
	Timeout: 30 * time.Second,
}, buildStop)

// StopSpec is the value of a stop step: what to stop, as started.
type StopSpec string

type stop struct{ name string }

func buildStop(d *spec.Decoder, val *StopSpec, f *spec.Fields) Step {
	name, v := string(*val), f.At()
	if d.Use(spec.KindProcess, name, v) {
		d.Undefine(spec.KindProcess, name)
		d.ReleaseSidecar(name)
	}
	return &stop{name: name}
}

func (s *stop) String() string { return s.name }

func (s *stop) Run(ctx context.Context, env Env) error { return env.Stop(s.name) }
