package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// setIntentionType is the set-intention step.
var setIntentionType = Typed(Type{
	Name:    "set-intention",
	Cluster: Undone("the intention is put back as it was (its action, description and permissions), or deleted when there was none"),
	Summary: "creates or updates the one intention source -> destination (others are left alone)",
	Example: `- set-intention: {source: web, destination: socat, action: deny}`,
	Timeout: 30 * time.Second,
}, buildSetIntention)

// deleteIntentionType is the delete-intention step.
var deleteIntentionType = Typed(Type{
	Name:    "delete-intention",
	Cluster: Undone("the intention is put back as it was (its action, description and permissions), or deleted when there was none"),
	Summary: "deletes the intention source -> destination",
	Example: `- delete-intention: {source: web, destination: socat}`,
	Timeout: 30 * time.Second,
}, buildDeleteIntention)

// IntentionSpec names an intention: the value of delete-intention, and of
// expect's intention.
type IntentionSpec struct {
	Source      string `key:"source,required" shape:"SERVICE" doc:"the source service name, or *"`
	Destination string `key:"destination,required" shape:"SERVICE" doc:"the destination service name, or *"`
}

// SetIntentionSpec is the value of a set-intention step.
type SetIntentionSpec struct {
	IntentionSpec
	Action string `key:"action,required" enum:"allow,deny" doc:"what the intention decides"`
}

type setIntention struct {
	source, destination string
	action              api.IntentionAction
}

func buildSetIntention(d *spec.Decoder, val *SetIntentionSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "set-intention")
	d.ChangeIntentions()
	d.WarnUnregistered(f.At(), "set-intention", val.Source, val.Destination)
	return &setIntention{source: val.Source, destination: val.Destination, action: api.IntentionAction(val.Action)}
}

func (s *setIntention) String() string {
	return fmt.Sprintf("%s -> %s %s", s.source, s.destination, s.action)
}

func (s *setIntention) Change() Change { return Change{Kind: ChangeIntention, What: s.String()} }

func (s *setIntention) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	ixn := &api.Intention{SourceName: s.source, DestinationName: s.destination, SourceType: api.IntentionSourceConsul, Action: s.action}
	if err := undoIntention(ctx, env, client, s.source, s.destination); err != nil {
		return err
	}
	if _, err := client.Connect().IntentionUpsert(ixn, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("setting intention %s: %w", s, err), spec.AgentName)
	}
	return nil
}

type deleteIntention struct{ source, destination string }

func buildDeleteIntention(d *spec.Decoder, val *IntentionSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "delete-intention")
	d.ChangeIntentions()
	d.WarnUnregistered(f.At(), "delete-intention", val.Source, val.Destination)
	return &deleteIntention{source: val.Source, destination: val.Destination}
}

func (s *deleteIntention) String() string { return fmt.Sprintf("%s -> %s", s.source, s.destination) }

func (s *deleteIntention) Change() Change {
	return Change{Kind: ChangeIntention, What: "delete " + s.String()}
}

func (s *deleteIntention) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	if err := undoIntention(ctx, env, client, s.source, s.destination); err != nil {
		return err
	}
	if _, err := client.Connect().IntentionDeleteExact(s.source, s.destination, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("deleting intention %s: %w", s, err), spec.AgentName)
	}
	return nil
}

// undoIntention, on an existing cluster, records the intention source ->
// destination as it is now, so that cleanup puts it back: its old action
// and description, or no intention at all.
func undoIntention(ctx context.Context, env Env, client *api.Client, source, destination string) error {
	if !env.External() {
		return nil
	}
	old, _, err := client.Connect().IntentionGetExact(source, destination, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("reading intention %s -> %s before changing it (to restore it at the end): %w", source, destination, err)
	}
	what := fmt.Sprintf("intention %s -> %s", source, destination)
	if old == nil {
		env.Undo(what+" deleted again (it did not exist)", func(ctx context.Context) error {
			_, err := client.Connect().IntentionDeleteExact(source, destination, (&api.WriteOptions{}).WithContext(ctx))
			return err
		})
		return nil
	}
	restore := &api.Intention{SourceName: source, DestinationName: destination, SourceType: old.SourceType,
		Action: old.Action, Description: old.Description, Meta: old.Meta, Permissions: old.Permissions}
	env.Undo(fmt.Sprintf("%s restored (%s)", what, old.Action), func(ctx context.Context) error {
		_, err := client.Connect().IntentionUpsert(restore, (&api.WriteOptions{}).WithContext(ctx))
		return err
	})
	return nil
}

// Graph draws the intention.
func (s *setIntention) Graph(g *Graph) { g.intention(s.source, s.destination, string(s.action)) }

// Graph draws the intention as deleted.
func (s *deleteIntention) Graph(g *Graph) { g.intention(s.source, s.destination, "deleted") }
