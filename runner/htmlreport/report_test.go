package htmlreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scenario-tool/scenario/runner"
	"github.com/scenario-tool/scenario/scenariofile"
	"github.com/scenario-tool/scenario/steps"
)

// synthetic makes the events of a scenario of n steps on two nodes: an
// agent and a sidecar per node, a held connection, a fault and an
// intention change, a probe of many attempts every tenth step, notes on
// every step, and a failure with log tails at the last.
func synthetic(name string, n int) []runner.Event {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	file := "scenarios/" + name + ".yaml"
	ev := func(ms int, e runner.Event) runner.Event {
		e.Time, e.Scenario, e.File = at(ms), name, file
		return e
	}
	out := []runner.Event{
		ev(0, runner.Event{Event: "scenario-start", Steps: n, Description: "synthetic",
			Command: "scenario run --html r.html " + file, Graph: `digraph "x" { subgraph "cluster_a" { label="a"; "web" [shape=box]; } "web" -> "api" [label="upstream api"]; }`}),
		ev(1, runner.Event{Event: "network", Nodes: []runner.NodeInfo{{Name: "app1"}, {Name: "app2"}}}),
	}
	for i, node := range []string{"app1", "app2"} {
		out = append(out,
			ev(2+i, runner.Event{Event: "process-start", Process: &runner.ProcessEvent{Name: "agent", Node: node, Role: "agent", PID: 100 + i, Step: 1}}),
			ev(5+i, runner.Event{Event: "process-start", Process: &runner.ProcessEvent{Name: "sidecar/web", Node: node, Role: "sidecar", PID: 200 + i, Step: 2}}))
	}
	out = append(out, ev(8, runner.Event{Event: "conn-open", Conn: &runner.ConnEvent{Name: "held", Target: "web/socat", Node: "app1", Step: 3}}),
		ev(9, runner.Event{Event: "change", Change: &runner.ChangeEvent{Kind: "fault", What: "disconnect app2", Node: "app2", Span: "cable", Step: 4}}),
		ev(10, runner.Event{Event: "change", Change: &runner.ChangeEvent{Kind: "intention", What: "web -> api deny", Step: 5}}))
	for i := 1; i <= n; i++ {
		ms := 10 + i*20
		st := &runner.StepEvent{Index: i, Type: "expect", Label: fmt.Sprintf("step number %d says something about the mesh", i), Pos: fmt.Sprintf("%s:%d:5", file, i+3)}
		out = append(out, ev(ms, runner.Event{Event: "step-start", Step: st}))
		end := *st
		end.Outcome, end.DurationMS = runner.OutcomePassed, 15
		end.Notes = []string{"observed cause: the destination's sidecar refused the source's certificate (intention web -> api deny)"}
		if i%10 == 0 {
			p := &runner.ProbeEvent{Attempts: 60, Held: 1, Outcomes: map[string]int{"close": 59, "reply": 1}}
			for k := 0; k < 30; k++ {
				p.Runs = append(p.Runs, runner.AttemptRun{AtMS: float64(k) / 2, SpanMS: 0.4, Outcome: []string{"close", "reply"}[k%2], Held: k == 29, Count: 2})
			}
			end.Probe = p
		}
		if i == n {
			end.Outcome, end.Error = runner.OutcomeFailed, "expected reply \"hello\\n\" from web/socat (14 attempts); connection closed by the peer (EOF) with no reply"
			end.Logs = []runner.LogTail{{Path: "logs/x/sidecar-web.log", Lines: []string{strings.Repeat("[ERROR] proxy.upstream: connection failed ", 5), "two"}}}
		}
		out = append(out, ev(ms+15, runner.Event{Event: "step-end", Step: &end}))
	}
	last := 10 + n*20 + 30
	out = append(out,
		ev(last, runner.Event{Event: "bundle", Bundle: "logs/" + name + "/bundle"}),
		ev(last+1, runner.Event{Event: "conn-end", Conn: &runner.ConnEvent{Name: "held", Target: "web/socat", End: "closed at cleanup"}}))
	for i, node := range []string{"app1", "app2"} {
		out = append(out,
			ev(last+2, runner.Event{Event: "process-end", Process: &runner.ProcessEvent{Name: "sidecar/web", Node: node, Role: "sidecar", PID: 200 + i, Ended: runner.EndedCleanup, Exit: "signal: terminated"}}),
			ev(last+3, runner.Event{Event: "process-end", Process: &runner.ProcessEvent{Name: "agent", Node: node, Role: "agent", PID: 100 + i, Ended: runner.EndedCleanup, Exit: "exit status 0"}}))
	}
	out = append(out, ev(last+4, runner.Event{Event: "scenario-end", Steps: n, Outcome: runner.OutcomeFailed, FailedStep: n,
		Error: fmt.Sprintf("%d (expect step number %d)", n, n), DurationMS: float64(last + 4), LogsDir: "logs/" + name, Bundle: "logs/" + name + "/bundle",
		ConsulVersion: "Consul v1.15.4"}))
	return out
}

