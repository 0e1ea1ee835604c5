package steps

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/consuldef"
)

// Grapher is implemented by steps that shape the scenario's topology; a
// step type that does not draw anything simply does not implement it.
type Grapher interface {
	Graph(g *Graph)
}

// Graph is a scenario's topology as its steps declare it: service
// instances (by ID, grouped by service name), their sidecars with the
// upstream listeners they open, prepared-query upstreams, and the
// intentions between services, wildcards included, over the agent's
// default (allow on a dev agent, deny under an ACL default_policy deny).
type Graph struct {
	instances   map[string]*graphInstance // by service ID
	byName      map[string][]string       // service name -> IDs, in order
	names       []string                  // service names, in order
	wanted      map[string]bool           // upstream destinations, registered or not
	wantedList  []string
	queries     []string               // prepared queries used as upstreams
	queryOf     map[string]string      // prepared query -> the service it returns
	proxies     []consuldef.ServiceDef // proxies registered as services of their own
	intentions  map[[2]string][]string // source, destination -> actions in order
	ixnOrder    [][2]string
	defaultDeny bool
	// On a topology: the nodes and their agents, and the node of the
	// step being drawn.
	cluster Cluster
	node    string
}

// SetCluster draws the scenario's nodes, grouped by datacenter.
func (g *Graph) SetCluster(c Cluster) { g.cluster = c }

// OnNode says which node the next step acts on.
func (g *Graph) OnNode(node string) { g.node = node }

type graphInstance struct {
	node              string // on a topology
	id, name, address string
	port              int
	hasSidecar        bool
	sidecarUp         bool
	sidecarAddress    string
	sidecarPort       int
	upstreams         []graphUpstream
}

type graphUpstream struct {
	destination string
	query       bool // destination_type prepared_query
	datacenter  string
	bind        string
}

func NewGraph() *Graph {
	return &Graph{queryOf: map[string]string{}, instances: map[string]*graphInstance{}, byName: map[string][]string{}, wanted: map[string]bool{}, intentions: map[[2]string][]string{}}
}

func (g *Graph) addInstance(def consuldef.ServiceDef) {
	if p := def.Reg.Proxy; def.Reg.Kind == "connect-proxy" && p != nil && (p.DestinationServiceID != "" || p.DestinationServiceName != "") {
		// A proxy registered as its own service is drawn as the sidecar of
		// its destination, which it is.
		g.proxies = append(g.proxies, def)
		return
	}
	id, name := def.ID(), def.Reg.Name
	in, ok := g.instances[id]
	if !ok {
		in = &graphInstance{id: id}
		g.instances[id] = in
		if len(g.byName[name]) == 0 {
			g.names = append(g.names, name)
		}
		g.byName[name] = append(g.byName[name], id)
	}
	in.name, in.port, in.address, in.node = name, def.Reg.Port, def.Reg.Address, g.node
	in.upstreams = nil
	if sc := def.Sidecar(); sc != nil {
		in.hasSidecar = true
		in.sidecarAddress, in.sidecarPort = sc.Address, sc.Port
		if in.sidecarAddress == "" {
			in.sidecarAddress = def.Reg.Address // a sidecar inherits its parent's address
		}
		for _, u := range def.Upstreams() {
			g.addUpstream(in, u)
		}
	}
}

func (g *Graph) intention(source, destination, what string) {
	key := [2]string{source, destination}
	if _, ok := g.intentions[key]; !ok {
		g.ixnOrder = append(g.ixnOrder, key)
	}
	g.intentions[key] = append(g.intentions[key], what)
}

// l7Action stands for an intention with L7 permissions: the built-in
// proxy denies every connection it decides.
const l7Action = "L7 permissions (the built-in proxy denies)"

