package runner

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fatih/color"
)

// reporter prints one line per step as it ends, the evidence of a failure,
// and a summary line per scenario.
type reporter struct {
	out                        io.Writer
	ok, fail, skip, dim, title *color.Color
}

func newReporter(out io.Writer, useColor bool) *reporter {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if useColor {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return &reporter{
		out:   out,
		ok:    mk(color.FgGreen),
		fail:  mk(color.FgRed, color.Bold),
		skip:  mk(color.FgYellow),
		dim:   mk(color.Faint),
		title: mk(color.Bold),
	}
}

func (r *reporter) begin(sc *Scenario) {
	fmt.Fprintf(r.out, "%s %s %s\n", r.title.Sprint("=== RUN"), r.title.Sprint(sc.Name), r.dim.Sprintf("(%s)", sc.File))
	if sc.Description != "" {
		fmt.Fprintf(r.out, "    %s\n", r.dim.Sprint(strings.TrimSpace(sc.Description)))
	}
}

func (r *reporter) line(status string, c *color.Color, item *Item, elapsed string) {
	fmt.Fprintf(r.out, "  %s %2d %-16s %s %s\n", c.Sprintf("%-4s", status), item.Index+1, item.Type, item.Label, r.dim.Sprint(elapsed))
}

func (r *reporter) passed(item *Item, d time.Duration) {
	r.line("ok", r.ok, item, "("+FormatDuration(d)+")")
}

func (r *reporter) failed(item *Item, err error, d time.Duration, tails []logTail) {
	r.line("FAIL", r.fail, item, "("+FormatDuration(d)+")")
	fmt.Fprintf(r.out, "         at %s\n", item.Pos)
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(r.out, "         %s\n", r.fail.Sprint(l))
	}
	for _, t := range tails {
		fmt.Fprintf(r.out, "         %s\n", r.dim.Sprintf("%s (last %d lines):", t.Path, len(t.Lines)))
		for _, l := range t.Lines {
			fmt.Fprintf(r.out, "           | %s\n", l)
		}
	}
}

func (r *reporter) interrupted(item *Item, err error, d time.Duration) {
	r.line("intr", r.skip, item, "("+FormatDuration(d)+")")
	fmt.Fprintf(r.out, "         %s\n", r.skip.Sprint(strings.SplitN(err.Error(), " (", 2)[0]))
}

func (r *reporter) notRun(items []Item, why error) {
	for i := range items {
		r.line("skip", r.skip, &items[i], "")
	}
	if why != nil && len(items) > 0 {
		fmt.Fprintf(r.out, "         %s\n", r.skip.Sprint(why))
	}
}

func (r *reporter) cleanup(stopped []string, d time.Duration) {
	if len(stopped) == 0 {
		return
	}
	fmt.Fprintf(r.out, "  %s\n", r.dim.Sprintf("cleanup: stopped %s (%s)", strings.Join(stopped, ", "), FormatDuration(d)))
}

func (r *reporter) abort(res Result, err error, start time.Time) Result {
	res.Outcome, res.Err, res.Duration = Failed, err, time.Since(start)
	fmt.Fprintf(r.out, "  %s\n", r.fail.Sprint(err))
	r.end(res)
	return res
}

func (r *reporter) end(res Result) {
	sc := res.Scenario
	switch res.Outcome {
	case Passed:
		fmt.Fprintf(r.out, "%s %s: %d steps in %s %s\n", r.ok.Sprint("--- PASS"), sc.Name, len(sc.Items), FormatDuration(res.Duration), r.dim.Sprintf("(logs: %s)", res.LogsDir))
	case Interrupted:
		fmt.Fprintf(r.out, "%s %s: interrupted at step %s after %s %s\n", r.skip.Sprint("--- INTERRUPTED"), sc.Name, stepRef(res.Failed), FormatDuration(res.Duration), r.dim.Sprintf("(logs: %s)", res.LogsDir))
	default:
		fmt.Fprintf(r.out, "%s %s: %s after %s %s\n", r.fail.Sprint("--- FAIL"), sc.Name, failureRef(res.Failed), FormatDuration(res.Duration), r.dim.Sprintf("(logs: %s)", res.LogsDir))
	}
}

func stepRef(item *Item) string {
	if item == nil {
		return "-"
	}
	return fmt.Sprintf("%d (%s %s)", item.Index+1, item.Type, item.Label)
}

func failureRef(item *Item) string {
	if item == nil {
		return "setup failed"
	}
	return "step " + stepRef(item) + " failed"
}

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
