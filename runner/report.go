package runner

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/fatih/color"
)

// Reporter prints the human report: one line per step as it ends, the
// evidence of a failure, and a summary line per scenario. On a terminal it
// also shows the running step and its elapsed time while it waits.
type Reporter struct {
	mu                         sync.Mutex
	out                        io.Writer
	live                       bool // a terminal: show progress
	ok, fail, skip, dim, title *color.Color
	progress                   *progress
}

// NewReporter writes to out, coloured when useColor, with live progress
// when live (both only make sense on a terminal).
func NewReporter(out io.Writer, useColor, live bool) *Reporter {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if useColor {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return &Reporter{
		out:   out,
		live:  live,
		ok:    mk(color.FgGreen),
		fail:  mk(color.FgRed, color.Bold),
		skip:  mk(color.FgYellow),
		dim:   mk(color.Faint),
		title: mk(color.Bold),
	}
}

func (r *Reporter) Observe(e Event) {
	e = escapeEvent(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.progress != nil {
		r.progress.stop()
		r.progress = nil
		fmt.Fprint(r.out, "\r\x1b[K")
	}
	switch e.Event {
	case "scenario-start":
		fmt.Fprintf(r.out, "%s %s %s\n", r.title.Sprint("=== RUN"), r.title.Sprint(e.Scenario), r.dim.Sprintf("(%s)", e.File))
		if e.Description != "" {
			// Every line indented: none can pass for a line of the report.
			for _, l := range strings.Split(strings.TrimSpace(e.Description), "\n") {
				fmt.Fprintf(r.out, "    %s\n", r.dim.Sprint(l))
			}
		}
	case "step-start":
		if r.live {
			r.progress = startProgress(r.out, &r.mu, fmt.Sprintf("  %s %2d %-16s %s", r.dim.Sprint("... "), e.Step.Index, e.Step.Type, e.Step.Label), r.dim)
		}
	case "step-end":
		r.stepEnded(e.Step)
	case "network":
		var parts []string
		for _, n := range e.Nodes {
			parts = append(parts, fmt.Sprintf("%s %s", n.Name, n.Addr))
		}
		what := "network: nodes " + strings.Join(parts, ", ")
		if len(e.Nodes) > 0 {
			what += " (namespaces " + strings.TrimSuffix(e.Nodes[0].Namespace, e.Nodes[0].Name) + "*)"
		}
		if e.Removed {
			what = "network: removed"
		}
		fmt.Fprintf(r.out, "  %s\n", r.dim.Sprintf("%s (%s)", what, FormatDuration(fromMS(e.DurationMS))))
	case "bundle":
		fmt.Fprintf(r.out, "  %s\n", r.dim.Sprintf("debug bundle: %s (%s)", e.Bundle, FormatDuration(fromMS(e.DurationMS))))
		for _, l := range strings.Split(e.Error, "\n") {
			if l != "" {
				fmt.Fprintf(r.out, "  %s\n", r.skip.Sprint("bundle: could not gather "+l))
			}
		}
	case "cleanup":
		if len(e.Undone) > 0 {
			fmt.Fprintf(r.out, "  %s\n", r.dim.Sprintf("cleanup: put back %s (%s)", strings.Join(e.Undone, "; "), FormatDuration(fromMS(e.DurationMS))))
		}
		for _, step := range e.NotUndone {
			// Not dimmed: the cluster is not as it was.
			fmt.Fprintf(r.out, "  cleanup: NOT undone: %s (the runner cannot undo what a command changed)\n", EscapeLine(step))
		}
		if len(e.Stopped) > 0 {
			fmt.Fprintf(r.out, "  %s\n", r.dim.Sprintf("cleanup: stopped %s (%s)", strings.Join(e.Stopped, ", "), FormatDuration(fromMS(e.DurationMS))))
		}
	case "scenario-end":
		r.scenarioEnded(e)
	}
}

func (r *Reporter) line(status string, c *color.Color, s *StepEvent, elapsed string) {
	fmt.Fprintf(r.out, "  %s %2d %-16s %s %s\n", c.Sprintf("%-4s", status), s.Index, s.Type, s.Label, r.dim.Sprint(elapsed))
}

func (r *Reporter) stepEnded(s *StepEvent) {
	defer func() {
		for _, n := range s.Notes {
			fmt.Fprintf(r.out, "         %s\n", r.skip.Sprint("note: "+n))
		}
	}()
	elapsed := "(" + FormatDuration(fromMS(s.DurationMS)) + ")"
	switch s.Outcome {
	case OutcomePassed:
		r.line("ok", r.ok, s, elapsed)
		r.table(s)
	case OutcomeInterrupted:
		r.line("intr", r.skip, s, elapsed)
		fmt.Fprintf(r.out, "         %s\n", r.skip.Sprint(strings.SplitN(s.Error, " (", 2)[0]))
	case OutcomeSkipped:
		r.line("skip", r.skip, s, "")
		if s.Error != "" {
			fmt.Fprintf(r.out, "         %s\n", r.skip.Sprint(s.Error))
		}
	default:
		r.line("FAIL", r.fail, s, elapsed)
		fmt.Fprintf(r.out, "         at %s\n", s.Pos)
		r.table(s)
		for _, l := range strings.Split(s.Error, "\n") {
			fmt.Fprintf(r.out, "         %s\n", r.fail.Sprint(l))
		}
		for _, t := range s.Logs {
			fmt.Fprintf(r.out, "         %s\n", r.dim.Sprintf("%s (last %d lines):", t.Path, len(t.Lines)))
			for _, l := range t.Lines {
				fmt.Fprintf(r.out, "           | %s\n", l)
			}
		}
	}
}

// table prints a step's table under it, cells that do not hold in the
// failure colour.
func (r *Reporter) table(s *StepEvent) {
	for i, l := range s.Table {
		c := r.dim
		if i > 0 {
			c = r.title
		}
		if i > 0 && strings.Contains(l, "!") {
			c = r.fail
		}
		fmt.Fprintf(r.out, "         %s\n", c.Sprint(l))
	}
}

func (r *Reporter) scenarioEnded(e Event) {
	took := FormatDuration(fromMS(e.DurationMS))
	logs := r.dim.Sprintf("(logs: %s)", e.LogsDir)
	switch e.Outcome {
	case OutcomePassed:
		fmt.Fprintf(r.out, "%s %s: %d steps in %s %s\n", r.ok.Sprint("--- PASS"), e.Scenario, e.Steps, took, logs)
	case OutcomeInterrupted:
		fmt.Fprintf(r.out, "%s %s: interrupted at step %s after %s %s\n", r.skip.Sprint("--- INTERRUPTED"), e.Scenario, e.Error, took, logs)
	case OutcomeNotRunnable:
		// Not a pass: the claim was not tested. Counted with the failures.
		fmt.Fprintf(r.out, "  %s\n", r.skip.Sprint(e.Error))
		fmt.Fprintf(r.out, "%s %s: not runnable on this machine, so not tested %s\n", r.skip.Sprint("--- NOT RUNNABLE"), e.Scenario, logs)
	default:
		if e.FailedStep == 0 {
			for _, l := range strings.Split(e.Error, "\n") {
				fmt.Fprintf(r.out, "  %s\n", r.fail.Sprint(l))
			}
			fmt.Fprintf(r.out, "%s %s: failed after %s %s\n", r.fail.Sprint("--- FAIL"), e.Scenario, took, logs)
			return
		}
		fmt.Fprintf(r.out, "%s %s: step %s failed after %s %s\n", r.fail.Sprint("--- FAIL"), e.Scenario, e.Error, took, logs)
	}
}

func fromMS(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// FormatDuration prints durations as people read them: 8ms, 1.42s, 2m3s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// progress redraws "... 6 sidecar web 1.2s" on a terminal while a step
// waits, so that a person sees what is slow.
type progress struct{ done chan struct{} }

func startProgress(out io.Writer, mu *sync.Mutex, text string, dim *color.Color) *progress {
	p := &progress{done: make(chan struct{})}
	start := time.Now()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
				mu.Lock()
				select {
				case <-p.done: // stopped while we waited for the lock
				default:
					fmt.Fprintf(out, "\r%s %s\x1b[K", text, dim.Sprint(FormatDuration(time.Since(start).Round(100*time.Millisecond))))
				}
				mu.Unlock()
			}
		}
	}()
	return p
}