func render(t *testing.T, events []runner.Event) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, events, Options{Out: "report.html", Dot: NoDot}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A scenario of 1,000 steps, each with a note, a probe of 60 attempts
// every tenth, stays under 2 MB.
func TestReportOfAThousandStepsStaysUnderTwoMegabytes(t *testing.T) {
	html := render(t, synthetic("big", 1000))
	t.Logf("1,000 steps: %d bytes (%.2f MB)", len(html), float64(len(html))/(1<<20))
	if len(html) >= 2<<20 {
		t.Fatalf("%d bytes: over 2 MB", len(html))
	}
	if got := strings.Count(html, `class="bar step`); got != 1000 {
		t.Errorf("%d step bars, want 1000", got)
	}
}

// The timeline has a bar for every step that began, a lane for every
// process of every node, the held connection, the fault and the change;
// the failed step's evidence is open; the bundle is linked relative to
// the report.
func TestReportDrawsEveryStepProcessConnectionAndChange(t *testing.T) {
	html := render(t, synthetic("small", 12))
	for what, want := range map[string]int{
		`class="bar step o-passed"`:  11,
		`class="bar step o-failed"`:  1,
		`class="lane proc"`:          4,
		`class="life r-agent"`:       2,
		`class="life r-sidecar"`:     2,
		`class="conn"`:               1,
		`class="fault"`:              1,
		`class="change k-intention"`: 1,
		`<details class="step st-failed" id="s1-step-12" open>`: 1,
		`href="./logs/small/bundle/"`:                           1,
		`class="tick a-reply h-true"`:                           1,
		`<dt>consul</dt><dd>Consul v1.15.4</dd>`:                1,
	} {
		if got := strings.Count(html, what); got != want {
			t.Errorf("%s: %d, want %d", what, got, want)
		}
	}
	for _, lane := range []string{`data-proc="app1/agent"`, `data-proc="app2/sidecar/web"`} {
		if !strings.Contains(html, lane) {
			t.Errorf("no lane %s", lane)
		}
	}
}

// A step's table and its cells (a truth table) are part of its evidence.
func TestReportShowsAStepsTableAndCells(t *testing.T) {
	events := synthetic("table", 3)
	for _, e := range events {
		if e.Event == "step-end" && e.Step.Index == 2 {
			e.Step.Table = []string{"        socat", "web     allow"}
			e.Step.Cells = []runner.CellEvent{{Name: "web -> socat", Outcome: runner.OutcomeFailed, Detail: "declared allow, observed deny"}}
		}
	}
	html := render(t, events)
	for _, want := range []string{`<pre class="table">        socat` + "\n" + `web     allow</pre>`, `<span class="badge o-failed">failed</span> web -&gt; socat: <span class="detail">declared allow, observed deny</span>`} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %s", want)
		}
	}
}

// The same events make the same report, whether they come straight from
// the run (--html) or through a saved --json stream (scenario report).
func TestReportFromSavedEventsIsTheSame(t *testing.T) {
	events := synthetic("same", 30)
	direct := render(t, events)
	var stream bytes.Buffer
	for _, e := range events {
		line, _ := json.Marshal(e)
		stream.Write(append(line, '\n'))
	}
	stream.WriteString("0 passed, 1 failed\n")
	read, err := ReadEvents(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if saved := render(t, read); saved != direct {
		t.Error("the report from the saved stream differs from the direct one")
	}
}

// Whatever the events say is text in the report, never markup or a
// link: the only script is the report's own, and a path that looks like
// a scheme stays a path.
func TestReportEscapesWhatTheEventsSay(t *testing.T) {
	evil := `<script>alert(1)</script><img src=http://x/y>`
	events := synthetic(evil, 3)
	for i := range events {
		if st := events[i].Step; st != nil {
			st.Label, st.Error, st.Notes = evil, evil, []string{evil}
		}
		if p := events[i].Process; p != nil {
			p.Name = evil
		}
		if events[i].Event == "scenario-end" {
			events[i].LogsDir = "javascript:alert(1)"
		}
	}
	events[0].Graph = `digraph { "` + strings.ReplaceAll(evil, `"`, `\"`) + `" [URL="javascript:alert(1)", image="http://x/y.png"]; }`
	html := render(t, events)
	if n := strings.Count(html, "<script"); n != 1 {
		t.Errorf("%d <script elements, want the report's own", n)
	}
	for _, bad := range []string{"<img", `="http://x`, `href="javascript:`} {
		if strings.Contains(html, bad) {
			t.Errorf("the report holds %s", bad)
		}
	}
	if !strings.Contains(html, `href="./javascript:alert%281%29/"`) {
		t.Errorf("the logs link is not a relative path:\n%s", regexp.MustCompile(`logs: <a href="[^"]*"`).FindString(html))
	}
}

// The page may load nothing: its CSP allows only its own style and
// script, by their hashes.
func TestReportPolicyAllowsOnlyItsOwnStyleAndScript(t *testing.T) {
	page := render(t, synthetic("csp", 2))
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no Content-Security-Policy")
	}
	policy := html.UnescapeString(csp[1])
	for _, want := range []string{"default-src 'none'", "style-src '" + hash(pageCSS) + "'", "script-src '" + hash(pageJS) + "'", "img-src 'none'"} {
		if !strings.Contains(policy, want) {
			t.Errorf("policy %q lacks %q", policy, want)
		}
	}
	if !strings.Contains(page, "<style>"+pageCSS+"</style>") || !strings.Contains(page, "<script>"+pageJS+"</script>") {
		t.Error("the style or script in the page is not the one hashed")
	}
}

