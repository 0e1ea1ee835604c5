package steps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// ExpectHealthSpec is expect's health form.
type ExpectHealthSpec struct {
	Health string        `key:"health,required" shape:"SERVICE|ID" doc:"an instance's service ID, or a service's name: then every instance of it"`
	Status string        `key:"status,required" enum:"passing,warning,critical" doc:"the status the health catalog must give: its checks' worst, the node's own checks included (maintenance counts as critical)"`
	Within spec.Duration `key:"within" default:"10s" doc:"how long the status may take to hold (a client agent's check reaches the catalog when the agent syncs)"`
}

// DefaultHealthWithin is how long a health expectation may take: a check
// set on a client agent reaches the servers' catalog at the agent's next
// sync, seen to take over 5 s on a loaded machine.
const DefaultHealthWithin = 10 * time.Second

// expectHealth checks a service's health as the catalog has it (the health
// endpoint the agent answers for its datacenter, /v1/health/service, which
// the mesh's own routing reads), for one instance by ID or for every
// instance of a service, and names the checks that decided.
type expectHealth struct {
	ref    string // as written
	name   string // the service name to ask for
	id     string // the instance's service ID, or "" for every instance
	status string
	within time.Duration
}

func buildExpectHealth(d *spec.Decoder, val *ExpectHealthSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "expect health")
	e := &expectHealth{ref: val.Health, name: val.Health, status: val.Status, within: time.Duration(val.Within)}
	if val.Health == "" {
		return e
	}
	if !d.Use(spec.KindService, val.Health, f.NodeOf(&val.Health)) {
		return e
	}
	// An instance ID first, as sidecar and the probes read a name: an ID
	// that is another service's name means the instance. One ID may run
	// on several nodes: each of those instances is checked.
	if in, ok := d.InstanceByID(val.Health); ok && !d.External {
		e.name, e.id = in.Reg.Name, in.ID()
	}
	return e
}

func (e *expectHealth) String() string {
	return fmt.Sprintf("%s is %s", e.what(), e.status)
}

// healthOf is one instance's health as the catalog gives it.
type healthOf struct {
	id, node string
	status   string // passing, warning or critical
	checks   api.HealthChecks
}

// deciding names the checks that make the instance's status: those in
// it (every check when passing; a maintenance check for critical).
func (h healthOf) deciding() string {
	var parts []string
	for _, c := range h.checks {
		st := c.Status
		if isMaintenance(c) {
			st = api.HealthCritical
		}
		if st != h.status {
			continue
		}
		part := fmt.Sprintf("%s (%s)", c.CheckID, c.Status)
		if c.Name != "" && c.Name != c.CheckID {
			part = fmt.Sprintf("%s %q (%s)", c.CheckID, c.Name, c.Status)
		}
		if out := strings.TrimSpace(c.Output); out != "" && c.Status != api.HealthPassing {
			if len(out) > 80 {
				out = out[:77] + "..."
			}
			part += ": " + out
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "no check (an instance without checks is passing)"
	}
	return strings.Join(parts, ", ")
}

func (h healthOf) String() string {
	return fmt.Sprintf("%s on node %s: %s by %s", h.id, h.node, h.status, h.deciding())
}

func isMaintenance(c *api.HealthCheck) bool {
	return c.CheckID == api.NodeMaint || strings.HasPrefix(c.CheckID, api.ServiceMaintPrefix)
}

// aggregate is Consul's own verdict over an instance's checks
// (HealthChecks.AggregatedStatus), maintenance read as critical, as the
// health endpoint's passing filter and DNS read it.
func aggregate(checks api.HealthChecks) string {
	switch s := checks.AggregatedStatus(); s {
	case api.HealthMaint:
		return api.HealthCritical
	case "":
		return "unknown"
	default:
		return s
	}
}

// look reads the instances' health from the catalog.
func (e *expectHealth) look(ctx context.Context, client *api.Client) ([]healthOf, error) {
	entries, _, err := client.Health().Service(e.name, "", false, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("asking the health endpoint for %s: %w", e.name, err)
	}
	var out []healthOf
	for _, en := range entries {
		if e.id != "" && en.Service.ID != e.id {
			continue
		}
		out = append(out, healthOf{id: en.Service.ID, node: en.Node.Node, status: aggregate(en.Checks), checks: en.Checks})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].node != out[j].node {
			return out[i].node < out[j].node
		}
		return out[i].id < out[j].id
	})
	return out, nil
}

func (e *expectHealth) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	var seen []healthOf
	// verdict is the last look that completed: a look cut short by the
	// deadline says nothing about the catalog, the one before it does.
	var verdict error
	judge := func(ctx context.Context) error {
		got, err := e.look(ctx, client)
		if err != nil {
			return err
		}
		seen = got
		if len(got) == 0 {
			return fmt.Errorf("the catalog has no instance of %s", e.what())
		}
		var off []string
		for _, h := range got {
			if h.status != e.status {
				off = append(off, h.String())
			}
		}
		if len(off) > 0 {
			return fmt.Errorf("%d of %d not %s: %s", len(off), len(got), e.status, strings.Join(off, "; "))
		}
		return nil
	}
	cond := wait.Func(fmt.Sprintf("%s to be %s", e.what(), e.status), func(ctx context.Context) error {
		err := judge(ctx)
		if err != nil && (ctx.Err() == nil || verdict == nil) {
			verdict = err
		}
		return err
	})
	err = wait.For(ctx, cond, wait.Options{Timeout: e.within, MinInterval: 50 * time.Millisecond, MaxInterval: 250 * time.Millisecond})
	if err != nil {
		var te *wait.TimeoutError
		if errors.As(err, &te) && verdict != nil {
			err = fmt.Errorf("expected %s %s within %s; %w", e.what(), e.status, e.within, verdict)
		}
		return WithLogs(err, spec.AgentName)
	}
	var parts []string
	for _, h := range seen {
		parts = append(parts, h.String())
	}
	who := e.what()
	if len(seen) > 1 {
		who += fmt.Sprintf(" (%d)", len(seen))
	}
	env.Notef("health endpoint: %s %s: %s", who, e.status, strings.Join(parts, "; "))
	return nil
}

// what names what is checked, for messages.
func (e *expectHealth) what() string {
	switch {
	case e.id == "":
		return "every instance of " + e.name
	case e.id == e.name:
		return "instance " + e.id // on each node it runs on
	}
	return "instance " + e.id + " of " + e.name
}
