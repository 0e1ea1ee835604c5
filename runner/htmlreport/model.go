// Package htmlreport renders a run's events (runner.Event, as `run --json`
// streams them) as one self-contained HTML file: a summary, a timeline per
// scenario (steps, each process's lifetime by node, changes and faults,
// held connections, probe attempts), the topology, and each step's
// evidence. The file makes no request of any kind: its styles and script
// are inline, and its Content-Security-Policy forbids everything else.
package htmlreport

import (
	"sort"
	"time"

	"github.com/scenario-tool/scenario/runner"
)

// run is what the events say about all the scenarios of a run.
type run struct {
	scenarios []*scenario
	first     time.Time
	last      time.Time
}

// scenario is one run of one scenario.
type scenario struct {
	num                    int // from 1, in the report's order
	name, file             string
	description            string
	consulVersion, command string
	graph                  string
	nodes                  []runner.NodeInfo
	outcome, err           string
	failedStep             int
	start, end             time.Time
	duration               time.Duration
	logsDir                string
	bundle, bundleErr      string
	ended                  bool

	steps   []*step
	lanes   []*lane // one per process (a node's name), in start order
	conns   []*conn
	changes []*change
}

// step is one step item and how it went.
type step struct {
	index           int
	typ, label, pos string
	outcome, err    string
	notes           []string
	logs            []runner.LogTail
	probe           *runner.ProbeEvent
	table           []string
	cells           []runner.CellEvent
	start           time.Time // zero when it never began (skipped)
	duration        time.Duration
	ended           bool
}

// lane is one process of a node, with each of its lives (a process
// restarted under the same name has several).
type lane struct {
	node, name, role string
	lives            []*life
}

type life struct {
	pid          int
	step         int
	log          string
	start, end   time.Time // end zero: still running when the events stop
	exit, reason string
}

type conn struct {
	name, target, node string
	step               int
	start, end         time.Time
	how                string
}

type change struct {
	kind, what, node, span string
	end                    bool
	step                   int
	at                     time.Time
}

// build reads a run's events, in the order they were made. Scenarios run
// in parallel interleave; a scenario run again (--count) is a new one.
func build(events []runner.Event) *run {
	r := &run{}
	open := map[string]*scenario{}
	for _, e := range events {
		// Wall clock only: a saved stream has no monotonic readings, and
		// the report from it must be the same as the one from the run.
		e.Time = e.Time.Round(0)
		if !e.Time.IsZero() {
			if r.first.IsZero() || e.Time.Before(r.first) {
				r.first = e.Time
			}
			if e.Time.After(r.last) {
				r.last = e.Time
			}
		}
		key := e.File + "\x00" + e.Scenario
		sc := open[key]
		if e.Event == "scenario-start" || sc == nil {
			sc = &scenario{num: len(r.scenarios) + 1, name: e.Scenario, file: e.File, start: e.Time}
			r.scenarios = append(r.scenarios, sc)
			open[key] = sc
		}
		sc.add(e)
		if e.Event == "scenario-end" {
			delete(open, key)
		}
	}
	for _, sc := range r.scenarios {
		sc.finish()
	}
	return r
}

