package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// checkType is the check step.
var checkType = Typed(Type{
	Name:    "check",
	Cluster: Undone("the check's status and output are set back as they were"),
	OnNode:  true,
	Summary: "sets a TTL check of the agent to passing, warning or critical (how a scenario makes an instance healthy or not)",
	Example: `- check: {id: ttl-socat-2, status: critical}`,
	Timeout: 30 * time.Second,
}, buildCheck)

// CheckSpec is the value of a check step.
type CheckSpec struct {
	ID     string `key:"id,required" shape:"CHECK-ID" doc:"the check's ID as registered"`
	Status string `key:"status,required" enum:"passing,warning,critical" doc:"the status to set"`
	Note   string `key:"note" doc:"the check's output (default: set by scenario)"`
}

// defaultTTLNote is the output a check step gives a TTL check without a note.
const defaultTTLNote = "set by scenario"

type checkStep struct {
	id, status, note string
}

func buildCheck(d *spec.Decoder, val *CheckSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "check")
	if c, ok := d.Check(val.ID); ok && c.Kind != "TTL" {
		// Consul sets only a TTL check's status from outside
		// (/v1/agent/check/update); the others are run by the agent.
		d.Errorf(f.NodeOf(&val.ID), "check: %q is %s check of %s (registered at %s), not a TTL check: the agent runs it, and only a TTL check's status can be set; "+
			"to drive the service's health from the scenario, give it a check with ttl (e.g. ttl = \"10m\") and set that one", val.ID, c.Kind, c.Service, c.Pos)
	}
	note := val.Note
	if note == "" {
		note = defaultTTLNote
	}
	d.SetTTL(val.ID, val.Status, note, f.At())
	return &checkStep{id: val.ID, status: val.Status, note: note}
}

func (c *checkStep) String() string { return fmt.Sprintf("%s %s", c.id, c.status) }

func (c *checkStep) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	note := c.note
	if env.External() {
		if err := c.undoable(ctx, env, client); err != nil {
			return err
		}
	}
	if err := client.Agent().UpdateTTLOpts(c.id, note, c.status, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("setting check %q to %s: %w (is it a TTL check registered on this agent?)", c.id, c.status, err), spec.AgentName)
	}
	return nil
}

// undoable records, on an existing cluster, the check's status and output
// as they are now, so that cleanup puts them back.
func (c *checkStep) undoable(ctx context.Context, env Env, client *api.Client) error {
	checks, err := client.Agent().ChecksWithFilterOpts("", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading check %q before changing it (to restore it at the end): %w", c.id, err)
	}
	old, ok := checks[c.id]
	if !ok {
		return fmt.Errorf("the agent has no check %q (checks are the agent's own: is it registered on this agent?)", c.id)
	}
	status, output := old.Status, old.Output
	env.Undo(fmt.Sprintf("check %s set back to %s", c.id, status), func(ctx context.Context) error {
		return client.Agent().UpdateTTLOpts(c.id, output, status, (&api.QueryOptions{}).WithContext(ctx))
	})
	return nil
}
