package htmlreport

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Geometry of drawGraph, in SVG user units.
const (
	gChar     = 6.4 // the width of a character at gFont
	gFont     = 11.0
	gLine     = 13.0
	gPad      = 10.0
	gTitle    = 18.0
	gGap      = 12.0
	gColumn   = 150.0 // between columns, where edges and their labels go
	gEdgeFont = 9.0
)

type gBox struct{ x, y, w, h float64 }

func (b gBox) cx() float64 { return b.x + b.w/2 }
func (b gBox) cy() float64 { return b.y + b.h/2 }

// drawGraph lays a graph out without Graphviz, simply: the top-level
// clusters side by side, left to right, each one's nodes and clusters
// stacked inside it, the nodes in no cluster in a last column; edges as
// curves between them, labelled with their first line and the decision
// of an intention (the whole label is the edge's title).
func drawGraph(g *dotGraph) string {
	l := &gLayout{g: g, boxes: map[*dotNode]gBox{}, clusters: map[*dotCluster]gBox{}}
	title := strings.Split(g.attrs["label"], "\n")
	top := gPad + float64(len(title))*gLine + gPad
	x, height := gPad, top
	var loose []*dotNode
	for _, it := range flatten(g.root) {
		switch it := it.(type) {
		case *dotNode:
			loose = append(loose, it)
		case *dotCluster:
			w, h := l.cluster(it, x, top)
			x += w + gColumn
			height = math.Max(height, top+h)
		}
	}
	if len(loose) > 0 {
		y, w := top, 0.0
		for _, n := range loose {
			nw, nh := measure(n)
			l.boxes[n] = gBox{x, y, nw, nh}
			y += nh + gGap
			w = math.Max(w, nw)
		}
		x += w + gColumn
		height = math.Max(height, y)
	}
	width := math.Max(x-gColumn+gPad, 200)
	height += gPad

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="topology drawn" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="topology">`, width, height, width, height)
	for i, line := range title {
		fmt.Fprintf(&b, `<text class="g-title" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, width/2, gPad+float64(i+1)*gLine-2, esc(line))
	}
	for _, c := range l.clusterOrder {
		bx := l.clusters[c]
		fmt.Fprintf(&b, `<g class="g-cluster"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="6"%s/>`, bx.x, bx.y, bx.w, bx.h, strokeAttrs(c.attrs, "#999999"))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text></g>`, bx.cx(), bx.y+14, esc(c.attrs["label"]))
	}
	for _, e := range g.edges {
		l.edge(&b, e)
	}
	for _, n := range g.order {
		bx, ok := l.boxes[n]
		if !ok {
			continue
		}
		node(&b, n, bx)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

type gLayout struct {
	g            *dotGraph
	boxes        map[*dotNode]gBox
	clusters     map[*dotCluster]gBox
	clusterOrder []*dotCluster
}

// flatten lists c's items, with those of subgraphs that are not drawn as
// boxes in their place.
func flatten(c *dotCluster) []any {
	var out []any
	for _, it := range c.items {
		if sub, ok := it.(*dotCluster); ok && !sub.isCluter {
			out = append(out, flatten(sub)...)
			continue
		}
		out = append(out, it)
	}
	return out
}

// cluster lays c out with its top left corner at x, y.
func (l *gLayout) cluster(c *dotCluster, x, y float64) (w, h float64) {
	l.clusterOrder = append(l.clusterOrder, c)
	cy := y + gTitle + gPad/2
	w = float64(len([]rune(c.attrs["label"])))*gChar + 2*gPad
	for _, it := range flatten(c) {
		switch it := it.(type) {
		case *dotNode:
			nw, nh := measure(it)
			l.boxes[it] = gBox{x + gPad, cy, nw, nh}
			cy += nh + gGap
			w = math.Max(w, nw+2*gPad)
		case *dotCluster:
			sw, sh := l.cluster(it, x+gPad, cy)
			cy += sh + gGap
			w = math.Max(w, sw+2*gPad)
		}
	}
	h = cy - y - gGap + gPad
	if h < gTitle+gPad {
		h = gTitle + gPad
	}
	// Centre the nodes in a cluster wider than they are.
	for _, it := range flatten(c) {
		if n, ok := it.(*dotNode); ok {
			bx := l.boxes[n]
			bx.x = x + (w-bx.w)/2
			l.boxes[n] = bx
		}
	}
	l.clusters[c] = gBox{x, y, w, h}
	return w, h
}

func labelOf(n *dotNode) []string {
	label, ok := n.attrs["label"]
	if !ok {
		label = n.id
	}
	return strings.Split(label, "\n")
}

func measure(n *dotNode) (w, h float64) {
	lines := labelOf(n)
	longest := 0
	for _, l := range lines {
		longest = max(longest, len([]rune(l)))
	}
	w, h = float64(longest)*gChar+2*gPad, float64(len(lines))*gLine+gPad
	if n.attrs["shape"] == "hexagon" {
		w += 2 * gPad
	}
	return w, h
}

func node(b *strings.Builder, n *dotNode, bx gBox) {
	a := n.attrs
	fill := "none"
	if strings.Contains(a["style"], "filled") {
		fill = colour(a["fillcolor"], "#eeeeee")
	}
	dash := ""
	if strings.Contains(a["style"], "dashed") {
		dash = ` stroke-dasharray="5 3"`
	}
	fmt.Fprintf(b, `<g class="g-node"><title>%s</title>`, esc(n.id))
	switch a["shape"] {
	case "plaintext", "plain", "none":
	case "hexagon":
		d := gPad
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="#333333"%s/>`,
			bx.x, bx.cy(), bx.x+d, bx.y, bx.x+bx.w-d, bx.y, bx.x+bx.w, bx.cy(), bx.x+bx.w-d, bx.y+bx.h, bx.x+d, bx.y+bx.h, esc(fill), dash)
	case "cylinder":
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="10" fill="%s" stroke="#333333"%s/>`, bx.x, bx.y, bx.w, bx.h, esc(fill), dash)
	default:
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2" fill="%s" stroke="#333333"%s/>`, bx.x, bx.y, bx.w, bx.h, esc(fill), dash)
	}
	for i, line := range labelOf(n) {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, bx.cx(), bx.y+gPad/2+float64(i+1)*gLine-3, esc(line))
	}
	b.WriteString(`</g>`)
}

