package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"
)

func init() {
	Register(Type{
		Name:    "check",
		OnNode:  true,
		Summary: "sets a TTL check of the agent to passing, warning or critical (how a scenario makes an instance healthy or not)",
		Fields:  "{id, status: passing|warning|critical, note}: id is the check's ID as registered",
		Example: `- check: {id: ttl-socat-2, status: critical}`,
		Timeout: 30 * time.Second,
		Decode:  decodeCheck,
		Schema: object(false, []string{"id", "status"}, props{
			"id": str(), "status": enum("passing", "warning", "critical"), "note": str(),
		}),
	})
}

type checkStep struct {
	id, status, note string
}

func decodeCheck(d *Decoder, v *yaml.Node) Step {
	d.NeedAgent(v, "check")
	f := d.Fields(v, "check", "id", "status", "note")
	if !f.Require(v, "id", "status") {
		return nil
	}
	return &checkStep{
		id:     f.String("id"),
		status: d.OneOf(f.Node("status"), "check.status", "passing", "warning", "critical"),
		note:   f.String("note"),
	}
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
