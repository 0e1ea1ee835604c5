package runner

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Event is one thing that happened in a run. The text report, the JSON
// stream (--json), the JUnit file and parallel runs (whose children send
// their events to the parent) are all made from events.
//
// Event kinds, in the order a scenario makes them: scenario-start,
// network (its nodes built), step-start and step-end for each step, and
// between them process-start and process-end (a process's lifetime),
// conn-open and conn-end (a connection a send holds open) and change (an
// intention, a config entry, the CA, a fault); then bundle (a failed
// scenario's debug bundle), cleanup, network (removed) and scenario-end.
// Consumers ignore the kinds they do not know; every field but event,
// time and scenario may be absent.
type Event struct {
	Event    string    `json:"event"`
	Time     time.Time `json:"time"`
	Scenario string    `json:"scenario"`
	File     string    `json:"file,omitempty"`

	// scenario-start
	Description string `json:"description,omitempty"`
	Steps       int    `json:"steps,omitempty"`
	// ConsulVersion is the first line of `consul version` of the binary
	// the run uses; Command, the run's command line.
	ConsulVersion string `json:"consul_version,omitempty"`
	Command       string `json:"command,omitempty"`
	// Graph is the scenario's topology as `scenario graph` draws it
	// (Graphviz DOT).
	Graph string `json:"graph,omitempty"`

	// step-start and step-end
	Step *StepEvent `json:"step,omitempty"`

	// process-start and process-end
	Process *ProcessEvent `json:"process,omitempty"`
	// conn-open and conn-end
	Conn *ConnEvent `json:"conn,omitempty"`
	// change
	Change *ChangeEvent `json:"change,omitempty"`
	// bundle and scenario-end: the folder of the debug bundle a failed
	// scenario left (bundle's Error says what could not be gathered).
	Bundle string `json:"bundle,omitempty"`

	// cleanup
	Stopped []string `json:"stopped,omitempty"`
	Undone  []string `json:"undone,omitempty"` // changes put back in an existing cluster (run --agent)

	// network: the scenario's nodes were built (Nodes set) or removed
	Nodes []NodeInfo `json:"nodes,omitempty"`
	// network
	Removed bool `json:"removed,omitempty"`

	// cleanup and scenario-end
	DurationMS float64 `json:"duration_ms,omitempty"`

	// scenario-end
	Outcome    string `json:"outcome,omitempty"` // passed, failed, interrupted
	FailedStep int    `json:"failed_step,omitempty"`
	Error      string `json:"error,omitempty"`
	LogsDir    string `json:"logs_dir,omitempty"`
}

// StepEvent describes a step in step-start and step-end events.
type StepEvent struct {
	Index      int       `json:"index"` // from 1
	Type       string    `json:"type"`
	Label      string    `json:"label"`
	Pos        string    `json:"pos"`
	Outcome    string    `json:"outcome,omitempty"` // passed, failed, interrupted, skipped
	DurationMS float64   `json:"duration_ms,omitempty"`
	Error      string    `json:"error,omitempty"`
	Logs       []LogTail `json:"logs,omitempty"`
	Notes      []string  `json:"notes,omitempty"` // what the user should know though it passed
	// Probe is what the step's probe attempts saw (expect to:), on
	// step-end.
	Probe *ProbeEvent `json:"probe,omitempty"`
}

// ProcessEvent is a process of the scenario starting or ending.
type ProcessEvent struct {
	Name string `json:"name"` // agent, sidecar/SERVICE, a run step's name
	Node string `json:"node,omitempty"`
	Role string `json:"role"` // agent, sidecar or service (what a run step started)
	PID  int    `json:"pid"`
	Log  string `json:"log,omitempty"`
	Step int    `json:"step,omitempty"` // the step that started it, from 1
	// process-end: how it ended (exit status 0, signal: killed), and why:
	// stopped (by a stop step), cleanup, or died (by itself, while the
	// scenario relied on it).
	Exit  string `json:"exit,omitempty"`
	Ended string `json:"ended,omitempty"`
}