// stop ends the redraw. The caller holds the lock the redraw takes, so it
// does not wait for the goroutine; the goroutine checks done under the lock.
func (p *progress) stop() { close(p.done) }

// escapeEvent escapes what the report prints: names, labels, paths and log
// lines on one line each; errors and notes keep their own lines, each
// printed indented under its step.
func escapeEvent(e Event) Event {
	e.Scenario, e.File, e.LogsDir, e.Bundle = EscapeLine(e.Scenario), EscapeLine(e.File), EscapeLine(e.LogsDir), EscapeLine(e.Bundle)
	e.Description, e.Error = EscapeText(e.Description), EscapeText(e.Error)
	if e.FailedStep > 0 {
		e.Error = EscapeLine(e.Error)
	}
	if e.Warnings != nil {
		warnings := make([]string, len(e.Warnings))
		for i, w := range e.Warnings {
			warnings[i] = EscapeLine(w)
		}
		e.Warnings = warnings
	}
	if e.Stopped != nil {
		stopped := make([]string, len(e.Stopped))
		for i, s := range e.Stopped {
			stopped[i] = EscapeLine(s)
		}
		e.Stopped = stopped
	}
	if e.Step != nil {
		st := *e.Step
		st.Type, st.Label, st.Pos, st.Error = EscapeLine(st.Type), EscapeLine(st.Label), EscapeLine(st.Pos), EscapeText(st.Error)
		st.Notes = nil
		for _, n := range e.Step.Notes {
			st.Notes = append(st.Notes, EscapeLine(n))
		}
		st.Table = nil
		for _, l := range e.Step.Table {
			st.Table = append(st.Table, EscapeLine(l))
		}
		st.Cells = nil
		for _, c := range e.Step.Cells {
			st.Cells = append(st.Cells, CellEvent{Name: EscapeLine(c.Name), Outcome: c.Outcome, Detail: EscapeLine(c.Detail)})
		}
		st.Logs = nil
		for _, t := range e.Step.Logs {
			lines := make([]string, len(t.Lines))
			for i, l := range t.Lines {
				lines[i] = EscapeLine(l)
			}
			st.Logs = append(st.Logs, LogTail{Path: EscapeLine(t.Path), Lines: lines})
		}
		e.Step = &st
	}
	return e
}