// edge draws e as a curve from one box's side to another's, with an arrow
// head unless dir=none.
func (l *gLayout) edge(b *strings.Builder, e *dotEdge) {
	from, ok1 := l.boxes[l.g.nodes[e.from]]
	to, ok2 := l.boxes[l.g.nodes[e.to]]
	if !ok1 || !ok2 {
		return
	}
	var x0, x3, c1, c2 float64
	y0, y3 := from.cy(), to.cy()
	switch {
	case to.x > from.x+from.w/2:
		x0, x3 = from.x+from.w, to.x
		d := math.Max(40, (x3-x0)/2)
		c1, c2 = x0+d, x3-d
	case to.x+to.w < from.x+from.w/2:
		x0, x3 = from.x, to.x+to.w
		d := math.Max(40, (x0-x3)/2)
		c1, c2 = x0-d, x3+d
	default: // one above the other: out of one's right side, into the other's
		x0, x3 = from.x+from.w, to.x+to.w
		c1, c2 = x0+60, x3+60
	}
	stroke := strokeAttrs(e.attrs, "#333333")
	lines := strings.Split(e.attrs["label"], "\n")
	fmt.Fprintf(b, `<g class="g-edge"><title>%s</title><path d="M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f" fill="none"%s/>`,
		esc(strings.Join(lines, " · ")), x0, y0, c1, y0, c2, y3, x3, y3, stroke)
	if e.attrs["dir"] != "none" {
		// The head points along the curve's last tangent.
		ang := math.Atan2(0, x3-c2)
		if x3 == c2 {
			ang = 0
		}
		const size = 7.0
		lx, ly := x3-size*math.Cos(ang-0.4), y3-size*math.Sin(ang-0.4)
		rx, ry := x3-size*math.Cos(ang+0.4), y3-size*math.Sin(ang+0.4)
		fmt.Fprintf(b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>`, x3, y3, lx, ly, rx, ry, esc(colour(e.attrs["color"], "#333333")))
	}
	// The label: its first line, and what decides an intention.
	shown := []string{lines[0]}
	for _, line := range lines[1:] {
		if strings.HasPrefix(line, "intention") {
			shown = append(shown, line)
		}
	}
	mx, my := (x0+3*c1+3*c2+x3)/8, (y0+3*y0+3*y3+y3)/8
	for i, line := range shown {
		if line == "" {
			continue
		}
		fmt.Fprintf(b, `<text class="g-edge-label" x="%.1f" y="%.1f" text-anchor="middle" font-size="%.0f">%s</text>`,
			mx, my-4+float64(i)*(gEdgeFont+2)-float64(len(shown)-1)*(gEdgeFont+2)/2, gEdgeFont, esc(line))
	}
	b.WriteString(`</g>`)
}

// strokeAttrs draws a line as Graphviz's color, style and penwidth say.
func strokeAttrs(a map[string]string, def string) string {
	s := fmt.Sprintf(` stroke="%s"`, esc(colour(a["color"], def)))
	switch {
	case strings.Contains(a["style"], "dashed"):
		s += ` stroke-dasharray="6 4"`
	case strings.Contains(a["style"], "dotted"):
		s += ` stroke-dasharray="2 3"`
	}
	if w, err := strconv.ParseFloat(a["penwidth"], 64); err == nil && w > 0 && w < 10 {
		s += fmt.Sprintf(` stroke-width="%.1f"`, w)
	}
	return s
}

// colour turns a Graphviz colour into an SVG one: #rrggbb as it is,
// grayNN as the grey it names, a plain name as CSS knows it.
func colour(c, def string) string {
	switch {
	case c == "":
		return def
	case strings.HasPrefix(c, "#"):
		if _, err := strconv.ParseUint(c[1:], 16, 32); err == nil && (len(c) == 7 || len(c) == 4) {
			return c
		}
		return def
	}
	for _, p := range []string{"gray", "grey"} {
		if n, err := strconv.Atoi(strings.TrimPrefix(c, p)); err == nil && strings.HasPrefix(c, p) && n >= 0 && n <= 100 {
			v := n * 255 / 100
			return fmt.Sprintf("#%02x%02x%02x", v, v, v)
		}
	}
	for _, r := range c {
		if r < 'a' || r > 'z' {
			return def
		}
	}
	return c
}
