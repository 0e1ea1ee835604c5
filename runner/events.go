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
type Event struct {
	Event    string    `json:"event"` // scenario-start, step-start, step-end, cleanup, scenario-end
	Time     time.Time `json:"time"`
	Scenario string    `json:"scenario"`
	File     string    `json:"file,omitempty"`

	// scenario-start
	Description string `json:"description,omitempty"`
	Steps       int    `json:"steps,omitempty"`

	// step-start and step-end
	Step *StepEvent `json:"step,omitempty"`

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
	// Table and Cells are what a step that judges many things at once
	// found (a truth table): lines shown under the step, and a verdict per
	// cell, each a test case of its own in JUnit and test2json.
	Table []string    `json:"table,omitempty"`
	Cells []CellEvent `json:"cells,omitempty"`
}

// CellEvent is one cell of a step's table.
type CellEvent struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"` // passed or failed
	Detail  string `json:"detail,omitempty"`
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
