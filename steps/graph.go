package steps

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/consuldef"
	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// Grapher is implemented by steps that shape the scenario's topology; a
// step type that does not draw anything simply does not implement it.
type Grapher interface {
	Graph(g *Graph)
}

// Graph is a scenario's topology as its steps declare it: service
// instances (by node and ID, grouped by service name: one service ID may
// run on several nodes), their sidecars with the
// upstream listeners they open, prepared-query upstreams, and the
// intentions between services, wildcards included, over the agent's
// default (allow on a dev agent, deny under an ACL default_policy deny).
type Graph struct {
	instances   map[instanceKey]*graphInstance
	byName      map[string][]instanceKey // service name -> instances, in order
	names       []string                 // service names, in order
	wanted      map[string]bool          // upstream destinations, registered or not
	wantedList  []string
	queries     []string               // prepared queries used as upstreams
	queryOf     map[string]graphQuery  // prepared query -> what it returns
	proxies     []graphProxy           // proxies registered as services of their own
	intentions  map[[2]string][]string // source, destination -> actions in order
	ixnOrder    [][2]string
	defaultDeny bool
	// On a topology: the nodes and their agents, and the node of the
	// step being drawn.
	cluster spec.Cluster
	node    string
}

// SetCluster draws the scenario's nodes, grouped by datacenter.
func (g *Graph) SetCluster(c spec.Cluster) { g.cluster = c }

// OnNode says which node the next step acts on.
func (g *Graph) OnNode(node string) { g.node = node }

// graphProxy is a proxy registered as a service of its own, on its node.
type graphProxy struct {
	node string
	def  consuldef.ServiceDef
}

// instanceKey names a service instance in the picture: its node ("" on
// the host) and its service ID, which is unique per agent only.
type instanceKey struct{ node, id string }

// dot is the instance's DOT node ID: its service ID on the host, NODE/ID
// on a topology.
func (k instanceKey) dot() string {
	if k.node == "" {
		return k.id
	}
	return k.node + "/" + k.id
}

// graphQuery is a prepared query as created: the service it returns, the
// datacenter it lives in (a query is not replicated) and its failover.
type graphQuery struct {
	service, datacenter string
	failover            []string
}

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
	return &Graph{queryOf: map[string]graphQuery{}, instances: map[instanceKey]*graphInstance{}, byName: map[string][]instanceKey{}, wanted: map[string]bool{}, intentions: map[[2]string][]string{}}
}

