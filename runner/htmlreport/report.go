package htmlreport

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/scenario-tool/scenario/runner"
)

var (
	//go:embed report.html.tmpl
	pageTemplate string
	//go:embed report.css
	pageCSS string
	//go:embed report.js
	pageJS string

	tmpl = template.Must(template.New("report").Parse(pageTemplate))
)

// Options say how to write a report.
type Options struct {
	// Out is where the report goes: links to log folders and bundles are
	// made relative to its folder ("" leaves them as the events say).
	Out string
	// Dot is Graphviz's dot, which lays the topology out: "" finds it on
	// PATH; NoDot draws without it.
	Dot string
}

// NoDot, as Options.Dot, draws the topology without Graphviz.
const NoDot = "none"

// Limits on what one step shows, so that a report's size is bounded by
// the number of steps: a note or an error this long is cut, with a word
// saying so.
const (
	maxText  = 8 << 10
	maxNotes = 50
	maxLine  = 500
)

// ReadEvents reads a saved event stream (run --json: one JSON object a
// line). A line that is not an event is an error naming it; blank lines
// and the summary line a run prints last ("2 passed, 0 failed") are
// skipped.
func ReadEvents(r io.Reader) ([]runner.Event, error) {
	var events []runner.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e runner.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d: not an event of scenario run --json: %v", n, err)
		}
		if e.Event == "" {
			return nil, fmt.Errorf("line %d: not an event of scenario run --json (it has no \"event\")", n)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, errors.New("no events in it; give the output of scenario run --json")
	}
	return events, nil
}

// WriteFile writes the report of events to path, whole or not at all.
func WriteFile(path string, events []runner.Event, opts Options) error {
	if opts.Out == "" {
		opts.Out = path
	}
	var b bytes.Buffer
	if err := Write(&b, events, opts); err != nil {
		return err
	}
	return runner.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}

// Write renders the report of events. The same events make the same bytes.
func Write(w io.Writer, events []runner.Event, opts Options) error {
	r := build(events)
	dot := opts.Dot
	note := ""
	switch dot {
	case NoDot:
		dot = ""
	case "":
		if p, err := exec.LookPath("dot"); err == nil {
			dot = p
		} else {
			note = "Graphviz's dot was not found when this report was made, so the topology is drawn simply, without its layout (apt-get install graphviz for the laid-out picture)."
		}
	}
	p := &page{CSS: template.CSS(pageCSS), JS: template.JS(pageJS), TopologyNote: note}
	p.CSP = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; img-src 'none'; base-uri 'none'; form-action 'none'", hash(pageCSS), hash(pageJS))
	if !r.first.IsZero() {
		p.Started = r.first.UTC().Format("2006-01-02 15:04:05 UTC")
		p.Took = runner.FormatDuration(r.last.Sub(r.first))
	}
	svgs := map[string]template.HTML{}
	for _, sc := range r.scenarios {
		ps := pageScenario{
			ID: fmt.Sprintf("s%d", sc.num), Num: sc.num, Name: sc.name, File: sc.file, Description: sc.description,
			Outcome: sc.outcome, Failed: sc.failed(), Error: cut(sc.err, maxText), FailedStep: sc.failedStep,
			Duration: runner.FormatDuration(sc.duration), Steps: len(sc.steps), Processes: len(sc.lanes),
			Timeline: timeline(sc), LogsDir: sc.logsDir, LogsHref: href(sc.logsDir, opts.Out),
			Bundle: sc.bundle, BundleHref: href(sc.bundle, opts.Out), BundleErr: sc.bundleErr,
		}
		switch sc.outcome {
		case runner.OutcomePassed:
			p.Passed++
		case runner.OutcomeFailed:
			p.Failed++
		default:
			p.Other++
		}
		if sc.graph != "" {
			svg, ok := svgs[sc.graph]
			if !ok {
				var err error
				if svg, err = topology(sc.graph, dot); err != nil && dot != "" {
					// dot failed on it: draw it here rather than not at all.
					ps.TopologyErr = err.Error() + "; drawn simply instead"
					svg, err = topology(sc.graph, "")
				}
				if err != nil {
					ps.TopologyErr = err.Error()
				}
				svgs[sc.graph] = svg
			}
			ps.Topology = svg
		}
		for _, st := range sc.steps {
			ps.StepList = append(ps.StepList, pageStepOf(sc, st))
		}
		if v := sc.consulVersion; v != "" && !slices.Contains(p.ConsulVersions, v) {
			p.ConsulVersions = append(p.ConsulVersions, v)
		}
		if c := sc.command; c != "" && !slices.Contains(p.Commands, c) {
			p.Commands = append(p.Commands, c)
		}
		p.Scenarios = append(p.Scenarios, ps)
	}
	return tmpl.Execute(w, p)
}

