package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

func init() {
	Register(Typed(Type{
		Name:    "check",
		OnNode:  true,
		Summary: "sets a TTL check of the agent to passing, warning or critical (how a scenario makes an instance healthy or not)",
		Example: `- check: {id: ttl-socat-2, status: critical}`,
		Timeout: 30 * time.Second,
	}, buildCheck))
}

// CheckSpec is the value of a check step.
type CheckSpec struct {
	ID     string `key:"id,required" shape:"CHECK-ID" doc:"the check's ID as registered"`
	Status string `key:"status,required" enum:"passing,warning,critical" doc:"the status to set"`
	Note   string `key:"note" doc:"the check's output (default: set by scenario)"`
}

type checkStep struct {
	id, status, note string
}

func buildCheck(d *spec.Decoder, val *CheckSpec, f *spec.Fields) Step {
	needAgent(d, f.At(), "check")
	return &checkStep{id: val.ID, status: val.Status, note: val.Note}
}

func (c *checkStep) String() string { return fmt.Sprintf("%s %s", c.id, c.status) }

func (c *checkStep) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	note := c.note
	if note == "" {
		note = "set by scenario"
	}
	if err := client.Agent().UpdateTTLOpts(c.id, note, c.status, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("setting check %q to %s: %w (is it a TTL check registered on this agent?)", c.id, c.status, err), AgentName)
	}
	return nil
}
