package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Event is one thing that happened in a run. The text report, the JSON
// stream (--json), the JUnit file and parallel runs (whose children send
// their events to the parent) are all made from events.
//
// The doc and in tags document each field for docs/reference/events.md
// (in: the kinds of event that carry it; none: every kind); a test fails
// when a field has no doc.
type Event struct {
	Event    string    `json:"event" doc:"the kind of event (see EventKinds)"`
	Time     time.Time `json:"time" doc:"when it happened (RFC 3339, nanoseconds)"`
	Scenario string    `json:"scenario" doc:"the scenario's name"`
	File     string    `json:"file,omitempty" doc:"the scenario's file"`

	Description string   `json:"description,omitempty" in:"scenario-start" doc:"the scenario's description"`
	Steps       int      `json:"steps,omitempty" in:"scenario-start,scenario-end" doc:"how many steps the scenario has"`
	Warnings    []string `json:"warnings,omitempty" in:"scenario-start" doc:"what validation found legal but suspicious in the file, file:line:col each"`

	Step *StepEvent `json:"step,omitempty" in:"step-start,step-end" doc:"the step (see StepEvent)"`

	Stopped []string `json:"stopped,omitempty" in:"cleanup" doc:"the processes stopped, in the order they were stopped (newest first)"`
	Undone  []string `json:"undone,omitempty" in:"cleanup" doc:"the changes put back in an existing cluster (run --agent --allow-writes)"`
	// NotUndone are the steps that ran commands against an existing
	// cluster: what they changed there stays.
	NotUndone []string `json:"not_undone,omitempty" in:"cleanup" doc:"the steps that ran commands against an existing cluster (run --agent --allow-writes), whose changes the runner cannot put back"`

	Nodes   []NodeInfo `json:"nodes,omitempty" in:"network" doc:"the scenario's nodes, once they are built (see NodeInfo)"`
	Removed bool       `json:"removed,omitempty" in:"network" doc:"true once the scenario's nodes and links are removed"`

	DurationMS float64 `json:"duration_ms,omitempty" in:"network,cleanup,scenario-end" doc:"how long it took, in milliseconds"`

	Outcome    string `json:"outcome,omitempty" in:"scenario-end" doc:"passed, failed, interrupted or not-runnable"`
	FailedStep int    `json:"failed_step,omitempty" in:"scenario-end" doc:"the failed step's index, from 1"`
	Error      string `json:"error,omitempty" in:"scenario-end" doc:"the failed step, as INDEX (TYPE LABEL), or what else failed the scenario"`
	LogsDir    string `json:"logs_dir,omitempty" in:"scenario-end" doc:"the scenario's log folder"`
}

// EventKinds are the kinds of Event, in the order a scenario's run emits
// them.
var EventKinds = []struct{ Name, Doc string }{
	{"scenario-start", "a scenario begins"},
	{"network", "a scenario with nodes: its network namespaces and links were built (nodes), or removed at the end (removed)"},
	{"step-start", "a step begins (steps may begin before earlier ones have settled; see steps.Beside)"},
	{"step-end", "a step passed, failed, was interrupted or was skipped after a failure; every step ends once, in order"},
	{"cleanup", "what the scenario started was stopped (stopped), or what it changed in an existing cluster was put back (undone) or could not be (not_undone)"},
	{"scenario-end", "the scenario's outcome"},
}

// StepEvent describes a step in step-start and step-end events.
type StepEvent struct {
	Index      int       `json:"index" doc:"the step's place in the scenario, from 1"`
	Type       string    `json:"type" doc:"the step type"`
	Label      string    `json:"label" doc:"the step's label: its name, or what it does"`
	Pos        string    `json:"pos" doc:"where the step is: file:line:col"`
	Outcome    string    `json:"outcome,omitempty" in:"step-end" doc:"passed, failed, interrupted or skipped"`
	DurationMS float64   `json:"duration_ms,omitempty" in:"step-end" doc:"how long the step took, in milliseconds"`
	Error      string    `json:"error,omitempty" in:"step-end" doc:"why it failed: what was expected and what happened"`
	Logs       []LogTail `json:"logs,omitempty" in:"step-end" doc:"a failed step's log tails, of the processes involved (see LogTail)"`
	Notes      []string  `json:"notes,omitempty" in:"step-end" doc:"what the user should know though it passed: the evidence a verdict rests on"`
	// Table and Cells are what a step that judges many things at once
	// found (a truth table).
	Table []string    `json:"table,omitempty" in:"step-end" doc:"a step's table as lines of text, shown under it (a truth table: rows sources, columns destinations)"`
	Cells []CellEvent `json:"cells,omitempty" in:"step-end" doc:"a verdict per cell of the step's table, each a test case of its own in JUnit and test2json (see CellEvent)"`
}

// CellEvent is one cell of a step's table.
type CellEvent struct {
	Name    string `json:"name" doc:"what the cell judges, like web -> socat"`
	Outcome string `json:"outcome" doc:"passed, failed, or skipped (scenario audit's cells not probed, under --allow-unprobed)"`
	Detail  string `json:"detail,omitempty" doc:"the cell's evidence: declared, predicted and observed, instance by instance"`
}

// NodeInfo is one node of a topology scenario.
type NodeInfo struct {
	Name      string `json:"name" doc:"the node's name, as the scenario lists it"`
	Addr      string `json:"addr" doc:"its address on the scenario's network"`
	Namespace string `json:"namespace" doc:"its network namespace, for ip netns exec NAMESPACE ..."`
}

// LogTail is the end of one process's log, shown with a failure.
type LogTail struct {
	Path  string   `json:"path" doc:"the log file"`
	Lines []string `json:"lines" doc:"its last lines"`
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

// cleanupLines says in lines what a cleanup event did: what it put back
// in an existing cluster, what it could not, and what it stopped.
func cleanupLines(e Event) []string {
	var lines []string
	if len(e.Undone) > 0 {
		lines = append(lines, "cleanup: put back "+strings.Join(e.Undone, "; "))
	}
	for _, step := range e.NotUndone {
		lines = append(lines, "cleanup: NOT undone: "+step+" (the runner cannot undo what a command changed)")
	}
	if len(e.Stopped) > 0 {
		lines = append(lines, fmt.Sprintf("cleanup: stopped %s (%s)", strings.Join(e.Stopped, ", "), FormatDuration(fromMS(e.DurationMS))))
	}
	return lines
}