// page is what the template shows.
type page struct {
	CSP                   string
	CSS                   template.CSS
	JS                    template.JS
	Started, Took         string
	Passed, Failed, Other int
	ConsulVersions        []string
	Commands              []string
	TopologyNote          string
	Scenarios             []pageScenario
}

type pageScenario struct {
	ID, Name, File, Description string
	Num                         int
	Outcome, Error              string
	Failed                      bool
	FailedStep                  int
	Duration                    string
	Steps, Processes            int
	Timeline                    template.HTML
	Topology                    template.HTML
	TopologyErr                 string
	LogsDir, Bundle, BundleErr  string
	LogsHref, BundleHref        template.URL
	StepList                    []pageStep
}

type pageStep struct {
	ID                        string
	Index                     int
	Type, Label, Pos, Outcome string
	Error, Probe, Duration    string
	Notes                     []string
	Logs                      []runner.LogTail
	Table                     string
	Cells                     []runner.CellEvent
	Open, Evidence            bool
}

func pageStepOf(sc *scenario, st *step) pageStep {
	ps := pageStep{ID: fmt.Sprintf("s%d-step-%d", sc.num, st.index), Index: st.index, Type: st.typ, Label: st.label,
		Pos: st.pos, Outcome: orDash(st.outcome), Error: cut(st.err, maxText), Probe: probeSummary(st.probe)}
	if !st.start.IsZero() {
		ps.Duration = runner.FormatDuration(st.duration)
	}
	for i, n := range st.notes {
		if i == maxNotes {
			ps.Notes = append(ps.Notes, fmt.Sprintf("(%d more notes not shown)", len(st.notes)-maxNotes))
			break
		}
		ps.Notes = append(ps.Notes, cut(n, maxText))
	}
	for _, t := range st.logs {
		lines := make([]string, len(t.Lines))
		for i, l := range t.Lines {
			lines[i] = cut(l, maxLine)
		}
		ps.Logs = append(ps.Logs, runner.LogTail{Path: t.Path, Lines: lines})
	}
	ps.Table = cut(strings.Join(st.table, "\n"), maxText)
	for i, c := range st.cells {
		if i == maxNotes {
			ps.Cells = append(ps.Cells, runner.CellEvent{Name: fmt.Sprintf("(%d more cells not shown)", len(st.cells)-maxNotes)})
			break
		}
		ps.Cells = append(ps.Cells, runner.CellEvent{Name: c.Name, Outcome: c.Outcome, Detail: cut(c.Detail, maxText)})
	}
	ps.Evidence = ps.Error != "" || len(ps.Notes) > 0 || len(ps.Logs) > 0 || ps.Probe != "" || ps.Table != "" || len(ps.Cells) > 0
	ps.Open = st.outcome == runner.OutcomeFailed || st.outcome == runner.OutcomeInterrupted
	return ps
}

// cut shortens s to about n bytes, saying how much was left out.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8RuneStart(s[i]) {
		i--
	}
	return s[:i] + fmt.Sprintf("… (%d more bytes)", len(s)-i)
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// href links to path (as the run named it, from its working folder) from
// the folder of the report at out.
func href(path, out string) template.URL {
	if path == "" {
		return ""
	}
	target := path
	if out != "" {
		if abs, err := filepath.Abs(path); err == nil {
			if base, err := filepath.Abs(filepath.Dir(out)); err == nil {
				if rel, err := filepath.Rel(base, abs); err == nil {
					target = rel
				}
			}
		}
	}
	var parts []string
	for _, p := range strings.Split(filepath.ToSlash(target), "/") {
		parts = append(parts, url.PathEscape(p))
	}
	link := strings.Join(parts, "/") + "/"
	if !strings.HasPrefix(link, "/") {
		// Never read as a scheme ("javascript:..."): a path, always.
		link = "./" + link
	}
	return template.URL(link)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
