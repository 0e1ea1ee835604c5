package steps

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/consuldef"
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

type checkStep struct {
	id, status, note string
}

func buildCheck(d *spec.Decoder, val *CheckSpec, f *spec.Fields) Step {
	needAgent(d, f.At(), "check")
	if c, ok := checksOf(d).byID[checkKey{d.Node(), val.ID}]; ok && c.kind != "TTL" {
		// Consul sets only a TTL check's status from outside
		// (/v1/agent/check/update); the others are run by the agent.
		d.Errorf(f.Node("id"), "check: %q is %s check of %s (registered at %s), not a TTL check: the agent runs it, and only a TTL check's status can be set; "+
			"to drive the service's health from the scenario, give it a check with ttl (e.g. ttl = \"10m\") and set that one", val.ID, c.kind, c.service, c.pos)
	}
	noteTTLUpdate(d, val.ID, val.Status, f.At())
	return &checkStep{id: val.ID, status: val.Status, note: val.Note}
}

// definedCheck is a check that a registration defines, by the ID the
// agent gives it.
type definedCheck struct {
	kind    string // "TTL", "an HTTP", "an alias", ...
	service string // the ID of the service it belongs to
	pos     spec.Pos
}

type checkKey struct{ node, id string }

// checkBook holds the checks registered so far, per node ("" on the host).
type checkBook struct{ byID map[checkKey]definedCheck }

func checksOf(d *spec.Decoder) *checkBook {
	return spec.State(d, func() *checkBook { return &checkBook{byID: map[checkKey]definedCheck{}} })
}

// recordChecks records the checks of a registered instance and of its
// sidecar, by the IDs the agent gives them: a check's id, else
// service:SERVICE-ID, with :N (from 1) when the service has several
// checks (Consul's agent.addServiceInternal); a sidecar without checks
// of its own gets two, a TCP check of its public port and an alias check.
func recordChecks(d *spec.Decoder, def consuldef.ServiceDef, at *yaml.Node) {
	book := checksOf(d)
	add := func(serviceID string, checks []*api.AgentServiceCheck) {
		for i, c := range checks {
			id := c.CheckID
			if id == "" {
				id = "service:" + serviceID
				if len(checks) > 1 {
					id += fmt.Sprintf(":%d", i+1)
				}
			}
			book.byID[checkKey{d.Node(), id}] = definedCheck{kind: checkKind(c), service: serviceID, pos: d.Pos(at)}
		}
	}
	add(def.ID(), serviceChecks(def.Reg))
	if sc := def.Sidecar(); sc != nil {
		checks := serviceChecks(sc)
		if len(checks) == 0 {
			checks = []*api.AgentServiceCheck{{TCP: "its public port"}, {AliasService: def.ID()}}
		}
		add(def.SidecarID(), checks)
	}
}

// serviceChecks are a registration's check then its checks, as the agent
// reads them (an empty check is none).
func serviceChecks(reg *api.AgentServiceRegistration) []*api.AgentServiceCheck {
	var out []*api.AgentServiceCheck
	if reg.Check != nil && !reflect.ValueOf(*reg.Check).IsZero() {
		out = append(out, reg.Check)
	}
	return append(out, reg.Checks...)
}

// forgetChecks records that the agent on the current node lost its
// registrations (a dev agent restarted).
func forgetChecks(d *spec.Decoder) {
	book := checksOf(d)
	for k := range book.byID {
		if k.node == d.Node() {
			delete(book.byID, k)
		}
	}
}

// checkKind names a check's kind, with its article, for messages.
func checkKind(c *api.AgentServiceCheck) string {
	switch {
	case c.TTL != "":
		return "TTL"
	case c.HTTP != "":
		return "an HTTP"
	case c.TCP != "":
		return "a TCP"
	case c.UDP != "":
		return "a UDP"
	case c.GRPC != "":
		return "a gRPC"
	case c.H2PING != "":
		return "an H2 ping"
	case c.AliasService != "" || c.AliasNode != "":
		return "an alias"
	case c.DockerContainerID != "":
		return "a Docker"
	case len(c.Args) > 0:
		return "a script"
	}
	return "a non-TTL"
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
	if env.External() {
		if err := c.undoable(ctx, env, client); err != nil {
			return err
		}
	}
	if err := client.Agent().UpdateTTLOpts(c.id, note, c.status, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return WithLogs(fmt.Errorf("setting check %q to %s: %w (is it a TTL check registered on this agent?)", c.id, c.status, err), AgentName)
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
