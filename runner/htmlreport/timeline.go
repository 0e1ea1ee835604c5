package htmlreport

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/scenario-tool/scenario/runner"
)

// The timeline's geometry, in SVG user units (it scales to the page).
const (
	tlWidth    = 1100.0
	tlLabel    = 300.0 // the column of row names
	tlRight    = 12.0
	tlRow      = 18.0
	tlBar      = 12.0
	tlAxis     = 26.0
	tlMinWidth = 2.0 // the narrowest bar, so that a 1 ms step still shows
	tlLabelMax = 44  // characters of a row name; the whole is in its title
)

// timeline draws one scenario on one time axis, top to bottom: changes
// and faults, steps (bars, with their probe attempts as ticks), each
// process's lifetime in a lane under its node, and held connections.
// Faults also shade the whole height while they last.
func timeline(sc *scenario) template.HTML {
	t := &tl{sc: sc, t0: sc.start, t1: sc.start.Add(sc.duration)}
	if sc.end.After(t.t1) {
		t.t1 = sc.end
	}
	if !t.t1.After(t.t0) {
		t.t1 = t.t0.Add(time.Millisecond)
	}
	return template.HTML(t.draw())
}

type tl struct {
	sc     *scenario
	t0, t1 time.Time
	y      float64
	b      strings.Builder // the rows
	shades [][2]float64    // x and width of each fault, shaded across the whole height
}

func (t *tl) x(at time.Time) float64 {
	if at.IsZero() {
		return tlLabel
	}
	f := float64(at.Sub(t.t0)) / float64(t.t1.Sub(t.t0))
	return tlLabel + math.Max(0, math.Min(1, f))*(tlWidth-tlLabel-tlRight)
}

func (t *tl) draw() string {
	t.y = tlAxis
	t.changes()
	t.steps()
	t.lanes()
	t.conns()
	height := t.y + 6
	var out strings.Builder
	fmt.Fprintf(&out, `<svg class="timeline" viewBox="0 0 %.0f %.0f" role="img" aria-label="timeline of %s">`, tlWidth, height, esc(t.sc.name))
	for _, s := range t.shades {
		fmt.Fprintf(&out, `<rect class="fault-shade" x="%.1f" y="%.0f" width="%.1f" height="%.1f"/>`, s[0], tlAxis, s[1], height-tlAxis)
	}
	t.axis(&out, height)
	out.WriteString(t.b.String())
	out.WriteString(`</svg>`)
	return out.String()
}

// axis draws the time ticks: 1, 2 or 5 times a power of ten, about ten.
func (t *tl) axis(b *strings.Builder, height float64) {
	total := t.t1.Sub(t.t0)
	stepMS := niceStep(float64(total.Milliseconds()) / 10)
	for ms := 0.0; ms <= float64(total.Milliseconds()); ms += stepMS {
		x := t.x(t.t0.Add(time.Duration(ms * float64(time.Millisecond))))
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x, tlAxis-6, x, height)
		fmt.Fprintf(b, `<text class="tick-label" x="%.1f" y="%.1f">%s</text>`, x, tlAxis-10, esc(axisLabel(ms, stepMS)))
	}
}

