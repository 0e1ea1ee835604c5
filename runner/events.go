package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
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
	// For the reports made from events (the HTML report).
	Command string `json:"command,omitempty" in:"scenario-start" doc:"the run's command line (redacted)"`
	Graph   string `json:"graph,omitempty" in:"scenario-start" doc:"the scenario's topology as scenario graph draws it (Graphviz DOT)"`

	Step *StepEvent `json:"step,omitempty" in:"step-start,step-end" doc:"the step (see StepEvent)"`

	Process *ProcessEvent `json:"process,omitempty" in:"process-start,process-end" doc:"the process (see ProcessEvent)"`
	Conn    *ConnEvent    `json:"conn,omitempty" in:"conn-open,conn-end" doc:"the connection (see ConnEvent)"`
	Change  *ChangeEvent  `json:"change,omitempty" in:"change" doc:"what changed (see ChangeEvent)"`
	Bundle  string        `json:"bundle,omitempty" in:"bundle,scenario-end" doc:"the folder of the debug bundle a failed scenario left (on bundle, error says what could not be gathered)"`

	Stopped []string `json:"stopped,omitempty" in:"cleanup" doc:"the processes stopped, in the order they were stopped (newest first)"`
	Undone  []string `json:"undone,omitempty" in:"cleanup" doc:"the changes put back in an existing cluster (run --agent --allow-writes)"`
	// NotUndone are the steps that ran commands against an existing
	// cluster: what they changed there stays.
	NotUndone []string `json:"not_undone,omitempty" in:"cleanup" doc:"the steps that ran commands against an existing cluster (run --agent --allow-writes), whose changes the runner cannot put back"`

	Nodes   []NodeInfo `json:"nodes,omitempty" in:"network" doc:"the scenario's nodes, once they are built (see NodeInfo)"`
	Removed bool       `json:"removed,omitempty" in:"network" doc:"true once the scenario's nodes and links are removed"`

	DurationMS float64 `json:"duration_ms,omitempty" in:"network,bundle,cleanup,scenario-end" doc:"how long it took, in milliseconds"`

	Outcome    string `json:"outcome,omitempty" in:"scenario-end" doc:"passed, failed, interrupted or not-runnable"`
	FailedStep int    `json:"failed_step,omitempty" in:"scenario-end" doc:"the failed step's index, from 1"`
	Error      string `json:"error,omitempty" in:"bundle,scenario-end" doc:"the failed step, as INDEX (TYPE LABEL), or what else failed the scenario; on bundle, what could not be gathered, a line each"`
	LogsDir    string `json:"logs_dir,omitempty" in:"scenario-end" doc:"the scenario's log folder"`
	// Asked while the first scenario runs: so on the end.
	ConsulVersion string `json:"consul_version,omitempty" in:"scenario-end" doc:"the first line of consul version of the binary the run used (with --html or --json)"`
}

// EventKinds are the kinds of Event, in the order a scenario's run emits
// them.
var EventKinds = []struct{ Name, Doc string }{
	{"scenario-start", "a scenario begins; an invalid file is a scenario named after the file that starts and ends at once, failed, its problems in scenario-end's error (with or without --skip-invalid)"},
	{"network", "a scenario with nodes: its network namespaces and links were built (nodes), or removed at the end (removed)"},
	{"step-start", "a step begins (steps may begin before earlier ones have settled; see steps.Beside)"},
	{"step-end", "a step passed, failed, was interrupted or was skipped after a failure; every step ends once, in order"},
	{"process-start", "a process of the scenario started (between its step's start and end)"},
	{"process-end", "a process of the scenario ended: stopped by a stop step, at cleanup, or by itself; every end comes before scenario-end"},
	{"conn-open", "a send step opened a connection that it holds open"},
	{"conn-end", "a held connection ended: by the peer, or at cleanup"},
	{"change", "a passing step changed an intention, a config entry or the CA, or made or ended a fault (before its step-end)"},
	{"bundle", "a failed scenario's debug bundle was written, before anything was stopped"},
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
	Probe *ProbeEvent `json:"probe,omitempty" in:"step-end" doc:"what a probe's attempts saw (expect with to; see ProbeEvent)"`
}

