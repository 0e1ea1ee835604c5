package steps

import (
	"fmt"
	"strings"
)

// Grapher is implemented by steps that shape the scenario's topology; a
// step type that does not draw anything simply does not implement it.
type Grapher interface {
	Graph(g *Graph)
}

// Graph is a scenario's topology as its steps describe it: services, their
// sidecars and upstreams, and the intentions between them.
type Graph struct {
	services   map[string]*graphService
	order      []string
	intentions map[[2]string][]string // source, destination -> actions in order
	ixnOrder   [][2]string
}

type graphService struct {
	name, address string
	port          int
	hasSidecar    bool
	sidecarUp     bool
	upstreams     []graphUpstream
}

type graphUpstream struct {
	destination string
	bind        string
}

func NewGraph() *Graph {
	return &Graph{services: map[string]*graphService{}, intentions: map[[2]string][]string{}}
}

func (g *Graph) service(name string) *graphService {
	s, ok := g.services[name]
	if !ok {
		s = &graphService{name: name}
		g.services[name] = s
		g.order = append(g.order, name)
	}
	return s
}

func (g *Graph) intention(source, destination, what string) {
	key := [2]string{source, destination}
	if _, ok := g.intentions[key]; !ok {
		g.ixnOrder = append(g.ixnOrder, key)
	}
	g.intentions[key] = append(g.intentions[key], what)
}

func (r *register) Graph(g *Graph) {
	for _, def := range r.file.Services {
		s := g.service(def.Reg.Name)
		s.port, s.address = def.Reg.Port, def.Reg.Address
		if def.HasSidecar() {
			s.hasSidecar = true
			for _, u := range def.Upstreams() {
				s.upstreams = append(s.upstreams, graphUpstream{u.DestinationName, fmt.Sprintf("%s:%d", bindHost(u.LocalBindAddress), u.LocalBindPort)})
				g.service(u.DestinationName)
			}
		}
	}
}

func (s *sidecar) Graph(g *Graph)         { g.service(s.service).sidecarUp = true }
func (s *setIntention) Graph(g *Graph)    { g.intention(s.source, s.destination, string(s.action)) }
func (s *deleteIntention) Graph(g *Graph) { g.intention(s.source, s.destination, "deleted") }

func dotID(s string) string { return fmt.Sprintf("%q", s) }

// DOT renders the graph for Graphviz.
func (g *Graph) DOT(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotID(title))
	b.WriteString("  rankdir=LR;\n  fontname=\"Helvetica\"; node [fontname=\"Helvetica\", fontsize=11]; edge [fontname=\"Helvetica\", fontsize=10];\n")
	fmt.Fprintf(&b, "  label=%s; labelloc=t;\n", dotID(title))
	for _, name := range g.order {
		s := g.services[name]
		label := name
		if s.port != 0 {
			label = fmt.Sprintf("%s\n%s:%d", name, orLoopback(s.address), s.port)
		}
		fmt.Fprintf(&b, "  subgraph %s {\n    label=%s; style=rounded; color=gray60;\n", dotID("cluster_"+name), dotID(name))
		fmt.Fprintf(&b, "    %s [shape=box, style=filled, fillcolor=\"#e8f0fe\", label=%s];\n", dotID(name), dotID(label))
		if s.hasSidecar {
			style := "dashed"
			if s.sidecarUp {
				style = "filled"
			}
			fmt.Fprintf(&b, "    %s [shape=hexagon, style=%s, fillcolor=\"#fff4e5\", label=%s];\n", dotID(name+"-sidecar"), style, dotID("sidecar\n(mTLS)"))
			fmt.Fprintf(&b, "    %s -> %s [dir=none, style=dotted, label=%s];\n", dotID(name), dotID(name+"-sidecar"), dotID("loopback"))
		}
		b.WriteString("  }\n")
	}
	drawn := map[[2]string]bool{}
	for _, name := range g.order {
		s := g.services[name]
		for _, u := range s.upstreams {
			key := [2]string{name, u.destination}
			drawn[key] = true
			from, to := name+"-sidecar", u.destination
			if g.services[u.destination].hasSidecar {
				to = u.destination + "-sidecar"
			}
			fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotID(from), dotID(to),
				dotID(fmt.Sprintf("upstream %s\nlistens %s%s", u.destination, u.bind, g.intentionLabel(key))), g.intentionStyle(key))
		}
	}
	for _, key := range g.ixnOrder {
		if !drawn[key] {
			fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotID(key[0]), dotID(key[1]), dotID("intention"+g.intentionLabel(key)), g.intentionStyle(key))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (g *Graph) intentionLabel(key [2]string) string {
	actions := g.intentions[key]
	if len(actions) == 0 {
		return "\nintention: default (allow on a dev agent)"
	}
	return "\nintention: " + strings.Join(actions, " → ")
}

// The edge is drawn as the intention ends up: allow solid green, deny
// dashed red, none (or deleted) solid gray.
func (g *Graph) intentionStyle(key [2]string) string {
	actions := g.intentions[key]
	last := ""
	if len(actions) > 0 {
		last = actions[len(actions)-1]
	}
	switch last {
	case "allow":
		return ", color=\"#1e8e3e\", penwidth=2"
	case "deny":
		return ", color=\"#d93025\", style=dashed, penwidth=2"
	}
	return ", color=gray40"
}

func orLoopback(addr string) string {
	if addr == "" {
		return "127.0.0.1"
	}
	return addr
}