// Why a process ended.
const (
	EndedStopped = "stopped"
	EndedCleanup = "cleanup"
	EndedDied    = "died"
)

// ConnEvent is a connection a send step holds open, opened or ended.
type ConnEvent struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Node   string `json:"node,omitempty"` // the node it was dialled from
	Step   int    `json:"step,omitempty"` // the step that opened it
	End    string `json:"end,omitempty"`  // conn-end: how it ended
}

// ChangeEvent is something a passing step changed: an intention, a
// config entry, the CA, or a fault on a node (see steps.Change).
type ChangeEvent struct {
	Kind string `json:"kind"` // intention, config-entry, ca, fault
	What string `json:"what"`
	Node string `json:"node,omitempty"`
	// Span names a fault that lasts until a change with the same span and
	// node ends it (end), or the scenario ends.
	Span string `json:"span,omitempty"`
	End  bool   `json:"end,omitempty"`
	Step int    `json:"step,omitempty"`
}

// ProbeEvent sums up a probe's attempts: their number, how many saw each
// outcome (reply, close, deny, stall, no-connect) and how many held, and
// the attempts themselves as runs of one outcome, in order.
type ProbeEvent struct {
	Attempts int            `json:"attempts"`
	Held     int            `json:"held"`
	Outcomes map[string]int `json:"outcomes"`
	Runs     []AttemptRun   `json:"runs,omitempty"`
	// Omitted counts the runs left out after the first maxAttemptRuns,
	// which bounds the event.
	Omitted int `json:"omitted,omitempty"`
}

// AttemptRun is one or more attempts in a row with the same outcome: the
// first began at_ms after the step began, the last ended span_ms later.
type AttemptRun struct {
	AtMS    float64 `json:"at_ms"`
	SpanMS  float64 `json:"span_ms"`
	Outcome string  `json:"outcome"`
	Held    bool    `json:"held,omitempty"`
	Count   int     `json:"count"`
}

// NodeInfo is one node of a topology scenario.
type NodeInfo struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`
	Namespace string `json:"namespace"` // for `ip netns exec NAMESPACE ...`
}

// LogTail is the end of one process's log, shown with a failure.
type LogTail struct {
	Path  string   `json:"path"`
	Lines []string `json:"lines"`
}

// Outcomes as the events spell them.
const (
	OutcomePassed      = "passed"
	OutcomeFailed      = "failed"
	OutcomeInterrupted = "interrupted"
	OutcomeSkipped     = "skipped"
	OutcomeNotRunnable = "not-runnable"
)

// Observer hears the events of runs. Observe may be called from several
// goroutines when scenarios run in parallel; implementations serialise.
type Observer interface {
	Observe(Event)
}

// Observers fans events out to several observers.
type Observers []Observer

func (os Observers) Observe(e Event) {
	for _, o := range os {
		o.Observe(e)
	}
}

// JSONStream writes each event as one line of JSON (--json).
type JSONStream struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func NewJSONStream(w io.Writer) *JSONStream { return &JSONStream{enc: json.NewEncoder(w)} }

func (j *JSONStream) Observe(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}

func milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func stepEvent(item *Item) *StepEvent {
	return &StepEvent{Index: item.Index + 1, Type: item.Type, Label: item.Label, Pos: item.Pos.String()}
}

// GroupByScenario holds each scenario's events until it ends, then passes
// them on together, so that scenarios run in parallel report one after
// another instead of line by line interleaved.
func GroupByScenario(next Observer) Observer {
	return &grouper{next: next, held: map[string][]Event{}}
}

type grouper struct {
	mu   sync.Mutex
	next Observer
	held map[string][]Event
}

func (g *grouper) Observe(e Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := e.File + "\x00" + e.Scenario
	g.held[key] = append(g.held[key], e)
	if e.Event != "scenario-end" {
		return
	}
	for _, held := range g.held[key] {
		g.next.Observe(held)
	}
	delete(g.held, key)
}
