package htmlreport

import (
	"fmt"
	"strings"
	"unicode"
)

// dotGraph is a Graphviz graph as far as the report draws it without
// Graphviz: nodes, edges and nested clusters, with their attributes.
type dotGraph struct {
	attrs map[string]string
	root  *dotCluster
	nodes map[string]*dotNode
	order []*dotNode
	edges []*dotEdge
}

type dotCluster struct {
	id       string
	attrs    map[string]string
	items    []any // *dotNode or *dotCluster, in the order they came
	parent   *dotCluster
	isCluter bool // a "cluster_" subgraph, drawn as a box
}

type dotNode struct {
	id    string
	attrs map[string]string
}

type dotEdge struct {
	from, to string
	attrs    map[string]string
}

// parseDOT reads the DOT language (graph, subgraph, node, edge and
// attribute statements, edge chains), as `scenario graph` writes it and
// as Graphviz reads it; ports, HTML labels and undirected graphs are not
// needed here.
func parseDOT(src string) (*dotGraph, error) {
	toks, err := lexDOT(src)
	if err != nil {
		return nil, err
	}
	p := &dotParser{toks: toks}
	g := &dotGraph{attrs: map[string]string{}, nodes: map[string]*dotNode{}}
	g.root = &dotCluster{attrs: g.attrs}
	if p.peek() == "strict" {
		p.next()
	}
	if kw := p.next(); kw != "digraph" && kw != "graph" {
		return nil, fmt.Errorf("dot: expected digraph, got %q", kw)
	}
	if p.peek() != "{" {
		p.next() // the graph's name
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	if err := p.stmts(g, g.root); err != nil {
		return nil, err
	}
	return g, nil
}

type dotToken struct {
	text   string
	quoted bool
}

func lexDOT(src string) ([]dotToken, error) {
	var toks []dotToken
	r := []rune(src)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '/' && i+1 < len(r) && r[i+1] == '/', c == '#':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			end := strings.Index(string(r[i+2:]), "*/")
			if end < 0 {
				return nil, fmt.Errorf("dot: unterminated comment")
			}
			i += 2 + len([]rune(string(r[i+2:])[:end])) + 2
		case c == '-' && i+1 < len(r) && (r[i+1] == '>' || r[i+1] == '-'):
			toks = append(toks, dotToken{text: "->"})
			i += 2
		case strings.ContainsRune("{}[];,=:", c):
			toks = append(toks, dotToken{text: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(r) && r[i] != '"'; i++ {
				if r[i] == '\\' && i+1 < len(r) {
					i++
					switch r[i] {
					case 'n', 'l', 'r':
						b.WriteRune('\n')
					default:
						b.WriteRune(r[i])
					}
					continue
				}
				b.WriteRune(r[i])
			}
			if i >= len(r) {
				return nil, fmt.Errorf("dot: unterminated string")
			}
			i++
			toks = append(toks, dotToken{text: b.String(), quoted: true})
		default:
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_' || r[j] == '.' || r[j] == '-' && j == i) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("dot: unexpected %q", c)
			}
			toks = append(toks, dotToken{text: string(r[i:j])})
			i = j
		}
	}
	return toks, nil
}

type dotParser struct {
	toks []dotToken
	pos  int
}

func (p *dotParser) peek() string {
	if p.pos >= len(p.toks) {
		return ""
	}
	if t := p.toks[p.pos]; !t.quoted {
		return t.text
	}
	return "\x00quoted"
}

func (p *dotParser) next() string {
	if p.pos >= len(p.toks) {
		return ""
	}
	p.pos++
	return p.toks[p.pos-1].text
}

func (p *dotParser) expect(s string) error {
	if got := p.peek(); got != s {
		return fmt.Errorf("dot: expected %q, got %q", s, p.next())
	}
	p.next()
	return nil
}

// stmts reads statements up to the closing brace of c.
func (p *dotParser) stmts(g *dotGraph, c *dotCluster) error {
	for {
		switch p.peek() {
		case "":
			return fmt.Errorf("dot: missing }")
		case "}":
			p.next()
			return nil
		case ";", ",":
			p.next()
		case "subgraph", "{":
			if p.peek() == "subgraph" {
				p.next()
			}
			sub := &dotCluster{attrs: map[string]string{}, parent: c}
			if p.peek() != "{" {
				sub.id = p.next()
			}
			sub.isCluter = strings.HasPrefix(sub.id, "cluster")
			if err := p.expect("{"); err != nil {
				return err
			}
			c.items = append(c.items, sub)
			if err := p.stmts(g, sub); err != nil {
				return err
			}
		case "graph":
			p.next()
			if _, err := p.attrList(c.attrs); err != nil {
				return err
			}
		case "node", "edge":
			p.next()
			if _, err := p.attrList(map[string]string{}); err != nil { // defaults: fonts, not drawn
				return err
			}
		default:
			id := p.next()
			if p.peek() == "=" {
				p.next()
				c.attrs[id] = p.next()
				continue
			}
			chain := []string{id}
			for p.peek() == "->" {
				p.next()
				chain = append(chain, p.next())
			}
			attrs := map[string]string{}
			if _, err := p.attrList(attrs); err != nil {
				return err
			}
			if len(chain) == 1 {
				g.node(c, id, attrs)
				continue
			}
			for i := 0; i+1 < len(chain); i++ {
				g.node(c, chain[i], nil)
				g.node(c, chain[i+1], nil)
				g.edges = append(g.edges, &dotEdge{from: chain[i], to: chain[i+1], attrs: attrs})
			}
		}
	}
}

// attrList reads [k=v, ...] lists, if any, into into.
func (p *dotParser) attrList(into map[string]string) (bool, error) {
	found := false
	for p.peek() == "[" {
		found = true
		p.next()
		for p.peek() != "]" {
			if p.peek() == "" {
				return found, fmt.Errorf("dot: missing ]")
			}
			k := p.next()
			if p.peek() == "," || p.peek() == ";" {
				p.next()
				continue
			}
			if err := p.expect("="); err != nil {
				return found, err
			}
			into[k] = p.next()
			if p.peek() == "," || p.peek() == ";" {
				p.next()
			}
		}
		p.next()
	}
	return found, nil
}

// node declares or updates a node; a node belongs to the cluster where it
// is first named.
func (g *dotGraph) node(c *dotCluster, id string, attrs map[string]string) {
	n, ok := g.nodes[id]
	if !ok {
		n = &dotNode{id: id, attrs: map[string]string{}}
		g.nodes[id] = n
		g.order = append(g.order, n)
		c.items = append(c.items, n)
	}
	for k, v := range attrs {
		n.attrs[k] = v
	}
}