// Without Graphviz, the topology is still drawn: every node of a library
// scenario's graph, its clusters and its edges.
func TestTopologyIsDrawnWithoutGraphviz(t *testing.T) {
	for _, file := range []string{"basic.yaml", "mesh-across-nodes.yaml", "two-datacenters.yaml", "prepared-query-upstream.yaml"} {
		sc, err := scenariofile.Load(filepath.Join("..", "..", "scenarios", file), steps.Default())
		if err != nil {
			t.Fatal(err)
		}
		dot := runner.Graph(sc)
		g, err := parseDOT(dot)
		if err != nil {
			t.Fatalf("%s: %v\n%s", file, err, dot)
		}
		svg, err := topology(dot, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(g.nodes) < 3 || len(g.edges) < 1 {
			t.Errorf("%s: parsed %d nodes, %d edges from:\n%s", file, len(g.nodes), len(g.edges), dot)
		}
		for id := range g.nodes {
			if !strings.Contains(string(svg), "<title>"+esc(id)+"</title>") {
				t.Errorf("%s: node %q is not drawn", file, id)
			}
		}
		if got := strings.Count(string(svg), `class="g-edge"`); got != len(g.edges) {
			t.Errorf("%s: %d edges drawn, %d in the graph", file, got, len(g.edges))
		}
		if _, err := cleanSVG([]byte(svg)); err != nil {
			t.Errorf("%s: the drawing is not well-formed SVG: %v", file, err)
		}
	}
}

// What Graphviz writes is kept only as drawing: no link, image, script,
// style, event handler or reference.
func TestGraphvizSVGIsKeptOnlyAsDrawing(t *testing.T) {
	in := `<?xml version="1.0"?><!DOCTYPE svg><svg width="10pt" height="10pt" viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">
<script>alert(2)</script><style>*{background:url(http://x/)}</style>
<g id="node1" class="node"><title>web</title>
<a xlink:href="javascript:alert(3)" xlink:title="x"><polygon fill="url(http://x/#g)" stroke="black" points="0,0 1,1"/><text x="1" y="2" style="fill:red">web &amp; api</text></a>
<image xlink:href="http://x/y.png" width="1" height="1"/><foreignObject><div>html</div></foreignObject></g></svg>`
	out, err := cleanSVG([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"alert", "script", "style", "url(", "http://", "href", "image", "foreignObject", "html", "onload"} {
		if strings.Contains(out, bad) {
			t.Errorf("kept %q: %s", bad, out)
		}
	}
	for _, want := range []string{`<svg class="topology" width="10pt"`, "<title>web</title>", `<polygon stroke="black" points="0,0 1,1">`, "web &amp; api"} {
		if !strings.Contains(out, want) {
			t.Errorf("lost %q: %s", want, out)
		}
	}
}

// A file that is not an event stream is refused, naming the line.
func TestReadEventsNamesTheBadLine(t *testing.T) {
	_, err := ReadEvents(strings.NewReader(`{"event":"scenario-start","scenario":"a"}` + "\n{not json\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("got %v", err)
	}
	if _, err := ReadEvents(strings.NewReader("=== RUN basic\n")); err == nil || !strings.Contains(err.Error(), "run --json") {
		t.Errorf("text report: got %v", err)
	}
}