// replaceSources makes sources (source name -> action) the intentions to
// destination, as a service-intentions entry does: those it does not list
// are deleted.
func (g *Graph) replaceSources(destination string, sources map[string]string) {
	var gone []string
	for key, actions := range g.intentions {
		if _, kept := sources[key[0]]; key[1] == destination && !kept && actions[len(actions)-1] != "deleted" {
			gone = append(gone, key[0])
		}
	}
	slices.Sort(gone)
	for _, src := range gone {
		g.intention(src, destination, "deleted")
	}
	names := slices.Sorted(maps.Keys(sources))
	for _, src := range names {
		g.intention(src, destination, sources[src])
	}
}

func dotID(s string) string { return fmt.Sprintf("%q", s) }

// attachProxies makes each proxy registered as its own service the sidecar
// of its destination instance (by ID, else the name's only instance).
func (g *Graph) attachProxies() {
	for _, def := range g.proxies {
		p := def.Reg.Proxy
		in := g.instances[p.DestinationServiceID]
		if ids := g.byName[p.DestinationServiceName]; in == nil && len(ids) == 1 {
			in = g.instances[ids[0]]
		}
		if in == nil {
			continue
		}
		in.hasSidecar, in.sidecarAddress, in.sidecarPort, in.upstreams = true, def.Reg.Address, def.Reg.Port, nil
		if in.sidecarAddress == "" {
			in.sidecarAddress = in.address
		}
		for _, u := range p.Upstreams {
			g.addUpstream(in, u)
		}
	}
	g.proxies = nil
}

// DOT renders the graph for Graphviz.
func (g *Graph) DOT(title string) string {
	g.attachProxies()
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotID(title))
	b.WriteString("  rankdir=LR;\n  fontname=\"Helvetica\"; node [fontname=\"Helvetica\", fontsize=11]; edge [fontname=\"Helvetica\", fontsize=10];\n")
	fmt.Fprintf(&b, "  label=%s; labelloc=t;\n", dotID(title+"\n"+g.defaultText()))
	for _, group := range g.groups() {
		b.WriteString(group.open)
		for _, id := range group.ids {
			in := g.instances[id]
			label := id
			if in.port != 0 {
				label = fmt.Sprintf("%s\n%s:%d", id, orLoopback(in.address), in.port)
			}
			fmt.Fprintf(&b, "    %s [shape=box, style=filled, fillcolor=\"#e8f0fe\", label=%s];\n", dotID(id), dotID(label))
			if !in.hasSidecar {
				continue
			}
			style := "dashed"
			if in.sidecarUp {
				style = "filled"
			}
			sc := "sidecar\n(mTLS " + in.publicAddr() + ")"
			for _, u := range in.upstreams {
				what := u.destination
				if u.query {
					what = "query " + what
				}
				if u.datacenter != "" {
					what += " in " + u.datacenter
				}
				sc += fmt.Sprintf("\n%s → listens %s", what, u.bind)
			}
			fmt.Fprintf(&b, "    %s [shape=hexagon, style=%s, fillcolor=\"#fff4e5\", label=%s];\n", dotID(id+"-sidecar"), style, dotID(sc))
			fmt.Fprintf(&b, "    %s -> %s [dir=none, style=dotted, label=%s];\n", dotID(id), dotID(id+"-sidecar"), dotID("loopback"))
		}
		b.WriteString(group.close)
	}
	for _, name := range g.wantedList {
		if len(g.byName[name]) == 0 {
			fmt.Fprintf(&b, "  %s [shape=box, style=dashed, label=%s];\n", dotID(name), dotID(name+"\n(not registered)"))
		}
	}
	seenQuery := map[string]bool{}
	for _, q := range g.queries {
		if !seenQuery[q] {
			seenQuery[q] = true
			fmt.Fprintf(&b, "  %s [shape=note, label=%s];\n", dotID("query:"+q), dotID("prepared query "+q+"\n(resolved by Consul per connection)"))
			if svc := g.queryOf[q]; svc != "" {
				targets := g.byName[svc]
				if len(targets) == 0 {
					fmt.Fprintf(&b, "  %s -> %s [style=dashed, label=%s];\n", dotID("query:"+q), dotID(svc), dotID("returns "+svc))
				}
				for _, tid := range targets {
					to := tid
					if g.instances[tid].hasSidecar {
						to = tid + "-sidecar"
					}
					fmt.Fprintf(&b, "  %s -> %s [style=dashed, label=%s];\n", dotID("query:"+q), dotID(to), dotID("returns "+svc+" (passing)"))
				}
			}
		}
	}
	drawn := map[[2]string]bool{}
	for _, name := range g.names {
		for _, id := range g.byName[name] {
			in := g.instances[id]
			for _, u := range in.upstreams {
				from := id + "-sidecar"
				if u.query {
					fmt.Fprintf(&b, "  %s -> %s [label=%s, style=dashed];\n", dotID(from), dotID("query:"+u.destination), dotID("upstream query "+u.destination))
					continue
				}
				key := [2]string{name, u.destination}
				drawn[key] = true
				label, style := g.decision(key)
				targets := g.byName[u.destination]
				if len(targets) == 0 {
					fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotID(from), dotID(u.destination), dotID("upstream "+u.destination+label), style)
					continue
				}
				for _, tid := range targets {
					t := g.instances[tid]
					to, port := tid, "no sidecar"
					if t.hasSidecar {
						to, port = tid+"-sidecar", "mTLS "+t.publicAddr()
					}
					fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotID(from), dotID(to), dotID(fmt.Sprintf("upstream %s\n%s%s", u.destination, port, label)), style)
				}
			}
		}
	}
	wildcard := false
	for _, key := range g.ixnOrder {
		if drawn[key] {
			continue
		}
		if key[0] == "*" || key[1] == "*" {
			wildcard = true
		}
		label, style := g.decision(key)
		fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotID(g.nodeOf(key[0])), dotID(g.nodeOf(key[1])), dotID("intention only"+label), style)
	}
	if wildcard {
		fmt.Fprintf(&b, "  %s [shape=plaintext, label=%s];\n", dotID("*"), dotID("* (any service)"))
	}
	b.WriteString("}\n")
	return b.String()
}