func (g *Graph) addInstance(def consuldef.ServiceDef) {
	if p := def.Reg.Proxy; def.Reg.Kind == "connect-proxy" && p != nil && (p.DestinationServiceID != "" || p.DestinationServiceName != "") {
		// A proxy registered as its own service is drawn as the sidecar of
		// its destination, which it is.
		g.proxies = append(g.proxies, graphProxy{g.node, def})
		return
	}
	id, name := def.ID(), def.Reg.Name
	key := instanceKey{g.node, id}
	in, ok := g.instances[key]
	if !ok {
		in = &graphInstance{id: id}
		g.instances[key] = in
		if len(g.byName[name]) == 0 {
			g.names = append(g.names, name)
		}
		g.byName[name] = append(g.byName[name], key)
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
// of its destination instance on its node (by ID, else the name's only
// instance there).
func (g *Graph) attachProxies() {
	for _, gp := range g.proxies {
		def, p := gp.def, gp.def.Reg.Proxy
		in := g.instances[instanceKey{gp.node, p.DestinationServiceID}]
		if keys := g.onNode(g.byName[p.DestinationServiceName], gp.node); in == nil && len(keys) == 1 {
			in = g.instances[keys[0]]
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
		for _, key := range group.keys {
			in, id := g.instances[key], key.dot()
			label := key.id
			if in.port != 0 {
				label = fmt.Sprintf("%s\n%s:%d", key.id, orLoopback(in.address), in.port)
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
			gq, ok := g.queryOf[q]
			if !ok || gq.service == "" {
				continue
			}
			svc := gq.service
			if len(g.byName[svc]) == 0 {
				fmt.Fprintf(&b, "  %s -> %s [style=dashed, label=%s];\n", dotID("query:"+q), dotID(svc), dotID("returns "+svc))
			}
			// A query answers from its own datacenter's passing instances,
			// then from each failover datacenter's in turn.
			dcs := []string{gq.datacenter}
			if len(g.cluster.Nodes) > 0 {
				dcs = append(dcs, gq.failover...) // the host has one datacenter
			}
			for i, dc := range dcs {
				label := "returns " + svc + " (passing)"
				if i > 0 {
					label = fmt.Sprintf("failover to %s\n(when no %s in %s passes)", dc, svc, strings.Join(dcs[:i], ", "))
				}
				for _, tkey := range g.inDatacenter(g.byName[svc], dc) {
					to := tkey.dot()
					if g.instances[tkey].hasSidecar {
						to += "-sidecar"
					}
					fmt.Fprintf(&b, "  %s -> %s [style=dashed, label=%s];\n", dotID("query:"+q), dotID(to), dotID(label))
				}
			}
		}
	}
	drawn := map[[2]string]bool{}
	missing := map[string]bool{} // "SERVICE in DC" boxes drawn
	for _, name := range g.names {
		for _, key := range g.byName[name] {
			in := g.instances[key]
			for _, u := range in.upstreams {
				from := key.dot() + "-sidecar"
				if u.query {
					fmt.Fprintf(&b, "  %s -> %s [label=%s, style=dashed];\n", dotID(from), dotID("query:"+u.destination), dotID("upstream query "+u.destination))
					continue
				}
				ixn := [2]string{name, u.destination}
				drawn[ixn] = true
				label, style := g.decision(ixn)
				// An upstream reaches its destination's instances in its
				// datacenter: the one it names, else its own agent's.
				dc := u.datacenter
				if dc == "" {
					dc = g.datacenterOf(key.node)
				}
				targets := g.inDatacenter(g.byName[u.destination], dc)
				if len(targets) == 0 {
					to := u.destination
					if len(g.byName[u.destination]) > 0 {
						// Registered, but elsewhere: none where it looks.
						to = u.destination + " in " + dc
						if !missing[to] {
							missing[to] = true
							fmt.Fprintf(&b, "  %s [shape=box, style=dashed, label=%s];\n", dotID(to), dotID(u.destination+"\n(not registered in "+dc+")"))
						}
					}
					fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotID(from), dotID(to), dotID("upstream "+u.destination+label), style)
					continue
				}
				for _, tkey := range targets {
					t := g.instances[tkey]
					to, port := tkey.dot(), "no sidecar"
					if t.hasSidecar {
						to, port = tkey.dot()+"-sidecar", "mTLS "+t.publicAddr()
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
	keys        []instanceKey
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
				close: "  }\n", keys: g.byName[name]})
		}
		return out
	}
	roles := map[string]spec.AgentPlan{}
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
				group.keys = append(group.keys, g.onNode(g.byName[name], n)...)
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
	if keys := g.byName[name]; len(keys) == 1 {
		return keys[0].dot()
	}
	return name
}

// onNode keeps the instances of keys that run on node.
func (g *Graph) onNode(keys []instanceKey, node string) []instanceKey {
	var out []instanceKey
	for _, k := range keys {
		if k.node == node {
			out = append(out, k)
		}
	}
	return out
}

// datacenterOf is the datacenter of node's agent ("" on the host, or for
// a node without an agent).
func (g *Graph) datacenterOf(node string) string {
	for _, a := range g.cluster.Agents {
		if a.Node == node {
			return a.Datacenter
		}
	}
	return ""
}

// inDatacenter keeps the instances of keys whose node's agent is in
// datacenter dc. On the host there is one agent, and every instance is
// its.
func (g *Graph) inDatacenter(keys []instanceKey, dc string) []instanceKey {
	if len(g.cluster.Nodes) == 0 {
		return keys
	}
	var out []instanceKey
	for _, k := range keys {
		if g.datacenterOf(k.node) == dc {
			out = append(out, k)
		}
	}
	return out
}

// markSidecarUp records that the sidecar of ref (an instance's ID, or a
// service's name) runs on the current node.
func (g *Graph) markSidecarUp(ref string) {
	if in, ok := g.instances[instanceKey{g.node, ref}]; ok {
		in.sidecarUp = true
		return
	}
	if keys := g.onNode(g.byName[ref], g.node); len(keys) == 1 {
		g.instances[keys[0]].sidecarUp = true
	}
}

// addQuery records a prepared query created from the current node: it
// lives in that node's datacenter.
func (g *Graph) addQuery(def api.PreparedQueryDefinition) {
	dc := g.datacenterOf(g.node)
	if dc == "" && g.node == "" && len(g.cluster.Agents) > 0 {
		dc = g.cluster.Agents[0].Datacenter // an API step uses the first agent up
	}
	g.queryOf[def.Name] = graphQuery{service: def.Service.Service, datacenter: dc, failover: def.Service.Failover.Datacenters}
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
		bind: fmt.Sprintf("%s:%d", spec.BindHost(u.LocalBindAddress), u.LocalBindPort)}
	if u.DestinationType == api.UpstreamDestTypePreparedQuery {
		up.query = true
		g.queries = append(g.queries, u.DestinationName)
	} else if !g.wanted[u.DestinationName] {
		g.wanted[u.DestinationName] = true
		g.wantedList = append(g.wantedList, u.DestinationName)
	}
	in.upstreams = append(in.upstreams, up)
}
