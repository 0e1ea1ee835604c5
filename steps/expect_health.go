package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// ExpectHealthSpec is expect's health form.
type ExpectHealthSpec struct {
	Health string                       `key:"health,required" shape:"SERVICE|ID" doc:"an instance's service ID, or a service's name: then every instance of it (a sidecar's, from connect.sidecar_service, too)"`
	Status string                       `key:"status,required" enum:"passing,warning,critical" doc:"the status the health catalog must give: its checks' worst, the node's own checks included (maintenance counts as critical); passing also needs each check's target (TCP, HTTP, gRPC, H2 ping, UDP, as registered on the instance's node; a default sidecar check's is the sidecar's address) answered now by a process the scenario started, or Consul's status is stale and fails the step"`
	Within spec.Optional[spec.Duration] `key:"within" default:"10s" doc:"how long the status may take to hold (a client agent's check reaches the catalog when the agent syncs); written, the step also waits out a stale status until the evidence agrees, then watches it settle (at least 500ms)"`
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
	// eventual: the claim gives within, saying Consul is converging to
	// it: a status that Consul gives before the evidence agrees is waited
	// out, and once both agree it is watched settling (SettleFloor).
	eventual bool
	// checks are the checks the scenario registered, by node and check
	// ID: what a check tests.
	checks map[spec.CheckKey]spec.RegisteredCheck
	// ttlSet is where a check step last set each TTL check.
	ttlSet map[spec.CheckKey]spec.TTLSetting
	// onNodes: the scenario has nodes, each agent's Consul node name
	// being the scenario's node's; else the book's checks are the host
	// agent's, whose node name the run asks.
	onNodes bool
}

func buildExpectHealth(d *spec.Decoder, val *ExpectHealthSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "expect health")
	e := &expectHealth{ref: val.Health, name: val.Health, status: val.Status, within: time.Duration(val.Within.Value),
		eventual: val.Within.Set, ttlSet: d.TTLSettings(), onNodes: len(d.Nodes()) > 0}
	if val.Health == "" {
		return e
	}
	// An instance ID first, as sidecar and the probes read a name: an ID
	// that is another service's name means the instance. One ID may run
	// on several nodes: each of those instances is checked.
	if in, ok := d.InstanceByID(val.Health); ok && !d.External {
		e.name, e.id = in.Reg.Name, in.ID()
	} else if name, id, ok := d.SidecarService(val.Health); ok && !d.External {
		// A sidecar registered with its service (connect.sidecar_service)
		// is a service of the catalog too, by the ID and name Consul gives it.
		e.name, e.id = name, id
	} else if !d.Use(spec.KindService, val.Health, f.NodeOf(&val.Health)) {
		return e
	}
	e.checks = d.RegisteredChecks()
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
	addr     string // the instance's registered address and port
	// intervals are the checks' intervals by check ID, as Consul runs them.
	intervals map[string]string
	// bookNode is the scenario's node whose registrations the instance's
	// checks are among ("" on the host); unknown is true for an instance
	// on an agent the scenario did not register with.
	bookNode string
	unknown  bool
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

// look reads the instances' health from the catalog. hostNode is the
// host agent's Consul node name, for a scenario without nodes.
func (e *expectHealth) look(ctx context.Context, client *api.Client, hostNode string) ([]healthOf, error) {
	// Read raw: the api package's HealthCheck lacks each check's
	// interval, which the endpoint gives (its Definition being empty).
	var entries []struct {
		Node    *api.Node
		Service *api.AgentService
		Checks  []checkWithInterval
	}
	if _, err := client.Raw().Query("/v1/health/service/"+url.PathEscape(e.name), &entries, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return nil, fmt.Errorf("asking the health endpoint for %s: %w", e.name, err)
	}
	var out []healthOf
	for _, en := range entries {
		if en.Node == nil || en.Service == nil || e.id != "" && en.Service.ID != e.id {
			continue
		}
		addr := net.JoinHostPort(dialHost(en.Service.Address, en.Node.Address), strconv.Itoa(en.Service.Port))
		checks, intervals := splitIntervals(en.Checks)
		h := healthOf{id: en.Service.ID, node: en.Node.Node, status: aggregate(checks), checks: checks, intervals: intervals, addr: addr}
		h.bookNode, h.unknown = e.bookNodeOf(en.Node.Node, hostNode)
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].node != out[j].node {
			return out[i].node < out[j].node
		}
		return out[i].id < out[j].id
	})
	return out, nil
}

// checkWithInterval is a check as the health endpoints give it, with
// the interval Consul runs it at.
type checkWithInterval struct {
	*api.HealthCheck
	Interval string
}

func splitIntervals(in []checkWithInterval) (api.HealthChecks, map[string]string) {
	var checks api.HealthChecks
	intervals := map[string]string{}
	for _, c := range in {
		if c.HealthCheck == nil {
			continue
		}
		checks = append(checks, c.HealthCheck)
		if c.Interval != "" {
			intervals[c.CheckID] = shortDuration(c.Interval)
		}
	}
	return checks, intervals
}

// shortDuration writes a duration as Consul gives it ("10m0s") the way a
// scenario would ("10m").
func shortDuration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

// bookNodeOf is the scenario's node whose registrations are those of the
// Consul node node: the node of the same name on a scenario's nodes (the
// runner names each agent's node so), the host's ("") for the host
// agent's node; unknown for another agent's.
func (e *expectHealth) bookNodeOf(node, hostNode string) (bookNode string, unknown bool) {
	switch {
	case e.onNodes:
		return node, false
	case node == hostNode:
		return "", false
	}
	return "", true
}