func (sc *scenario) add(e runner.Event) {
	if !e.Time.IsZero() && e.Time.After(sc.end) {
		sc.end = e.Time
	}
	switch e.Event {
	case "scenario-start":
		sc.description, sc.command, sc.graph = e.Description, e.Command, e.Graph
		for i := 0; i < e.Steps; i++ {
			sc.stepAt(i + 1)
		}
	case "network":
		if len(e.Nodes) > 0 {
			sc.nodes = e.Nodes
		}
	case "step-start":
		if e.Step != nil {
			st := sc.stepAt(e.Step.Index)
			st.fill(e.Step)
			st.start = e.Time
		}
	case "step-end":
		if e.Step != nil {
			st := sc.stepAt(e.Step.Index)
			st.fill(e.Step)
			st.outcome, st.err, st.notes, st.logs, st.probe = e.Step.Outcome, e.Step.Error, e.Step.Notes, e.Step.Logs, e.Step.Probe
			st.table, st.cells = e.Step.Table, e.Step.Cells
			st.duration = msDuration(e.Step.DurationMS)
			st.ended = true
			if st.start.IsZero() && e.Step.Outcome != runner.OutcomeSkipped {
				// No step-start (a stream cut, or a step that died
				// before it began): it ended at the event.
				st.start = e.Time.Add(-st.duration)
			}
		}
	case "process-start":
		if p := e.Process; p != nil {
			l := sc.laneOf(p.Node, p.Name, p.Role)
			l.lives = append(l.lives, &life{pid: p.PID, step: p.Step, log: p.Log, start: e.Time})
		}
	case "process-end":
		if p := e.Process; p != nil {
			l := sc.laneOf(p.Node, p.Name, p.Role)
			var lf *life
			for _, x := range l.lives {
				if x.pid == p.PID && x.end.IsZero() {
					lf = x
				}
			}
			if lf == nil { // its start is not in the events
				lf = &life{pid: p.PID, log: p.Log, start: sc.start}
				l.lives = append(l.lives, lf)
			}
			lf.end, lf.exit, lf.reason = e.Time, p.Exit, p.Ended
		}
	case "conn-open":
		if c := e.Conn; c != nil {
			sc.conns = append(sc.conns, &conn{name: c.Name, target: c.Target, node: c.Node, step: c.Step, start: e.Time})
		}
	case "conn-end":
		if c := e.Conn; c != nil {
			for i := len(sc.conns) - 1; i >= 0; i-- {
				if x := sc.conns[i]; x.name == c.Name && x.end.IsZero() {
					x.end, x.how = e.Time, c.End
					break
				}
			}
		}
	case "change":
		if c := e.Change; c != nil {
			sc.changes = append(sc.changes, &change{kind: c.Kind, what: c.What, node: c.Node, span: c.Span, end: c.End, step: c.Step, at: e.Time})
		}
	case "bundle":
		sc.bundle, sc.bundleErr = e.Bundle, e.Error
	case "scenario-end":
		sc.ended = true
		sc.outcome, sc.err, sc.failedStep, sc.logsDir, sc.consulVersion = e.Outcome, e.Error, e.FailedStep, e.LogsDir, e.ConsulVersion
		sc.duration = msDuration(e.DurationMS)
		if e.Bundle != "" {
			sc.bundle = e.Bundle
		}
	}
}

func (st *step) fill(e *runner.StepEvent) {
	st.typ, st.label, st.pos = e.Type, e.Label, e.Pos
}

func (sc *scenario) stepAt(index int) *step {
	for len(sc.steps) < index {
		sc.steps = append(sc.steps, &step{index: len(sc.steps) + 1})
	}
	if index < 1 {
		index = 1
	}
	return sc.steps[index-1]
}

func (sc *scenario) laneOf(node, name, role string) *lane {
	for _, l := range sc.lanes {
		if l.node == node && l.name == name {
			return l
		}
	}
	l := &lane{node: node, name: name, role: role}
	sc.lanes = append(sc.lanes, l)
	return l
}

// finish settles what the events left open: a scenario whose end is not
// in them ran until its last event.
func (sc *scenario) finish() {
	if sc.start.IsZero() {
		sc.start = sc.end
	}
	if !sc.ended {
		sc.outcome = "incomplete"
	}
	if sc.duration == 0 && sc.end.After(sc.start) {
		sc.duration = sc.end.Sub(sc.start)
	}
	// Lanes by node (the host first, then the nodes in the network's
	// order), each node's processes in the order they first started.
	order := map[string]int{"": -1}
	for i, n := range sc.nodes {
		order[n.Name] = i
	}
	sort.SliceStable(sc.lanes, func(i, j int) bool {
		oi, iok := order[sc.lanes[i].node]
		oj, jok := order[sc.lanes[j].node]
		if !iok {
			oi = len(order)
		}
		if !jok {
			oj = len(order)
		}
		return oi < oj
	})
}

func (sc *scenario) failed() bool {
	return sc.outcome != runner.OutcomePassed
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