// CellEvent is one cell of a step's table.
type CellEvent struct {
	Name    string `json:"name" doc:"what the cell judges, like web -> socat"`
	Outcome string `json:"outcome" doc:"passed, failed, or skipped (scenario audit's cells not probed, under --allow-unprobed)"`
	Detail  string `json:"detail,omitempty" doc:"the cell's evidence: declared, predicted and observed, instance by instance"`
}

// ProcessEvent is a process of the scenario starting or ending.
type ProcessEvent struct {
	Name  string `json:"name" doc:"agent, sidecar/SERVICE, or a run step's name"`
	Node  string `json:"node,omitempty" doc:"the node it runs on (none: the host)"`
	Role  string `json:"role" doc:"agent, sidecar or service (what a run step started)"`
	PID   int    `json:"pid" doc:"its process (and process group) id"`
	Log   string `json:"log,omitempty" doc:"its log file"`
	Step  int    `json:"step,omitempty" in:"process-start" doc:"the step that started it, from 1"`
	Exit  string `json:"exit,omitempty" in:"process-end" doc:"how it ended: exit status 0, signal: killed"`
	Ended string `json:"ended,omitempty" in:"process-end" doc:"why: stopped (by a stop step), cleanup, or died (by itself, while the scenario relied on it)"`
}

// Why a process ended.
const (
	EndedStopped = "stopped"
	EndedCleanup = "cleanup"
	EndedDied    = "died"
)

// ConnEvent is a connection a send step holds open, opened or ended.
type ConnEvent struct {
	Name   string `json:"name" doc:"the connection's name (send's conn)"`
	Target string `json:"target" doc:"where it goes: SERVICE/UPSTREAM or host:port"`
	Node   string `json:"node,omitempty" doc:"the node it was dialled from"`
	Step   int    `json:"step,omitempty" in:"conn-open" doc:"the step that opened it, from 1"`
	End    string `json:"end,omitempty" in:"conn-end" doc:"how it ended: closed by the peer (EOF), reset by the peer, closed at cleanup"`
}

// ChangeEvent is something a passing step changed (see steps.Change).
type ChangeEvent struct {
	Kind string `json:"kind" doc:"intention, config-entry, ca or fault"`
	What string `json:"what" doc:"what changed, in a few words: web -> api deny, loss 30%"`
	Node string `json:"node,omitempty" doc:"the node of a fault"`
	Span string `json:"span,omitempty" doc:"a fault that lasts (cable, loss, bandwidth) until a change with the same span and node ends it, or the scenario ends"`
	End  bool   `json:"end,omitempty" doc:"true when it ends its span's fault"`
	Step int    `json:"step,omitempty" doc:"the step that made it, from 1"`
}

// ProbeEvent sums up a probe's attempts.
type ProbeEvent struct {
	Attempts int            `json:"attempts" doc:"how many connections the probe made"`
	Held     int            `json:"held" doc:"how many of them showed what the probe expects"`
	Outcomes map[string]int `json:"outcomes" doc:"how many saw each outcome: reply, close, deny (closed, and the mesh showed it denied it), stall, no-connect"`
	Runs     []AttemptRun   `json:"runs,omitempty" doc:"the attempts in order, as runs of one outcome (see AttemptRun); at most 200"`
	Omitted  int            `json:"omitted,omitempty" doc:"the attempts after the 200th run, counted but not listed"`
}

// AttemptRun is one or more attempts in a row with the same outcome.
type AttemptRun struct {
	AtMS    float64 `json:"at_ms" doc:"when the first began, in milliseconds after the step began"`
	SpanMS  float64 `json:"span_ms" doc:"from the first's start to the last's end, in milliseconds"`
	Outcome string  `json:"outcome" doc:"what each saw: reply, close, deny, stall or no-connect"`
	Held    bool    `json:"held,omitempty" doc:"true when that is what the probe expects"`
	Count   int     `json:"count" doc:"how many attempts in a row"`
}

// EventTypes are the types events are made of, for their reference
// (docs/reference/events.md).
var EventTypes = []reflect.Type{
	reflect.TypeFor[Event](), reflect.TypeFor[StepEvent](), reflect.TypeFor[NodeInfo](), reflect.TypeFor[LogTail](),
	reflect.TypeFor[CellEvent](), reflect.TypeFor[ProcessEvent](), reflect.TypeFor[ConnEvent](), reflect.TypeFor[ChangeEvent](),
	reflect.TypeFor[ProbeEvent](), reflect.TypeFor[AttemptRun](),
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