// graphGroup is a cluster of instances in the picture, with the DOT that
// opens and closes it.
type graphGroup struct {
	open, close string
	ids         []string
}

// groups clusters the instances by service name on the host; on a
// topology by node, inside a cluster per datacenter, each node labelled
// with its agent's role.
func (g *Graph) groups() []graphGroup {
	var out []graphGroup
	if len(g.cluster.Nodes) == 0 {
		for _, name := range g.names {
			out = append(out, graphGroup{
				open:  fmt.Sprintf("  subgraph %s {\n    label=%s; style=rounded; color=gray60;\n", dotID("cluster_"+name), dotID(name)),
				close: "  }\n", ids: g.byName[name]})
		}
		return out
	}
	roles := map[string]AgentPlan{}
	var dcs []string
	for _, a := range g.cluster.Agents {
		roles[a.Node] = a
		if !slices.Contains(dcs, a.Datacenter) {
			dcs = append(dcs, a.Datacenter)
		}
	}
	dcOf := func(node string) string {
		if a, ok := roles[node]; ok {
			return a.Datacenter
		}
		return ""
	}
	if slices.Contains(g.cluster.Nodes, "") || len(dcs) == 0 {
		dcs = append(dcs, "")
	}
	for _, dc := range append(dcs, "") {
		var nodes []string
		for _, n := range g.cluster.Nodes {
			if dcOf(n) == dc {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			continue
		}
		for i, n := range nodes {
			a := roles[n]
			role := "no agent"
			switch {
			case a.Dev:
				role = "dev server"
			case a.Server:
				role = "server"
			case a.Node != "":
				role = "client"
			}
			group := graphGroup{close: "    }\n"}
			if i == 0 && dc != "" {
				group.open = fmt.Sprintf("  subgraph %s {\n    label=%s; style=dashed; color=gray40;\n", dotID("cluster_dc_"+dc), dotID("datacenter "+dc))
			} else if i == 0 {
				group.open = "  subgraph {\n"
			}
			group.open += fmt.Sprintf("    subgraph %s {\n    label=%s; style=rounded; color=gray60;\n", dotID("cluster_node_"+n), dotID("node "+n+" ("+role+")"))
			// Graphviz drops an empty cluster: a node with no service
			// still shows, as its agent.
			group.open += fmt.Sprintf("    %s [shape=cylinder, label=%s];\n", dotID("agent:"+n), dotID("consul "+role))
			if i == len(nodes)-1 {
				group.close += "  }\n"
			}
			for _, name := range g.names {
				for _, id := range g.byName[name] {
					if g.instances[id].node == n {
						group.ids = append(group.ids, id)
					}
				}
			}
			out = append(out, group)
		}
	}
	return out
}

// publicAddr is where the sidecar accepts mTLS: its declared port, or one
// Consul assigns from 21000-21255 when the definition sets none.
func (in *graphInstance) publicAddr() string {
	host := orLoopback(in.sidecarAddress)
	if in.node != "" && isLoopback(host) {
		host = in.node // the runner advertises it at the node's address
	}
	if in.sidecarPort == 0 {
		return host + ", port assigned by Consul"
	}
	return fmt.Sprintf("%s:%d", host, in.sidecarPort)
}

// nodeOf is the node that stands for a service in an intention: its only
// instance, the wildcard, or the name itself.
func (g *Graph) nodeOf(name string) string {
	if ids := g.byName[name]; len(ids) == 1 {
		return ids[0]
	}
	return name
}

func (g *Graph) defaultText() string {
	if g.defaultDeny {
		return "default: deny (ACL default_policy)"
	}
	return "default: allow (a dev agent without ACLs)"
}

// decision says which intention decides connections from source to
// destination, as Consul picks it (an exact name beats a wildcard, a
// wildcard destination loses to an exact one), and how to draw it:
// allow solid green, deny dashed red, the default gray (dashed red when
// it denies).
func (g *Graph) decision(key [2]string) (label, style string) {
	candidates := [][2]string{key, {"*", key[1]}, {key[0], "*"}, {"*", "*"}}
	for _, c := range candidates {
		actions := g.intentions[c]
		if len(actions) == 0 || actions[len(actions)-1] == "deleted" {
			if c == key && len(actions) > 0 {
				label = "\nintention: " + strings.Join(actions, " → ")
			}
			continue
		}
		last := actions[len(actions)-1]
		if c == key {
			label = "\nintention: " + strings.Join(actions, " → ")
		} else {
			label += fmt.Sprintf("\nintention %s → %s: %s", c[0], c[1], strings.Join(actions, " → "))
		}
		return label, actionStyle(last)
	}
	if g.defaultDeny {
		return label + "\nintention: default (deny: ACL default_policy)", actionStyle("deny")
	}
	return label + "\nintention: default (allow on a dev agent)", ", color=gray40"
}

func actionStyle(action string) string {
	switch action {
	case "allow":
		return ", color=\"#1e8e3e\", penwidth=2"
	case "deny", l7Action:
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

// addUpstream records one of in's upstreams, and what it wants: a service,
// or a prepared query.
func (g *Graph) addUpstream(in *graphInstance, u api.Upstream) {
	up := graphUpstream{destination: u.DestinationName, datacenter: u.Datacenter,
		bind: fmt.Sprintf("%s:%d", bindHost(u.LocalBindAddress), u.LocalBindPort)}
	if u.DestinationType == api.UpstreamDestTypePreparedQuery {
		up.query = true
		g.queries = append(g.queries, u.DestinationName)
	} else if !g.wanted[u.DestinationName] {
		g.wanted[u.DestinationName] = true
		g.wantedList = append(g.wantedList, u.DestinationName)
	}
	in.upstreams = append(in.upstreams, up)
}
