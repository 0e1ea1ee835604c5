package htmlreport

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os/exec"
	"strings"
	"time"
)

// dotTimeout bounds Graphviz on one graph.
const dotTimeout = 20 * time.Second

// topology draws a scenario's graph (DOT, as `scenario graph` prints it)
// as inline SVG: laid out by Graphviz's dot when dot is given, else by
// drawGraph here. What dot writes is kept only as far as it is drawing
// (see cleanSVG), so the report stays self-contained whatever the graph
// holds.
func topology(dot, dotBin string) (template.HTML, error) {
	if dotBin == "" {
		g, err := parseDOT(dot)
		if err != nil {
			return "", err
		}
		return template.HTML(drawGraph(g)), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dotTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dotBin, "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("dot: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	svg, err := cleanSVG(out.Bytes())
	if err != nil {
		return "", fmt.Errorf("reading dot's SVG: %w", err)
	}
	return template.HTML(svg), nil
}

// svgElements and svgAttributes are what cleanSVG keeps: shapes, text and
// their presentation. No link, image, script, style or foreign content.
var (
	svgElements = map[string]bool{
		"svg": true, "g": true, "title": true, "path": true, "polygon": true, "polyline": true, "ellipse": true,
		"circle": true, "rect": true, "line": true, "text": true, "tspan": true,
	}
	svgAttributes = map[string]bool{
		"class": true, "x": true, "y": true, "x1": true, "y1": true, "x2": true, "y2": true, "cx": true, "cy": true,
		"r": true, "rx": true, "ry": true, "width": true, "height": true, "viewBox": true, "points": true, "d": true,
		"fill": true, "fill-opacity": true, "stroke": true, "stroke-width": true, "stroke-dasharray": true,
		"stroke-opacity": true, "opacity": true, "transform": true, "font-family": true, "font-size": true,
		"font-weight": true, "font-style": true, "text-anchor": true, "preserveAspectRatio": true, "dx": true, "dy": true,
	}
)

// cleanSVG re-writes an SVG document keeping only svgElements (the
// children of a link or a group of another name are kept; what is inside
// anything else, such as a script, a style or foreign content, is not)
// and svgAttributes whose values refer to nothing (no url(...), no
// script).
func cleanSVG(doc []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var b strings.Builder
	var open []bool // per element: whether it was written
	skip := 0       // depth inside an element dropped with its content
	sawSVG := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if skip > 0 || (sawSVG && !svgElements[name] && name != "a") {
				skip++
				continue
			}
			keep := svgElements[name] && (sawSVG || name == "svg")
			open = append(open, keep)
			if !keep {
				continue
			}
			sawSVG = true
			b.WriteString("<" + name)
			if name == "svg" {
				b.WriteString(` class="topology"`)
			}
			for _, a := range t.Attr {
				if a.Name.Space != "" || !svgAttributes[a.Name.Local] || !safeValue(a.Value) || (name == "svg" && a.Name.Local == "class") {
					continue
				}
				fmt.Fprintf(&b, ` %s="%s"`, a.Name.Local, esc(a.Value))
			}
			b.WriteString(">")
		case xml.EndElement:
			if skip > 0 {
				skip--
				continue
			}
			if len(open) == 0 {
				continue
			}
			keep := open[len(open)-1]
			open = open[:len(open)-1]
			if keep {
				b.WriteString("</" + t.Name.Local + ">")
			}
		case xml.CharData:
			if skip == 0 && sawSVG && len(open) > 0 {
				b.WriteString(esc(string(t)))
			}
		}
	}
	if !sawSVG {
		return "", errors.New("no <svg> element")
	}
	return b.String(), nil
}

func safeValue(v string) bool {
	l := strings.ToLower(v)
	return !strings.Contains(l, "url(") && !strings.Contains(l, "script") && !strings.Contains(l, "expression(")
}
