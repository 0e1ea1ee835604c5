package runner

import (
	"time"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/steps"
)

// maxAttemptRuns bounds the runs a probe event lists: a probe of
// `times: 1000` whose replies alternate would otherwise list each.
const maxAttemptRuns = 200

// probeEvent sums up attempts made by a step that began at start.
func probeEvent(start time.Time, attempts []steps.Attempt) *ProbeEvent {
	if len(attempts) == 0 {
		return nil
	}
	p := &ProbeEvent{Attempts: len(attempts), Outcomes: map[string]int{}}
	for _, a := range attempts {
		p.Outcomes[a.Outcome]++
		if a.Held {
			p.Held++
		}
		at, end := milliseconds(a.Start.Sub(start)), milliseconds(a.Start.Add(a.Took).Sub(start))
		n := len(p.Runs)
		switch {
		case p.Omitted > 0:
			p.Omitted++
		case n > 0 && p.Runs[n-1].Outcome == a.Outcome && p.Runs[n-1].Held == a.Held:
			r := &p.Runs[n-1]
			r.Count++
			r.SpanMS = end - r.AtMS
		case n == maxAttemptRuns:
			p.Omitted++
		default:
			p.Runs = append(p.Runs, AttemptRun{AtMS: at, SpanMS: end - at, Outcome: a.Outcome, Held: a.Held, Count: 1})
		}
	}
	return p
}

// changed records what a passing step changed in the mesh, at the moment
// it ended (a step reported after others may have ended earlier).
func (x *execution) changed(item *Item, at time.Time) {
	c, ok := item.Step.(steps.Changer)
	if !ok {
		return
	}
	ch := c.Change()
	if ch.Node == "" {
		ch.Node = item.Node
	}
	x.emit(Event{Event: "change", Time: at, Change: &ChangeEvent{Kind: ch.Kind, What: ch.What, Node: ch.Node,
		Span: ch.Span, End: ch.End, Step: item.Index + 1}})
}

// eventRole is the role a process event names: what the step that
// started it said it is, a scenario's command being a service.
func eventRole(r steps.Role) string {
	if r == steps.RoleCommand {
		return "service"
	}
	return r.String()
}

// processStarted reports p, started by step (from 1) on node.
func (s *session) processStarted(node, name string, role steps.Role, step int, p *proc.Process) {
	if s.emit == nil {
		return
	}
	s.emit(Event{Event: "process-start", Process: &ProcessEvent{Name: name, Node: node, Role: eventRole(role), PID: p.Pid(), Log: p.LogPath, Step: step}})
}

// processEnded reports how p ended and why.
func (s *session) processEnded(node, name string, role steps.Role, p *proc.Process, why string) {
	if s.emit == nil {
		return
	}
	exit := "exit status unknown"
	if ee, ok := p.Alive().(*proc.ExitError); ok && ee.State != nil {
		exit = ee.State.String()
	}
	s.emit(Event{Event: "process-end", Process: &ProcessEvent{Name: name, Node: node, Role: eventRole(role), PID: p.Pid(), Log: p.LogPath, Exit: exit, Ended: why}})
}