func niceStep(raw float64) float64 {
	if raw <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(ms, step float64) string {
	switch {
	case step >= 60000:
		return fmt.Sprintf("%.0fm", ms/60000)
	case step >= 1000:
		return fmt.Sprintf("%.0fs", ms/1000)
	case step >= 100:
		return fmt.Sprintf("%.1fs", ms/1000)
	}
	return fmt.Sprintf("%.0fms", ms)
}

// header starts a group of rows.
func (t *tl) header(text string) {
	t.y += 4
	fmt.Fprintf(&t.b, `<text class="group" x="4" y="%.1f">%s</text>`, t.y+12, esc(text))
	fmt.Fprintf(&t.b, `<line class="sep" x1="0" y1="%.1f" x2="%.0f" y2="%.1f"/>`, t.y+15, tlWidth, t.y+15)
	t.y += tlRow
}

// label writes a row's name, cut to fit; the whole name is its title.
func (t *tl) label(class, text, title string) {
	short := text
	if r := []rune(text); len(r) > tlLabelMax {
		short = string(r[:tlLabelMax-1]) + "…"
	}
	fmt.Fprintf(&t.b, `<text class="%s" x="10" y="%.1f"><title>%s</title>%s</text>`, class, t.y+12, esc(title), esc(short))
}

// changes: a row of markers for intentions, config entries and the CA; a
// row per fault (a node's cable, loss, bandwidth) with its spans.
func (t *tl) changes() {
	if len(t.sc.changes) == 0 {
		return
	}
	t.header("changes")
	var instant []*change
	type span struct {
		key, label string
		from       *change
		parts      [][2]*change // start, end (nil: to the end)
	}
	var faults []*span
	byKey := map[string]*span{}
	for _, c := range t.sc.changes {
		if c.span == "" {
			instant = append(instant, c)
			continue
		}
		key := c.span + "@" + c.node
		s := byKey[key]
		if s == nil {
			label := c.span
			if c.node != "" {
				label += " on " + c.node
			}
			s = &span{key: key, label: label}
			byKey[key] = s
			faults = append(faults, s)
		}
		if s.from != nil {
			s.parts = append(s.parts, [2]*change{s.from, c})
			s.from = nil
		}
		if !c.end {
			s.from = c
		}
	}
	if len(instant) > 0 {
		t.label("row-label", "intentions, config, CA", "intention and config entry changes, CA rotations")
		for _, c := range instant {
			x := t.x(c.at)
			cy := t.y + tlRow/2
			fmt.Fprintf(&t.b, `<a href="#s%d-step-%d"><path class="change k-%s" data-step="%d" d="M%.1f %.1f l5 5 l-5 5 l-5 -5 z"><title>%s</title></path></a>`,
				t.sc.num, c.step, esc(c.kind), c.step, x, cy-5, esc(fmt.Sprintf("%s at %s (step %d): %s", c.kind, offset(c.at, t.t0), c.step, c.what)))
		}
		t.y += tlRow
	}
	for _, s := range faults {
		if s.from != nil {
			s.parts = append(s.parts, [2]*change{s.from, nil})
		}
		t.label("row-label", s.label, s.label)
		for _, p := range s.parts {
			x0 := t.x(p[0].at)
			x1 := t.x(t.t1)
			until := "the end of the scenario"
			if p[1] != nil {
				x1, until = t.x(p[1].at), fmt.Sprintf("%s (step %d)", offset(p[1].at, t.t0), p[1].step)
			}
			w := math.Max(tlMinWidth, x1-x0)
			title := fmt.Sprintf("%s from %s (step %d) to %s", p[0].what, offset(p[0].at, t.t0), p[0].step, until)
			fmt.Fprintf(&t.b, `<rect class="fault" x="%.1f" y="%.1f" width="%.1f" height="%.0f"><title>%s</title></rect>`, x0, t.y+(tlRow-tlBar)/2, w, tlBar, esc(title))
			fmt.Fprintf(&t.b, `<text class="bar-text" x="%.1f" y="%.1f">%s</text>`, x0+3, t.y+12, esc(p[0].what))
			t.shades = append(t.shades, [2]float64{x0, w})
		}
		t.y += tlRow
	}
}

// steps: a row each; a bar from its start for its duration, coloured by
// outcome, with its probe's attempts as ticks along it.
func (t *tl) steps() {
	t.header("steps")
	for _, st := range t.sc.steps {
		name := fmt.Sprintf("%2d %s %s", st.index, st.typ, st.label)
		title := fmt.Sprintf("step %d: %s %s (%s)", st.index, st.typ, st.label, orDash(st.outcome))
		if p := st.probe; p != nil {
			name += fmt.Sprintf(" · %d attempts", p.Attempts)
		}
		fmt.Fprintf(&t.b, `<g class="step-row o-%s" data-step="%d">`, esc(orDash(st.outcome)), st.index)
		t.label("row-label", name, title)
		if st.start.IsZero() {
			fmt.Fprintf(&t.b, `<text class="skipped" x="%.1f" y="%.1f">%s</text>`, tlLabel+4, t.y+12, esc(orDash(st.outcome)))
			t.b.WriteString(`</g>`)
			t.y += tlRow
			continue
		}
		x0 := t.x(st.start)
		w := math.Max(tlMinWidth, t.x(st.start.Add(st.duration))-x0)
		barY, barH := t.y+(tlRow-tlBar)/2, tlBar
		if st.probe != nil {
			barY, barH = t.y+2, tlBar-3 // the attempts go under it
		}
		fmt.Fprintf(&t.b, `<a href="#s%d-step-%d"><rect class="bar step o-%s" data-step="%d" x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="2"><title>%s</title></rect></a>`,
			t.sc.num, st.index, esc(orDash(st.outcome)), st.index, x0, barY, w, barH,
			esc(fmt.Sprintf("%s, from %s for %s", title, offset(st.start, t.t0), runner.FormatDuration(st.duration))))
		if p := st.probe; p != nil {
			for _, r := range p.Runs {
				rx := t.x(st.start.Add(msDuration(r.AtMS)))
				rw := math.Max(1.5, t.x(st.start.Add(msDuration(r.AtMS+r.SpanMS)))-rx)
				held := "not as expected"
				if r.Held {
					held = "as expected"
				}
				fmt.Fprintf(&t.b, `<rect class="tick a-%s h-%t" x="%.1f" y="%.1f" width="%.1f" height="4"><title>%s</title></rect>`,
					esc(r.Outcome), r.Held, rx, t.y+tlRow-5, rw, esc(fmt.Sprintf("%d× %s (%s), from %s", r.Count, r.Outcome, held, offset(st.start.Add(msDuration(r.AtMS)), t.t0))))
			}
		}
		t.b.WriteString(`</g>`)
		t.y += tlRow
	}
}

// lanes: each node's processes, a lane each, with a bar per life; a
// process that died by itself ends in a cross.
func (t *tl) lanes() {
	node := "\x00"
	for _, l := range t.sc.lanes {
		if l.node != node {
			node = l.node
			switch {
			case node != "":
				t.header("node " + node)
			case len(t.sc.nodes) > 0:
				t.header("host")
			default:
				t.header("processes")
			}
		}
		fmt.Fprintf(&t.b, `<g class="lane proc" data-proc="%s">`, esc(qualified(l.node, l.name)))
		t.label("row-label", fmt.Sprintf("%s (%s)", l.name, l.role), qualified(l.node, l.name))
		for _, lf := range l.lives {
			end, until := lf.end, "still running when the events end"
			if end.IsZero() {
				end = t.t1
			} else {
				until = fmt.Sprintf("%s at %s (%s)", orDash(lf.reason), offset(lf.end, t.t0), lf.exit)
			}
			x0 := t.x(lf.start)
			w := math.Max(tlMinWidth, t.x(end)-x0)
			title := fmt.Sprintf("%s, pid %d, started at %s by step %d; %s", qualified(l.node, l.name), lf.pid, offset(lf.start, t.t0), lf.step, until)
			fmt.Fprintf(&t.b, `<rect class="life r-%s" x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="2"><title>%s</title></rect>`,
				esc(l.role), x0, t.y+(tlRow-tlBar)/2, w, tlBar, esc(title))
			if lf.reason == runner.EndedDied {
				x := x0 + w
				fmt.Fprintf(&t.b, `<path class="died" d="M%.1f %.1f l8 8 m0 -8 l-8 8"><title>%s</title></path>`, x-4, t.y+5, esc(title))
			}
		}
		t.b.WriteString(`</g>`)
		t.y += tlRow
	}
}

// conns: each connection a send holds open, from open to end.
func (t *tl) conns() {
	if len(t.sc.conns) == 0 {
		return
	}
	t.header("held connections")
	for _, c := range t.sc.conns {
		end, how := c.end, "still open when the events end"
		if end.IsZero() {
			end = t.t1
		} else {
			how = fmt.Sprintf("%s at %s", c.how, offset(c.end, t.t0))
		}
		t.label("row-label", fmt.Sprintf("%s → %s", c.name, c.target), fmt.Sprintf("connection %s to %s", c.name, c.target))
		x0 := t.x(c.start)
		w := math.Max(tlMinWidth, t.x(end)-x0)
		fmt.Fprintf(&t.b, `<rect class="conn" x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="5"><title>%s</title></rect>`, x0, t.y+(tlRow-tlBar)/2+2, w, tlBar-4,
			esc(fmt.Sprintf("connection %s to %s, opened at %s by step %d; %s", c.name, c.target, offset(c.start, t.t0), c.step, how)))
		t.y += tlRow
	}
}

// offset says when at was, from the scenario's start.
func offset(at, t0 time.Time) string {
	if at.IsZero() {
		return "?"
	}
	return "+" + runner.FormatDuration(at.Sub(t0))
}

func qualified(node, name string) string {
	if node == "" {
		return name
	}
	return node + "/" + name
}

func orDash(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// probeSummary says how a probe's attempts went, in words.
func probeSummary(p *runner.ProbeEvent) string {
	if p == nil {
		return ""
	}
	var outcomes []string
	for k := range p.Outcomes {
		outcomes = append(outcomes, k)
	}
	sort.Strings(outcomes)
	var parts []string
	for _, k := range outcomes {
		parts = append(parts, fmt.Sprintf("%d %s", p.Outcomes[k], k))
	}
	s := fmt.Sprintf("%d attempts (%s); %d as expected", p.Attempts, strings.Join(parts, ", "), p.Held)
	if p.Omitted > 0 {
		s += fmt.Sprintf("; %d later attempts are not drawn", p.Omitted)
	}
	return s
}