func (e *expectHealth) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	// The host agent's node name tells its instances from those of
	// agents it joined, which the scenario's registrations say nothing of.
	hostNode := ""
	start := time.Now()
	var firstHold time.Time
	var counts settleCounts
	var seen []healthOf
	var evidence []string
	// verdict is the last look that completed: a look cut short by the
	// deadline says nothing about the catalog, the one before it does.
	// stale is the first time Consul gave the claimed status while the
	// evidence said otherwise.
	var verdict, stale error
	decided := false // contrary evidence failed the step before its time
	// judge looks once: nil when Consul gives the claimed status and the
	// evidence agrees.
	judge := func(ctx context.Context) error {
		if !e.onNodes && hostNode == "" && len(e.checks)+len(e.ttlSet) > 0 {
			name, err := client.Agent().NodeName()
			if err != nil {
				return lookError{fmt.Errorf("asking the agent its node name: %w", err)}
			}
			hostNode = name
		}
		got, err := e.look(ctx, client, hostNode)
		if err != nil {
			return lookError{err}
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
		var contrary, unrun []string
		var interval, unrunInterval time.Duration
		foreign := false
		evidence = evidence[:0]
		for _, h := range got {
			ev := e.evidenceOf(ctx, env, client, h, nil)
			evidence = append(evidence, ev.notes...)
			for _, c := range ev.contrary {
				contrary = append(contrary, fmt.Sprintf("%s on node %s: its %s", h.id, h.node, c))
			}
			for _, u := range ev.unrun {
				unrun = append(unrun, fmt.Sprintf("%s on node %s: %s", h.id, h.node, u))
			}
			interval = max(interval, ev.interval)
			unrunInterval = max(unrunInterval, ev.unrunInterval)
			foreign = foreign || ev.foreign
		}
		claim := fmt.Sprintf("Consul gives %s %s", e.what(), e.status)
		switch {
		case len(contrary) > 0:
			err := &staleError{claim: claim, contrary: contrary, interval: interval, foreign: foreign}
			if stale == nil {
				stale = err
			}
			return err
		case len(unrun) > 0:
			// A declared status is no observation: a check whose target
			// answers may still fail when Consul runs it.
			return &unrunError{claim: claim, unrun: unrun, interval: unrunInterval}
		}
		return nil
	}
	check := func(ctx context.Context) error {
		err := judge(ctx)
		var unread lookError
		switch {
		case ctx.Err() != nil && verdict != nil:
			return verdict
		case errors.As(err, &unread):
			return err // says nothing about the catalog
		}
		switch {
		case err == nil && firstHold.IsZero():
			firstHold = time.Now()
			counts.untilFirst = firstHold.Sub(start)
		case err == nil:
			counts.holdsAfter++
		case !firstHold.IsZero():
			decided = true
			return wait.Fatal(counts.contrary(err, time.Since(firstHold), "looks"))
		default:
			verdict = err
			counts.contraryBefore++
			var se *staleError
			var ue *unrunError
			if (errors.As(err, &se) || errors.As(err, &ue)) && !e.eventual {
				// Consul's word against the evidence, and the claim does
				// not say it is converging: contrary evidence fails it.
				decided = true
				return wait.Fatal(err)
			}
		}
		return err
	}
	opts := wait.Options{Timeout: e.within, MinInterval: 50 * time.Millisecond, MaxInterval: 250 * time.Millisecond}
	err = wait.For(ctx, wait.Func(fmt.Sprintf("%s to be %s", e.what(), e.status), check), opts)
	if err == nil {
		// A claim that gives within is watched as a probe's is (expect_settle.go):
		// at least SettleFloor, and as long as it took when Consul first said
		// otherwise, so that a flapping status fails whatever its phase. One
		// without within reads the status once it holds, as Consul has it.
		var window time.Duration
		if e.eventual {
			window = settleWindow(e.eventual, e.within, counts.untilFirst, counts.contraryBefore)
		}
		if settled := firstHold.Add(window); time.Now().Before(settled) {
			confirm := wait.Func(fmt.Sprintf("%s to stay %s", e.what(), e.status), func(ctx context.Context) error {
				final := !time.Now().Before(settled)
				if err := check(ctx); err != nil || final {
					return err
				}
				return fmt.Errorf("held %d times since it first held, watching until %s after", counts.holdsAfter, window)
			})
			// Each look may connect to the checks' targets, as their checks
			// do: looked at every 50 ms, not every 20 as a probe is.
			err = wait.For(ctx, confirm, wait.Options{Timeout: window + e.within, MinInterval: 50 * time.Millisecond, MaxInterval: 50 * time.Millisecond})
		}
		if window > 0 {
			counts.watched = time.Since(firstHold)
		}
	}
	if err != nil {
		var te *wait.TimeoutError
		switch {
		case errors.As(err, &te) && verdict != nil:
			err = fmt.Errorf("expected %s %s within %s; %w", e.what(), e.status, e.within, verdict)
			if stale != nil && stale != verdict {
				err = fmt.Errorf("%w; before that, %v", err, stale)
			}
		case decided:
			err = fmt.Errorf("expected %s %s: %w", e.what(), e.status, err)
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
	if len(evidence) > 0 {
		env.Notef("evidence: %s", strings.Join(evidence, "; "))
	}
	switch {
	case counts.watched > 0:
		env.Notef("%s", counts.note("looks", e.within))
	case counts.contraryBefore > 0:
		env.Notef("it first held after %s, %d looks having found otherwise before (allowed within %s)",
			counts.untilFirst.Round(time.Millisecond), counts.contraryBefore, e.within)
	}
	return nil
}

// lookError is a look at the catalog that got no answer.
type lookError struct{ error }

func (l lookError) Unwrap() error { return l.error }

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
