package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// ExpectReachabilitySpec is expect's reachability form: the mesh's truth
// table (see reachability.go).
type ExpectReachabilitySpec struct {
	Reachability ReachabilityTable            `key:"reachability,required" doc:"the table: SOURCE: {DESTINATION: allow|deny, ...} per row (declared), or {from: [SOURCE, ...], to: [DESTINATION, ...]} (Consul's prediction against the data plane only); a source may be any identity, registered or not"`
	Send         *string                      `key:"send" doc:"the bytes each probe writes for its round trip (default: \"scenario reachability probe\\n\"); an allow needs bytes back"`
	Within       spec.Optional[spec.Duration] `key:"within" default:"5s" doc:"how long the whole table may take to hold, probed afresh each time"`
	Token        string                       `key:"token" shape:"TOKEN-NAME" doc:"ask for the sources' leaf certificates with this acl-token's secret (default: the scenario's token); a source it gets none for is not probed, which fails the step"`
}

// ReachabilityTable is the value of reachability: (and of `scenario audit
// --expect FILE`): a declared table or a list of sources and
// destinations. The positions of the names are kept for messages.
type ReachabilityTable struct {
	Table
	at    map[string]*yaml.Node // a source's or destination's first mention
	where *yaml.Node
}

// Node is where a name (a source or destination) is first written.
func (r *ReachabilityTable) Node(name string) *yaml.Node {
	if n := r.at[name]; n != nil {
		return n
	}
	return r.where
}

func (*ReachabilityTable) Shape() string {
	return "{SOURCE: {DESTINATION: allow|deny, ...}, ...} | {from: [SOURCE, ...], to: [DESTINATION, ...]}"
}

func (*ReachabilityTable) SchemaJSON() map[string]any {
	names := map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"type": "string"}}
	return map[string]any{"oneOf": []map[string]any{
		{
			"type": "object", "required": []string{"from", "to"}, "additionalProperties": false,
			"properties": map[string]any{"from": names, "to": names},
		},
		{
			"type": "object", "minProperties": 1,
			"additionalProperties": map[string]any{
				"type": "object", "minProperties": 1,
				"additionalProperties": map[string]any{"enum": []string{"allow", "deny"}},
			},
		},
	}}
}

// DecodeYAML reads either form. The undeclared form is a mapping of
// exactly from and to, both lists; anything else is a declared table,
// whose rows are sources (a service named from is a row like any other
// when its value is a mapping).
func (r *ReachabilityTable) DecodeYAML(d *spec.Decoder, n *yaml.Node, what string) {
	n = spec.Resolve(n)
	r.where, r.at = n, map[string]*yaml.Node{}
	r.Declared = nil
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s must be a mapping: SOURCE: {DESTINATION: allow|deny} per row, or {from: [...], to: [...]}; not %s", what, spec.Describe(n))
		return
	}
	pairs := spec.MappingPairs(n)
	if len(pairs) == 0 {
		d.Errorf(n, "%s is empty: name at least one source and one destination", what)
		return
	}
	undeclared := false
	for _, kv := range pairs {
		if (kv[0].Value == "from" || kv[0].Value == "to") && spec.Resolve(kv[1]).Kind == yaml.SequenceNode {
			undeclared = true
		}
	}
	if undeclared {
		r.decodeLists(d, pairs, n, what)
		return
	}
	r.Declared = map[Pair]Verdict{}
	for _, kv := range pairs {
		source, ok := r.name(d, kv[0], what, "source")
		row := spec.Resolve(kv[1])
		if !ok {
			continue
		}
		if row.Kind != yaml.MappingNode {
			d.Errorf(row, "%s.%s must be a mapping of destinations to allow or deny, like {socat: allow, db: deny}; not %s", what, source, spec.Describe(row))
			continue
		}
		if _, dup := r.at[source]; dup && contains(r.Sources, source) {
			d.Errorf(kv[0], "%s: the source %q has a row already (line %d)", what, source, r.at[source].Line)
			continue
		}
		if !contains(r.Sources, source) {
			r.Sources = append(r.Sources, source)
		}
		if _, seen := r.at[source]; !seen {
			r.at[source] = kv[0]
		}
		cells := spec.MappingPairs(row)
		if len(cells) == 0 {
			d.Errorf(row, "%s.%s has no destination", what, source)
		}
		for _, cell := range cells {
			dest, ok := r.name(d, cell[0], what+"."+source, "destination")
			if !ok {
				continue
			}
			pair := Pair{source, dest}
			if _, dup := r.Declared[pair]; dup {
				d.Errorf(cell[0], "%s.%s: the destination %q appears twice", what, source, dest)
				continue
			}
			v := d.OneOf(cell[1], what+"."+source+"."+dest, string(Allow), string(Deny))
			if v == "" {
				continue
			}
			r.Declared[pair] = Verdict(v)
			if !contains(r.Destinations, dest) {
				r.Destinations = append(r.Destinations, dest)
				if _, seen := r.at[dest]; !seen {
					r.at[dest] = cell[0]
				}
			}
		}
	}
}

func (r *ReachabilityTable) decodeLists(d *spec.Decoder, pairs [][2]*yaml.Node, n *yaml.Node, what string) {
	got := map[string]bool{}
	for _, kv := range pairs {
		key := kv[0].Value
		switch key {
		case "from", "to":
		default:
			d.Errorf(kv[0], "%s: %q beside from and to: the undeclared form takes only from: [SOURCE, ...] and to: [DESTINATION, ...]; a declared table has a mapping per source", what, key)
			continue
		}
		if got[key] {
			d.Errorf(kv[0], "%s: key %q appears twice", what, key)
			continue
		}
		got[key] = true
		list := spec.Resolve(kv[1])
		if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
			d.Errorf(list, "%s.%s must be a list of one or more service names, not %s", what, key, spec.Describe(list))
			continue
		}
		role := map[string]string{"from": "source", "to": "destination"}[key]
		for _, item := range list.Content {
			name, ok := r.name(d, item, what+"."+key, role)
			if !ok {
				continue
			}
			target := &r.Sources
			if key == "to" {
				target = &r.Destinations
			}
			if contains(*target, name) {
				d.Errorf(item, "%s.%s: %q appears twice", what, key, name)
				continue
			}
			*target = append(*target, name)
			if _, seen := r.at[name]; !seen {
				r.at[name] = item
			}
		}
	}
	for _, key := range []string{"from", "to"} {
		if !got[key] {
			d.Errorf(n, "%s needs %s: the undeclared form is {from: [SOURCE, ...], to: [DESTINATION, ...]}", what, key)
		}
	}
}

// name reads a source or destination: a service name, not a wildcard.
func (r *ReachabilityTable) name(d *spec.Decoder, n *yaml.Node, what, role string) (string, bool) {
	s, ok := d.String(n, what+" "+role)
	switch {
	case !ok:
		return "", false
	case strings.TrimSpace(s) == "":
		d.Errorf(n, "%s: a %s needs a name", what, role)
		return "", false
	case strings.Contains(s, "*"):
		d.Errorf(n, "%s: %q is a wildcard, not an identity: a table's %ss are services (a wildcard intention decides for each of them)", what, s, role)
		return "", false
	}
	return s, true
}

// expectReachability checks the table, afresh until it holds or within
// passes.
type expectReachability struct {
	table  Table
	send   []byte
	within time.Duration
	token  string          // an acl-token's name, or ""
	envoy  map[string]bool // the instance IDs whose sidecar the scenario started as Envoy
}

// DefaultReachabilitySend is what a table's probe writes when send is not
// given.
const DefaultReachabilitySend = "scenario reachability probe\n"

func buildReachability(d *spec.Decoder, val *ExpectReachabilitySpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "expect reachability")
	t := &val.Reachability
	e := &expectReachability{table: t.Table, within: time.Duration(val.Within.Value), token: val.Token, envoy: map[string]bool{}}
	e.send = []byte(DefaultReachabilitySend)
	if val.Send != nil {
		if *val.Send == "" {
			d.Errorf(f.NodeOf(&val.Send), "expect.send is empty: an allow needs a round trip, so a probe must write something")
		}
		e.send = []byte(*val.Send)
	}
	if e.token != "" {
		d.Use(spec.KindToken, e.token, f.NodeOf(&val.Token))
	}
	for _, s := range t.Sources {
		// A source is any identity: a registered service, or a stranger
		// with a valid leaf (intentions may then name it).
		d.Define(spec.KindIdentity, s, t.Node(s))
	}
	for _, dest := range t.Destinations {
		if !d.Use(spec.KindService, dest, t.Node(dest)) || d.External {
			continue
		}
		// A destination nothing fronts has no public listener to dial:
		// every cell of its column would be unknown.
		ins := d.Instances(dest)
		fronted := false
		for _, in := range ins {
			native := in.Reg.Connect != nil && in.Reg.Connect.Native
			fronted = fronted || in.HasSidecar() || native || d.HasProxyFor(in.ID(), in.Reg.Name)
		}
		if len(ins) > 0 && !fronted {
			d.Warnf(t.Node(dest), "expect.reachability: %s has no sidecar (no connect.sidecar_service, no connect-proxy for it) and is not Connect-native, so no instance of it can be dialled and its cells will be unknown", dest)
		}
	}
	for _, id := range d.EnvoySidecars() {
		e.envoy[id] = true
	}
	return e
}

func (e *expectReachability) String() string {
	n := len(e.table.Sources) * len(e.table.Destinations)
	what := "Consul's prediction"
	if e.table.Declared != nil {
		what = "the declared table and Consul's prediction"
	}
	return fmt.Sprintf("reachability of %s to %s (%s) matches %s at every instance",
		plural(len(e.table.Sources), "source"), plural(len(e.table.Destinations), "destination"), plural(n, "cell"), what)
}

// reachabilityProbeTimeout bounds one probe of one instance within the
// step: a listener that says nothing in that time is unknown.
const reachabilityProbeTimeout = 2 * time.Second

func (e *expectReachability) Run(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	prober := &Prober{Client: client, Dial: env.Dial, Send: e.send, Timeout: reachabilityProbeTimeout, Parallel: DefaultParallel,
		Envoy: func(en *api.ServiceEntry) bool {
			return en.Service.Proxy != nil && e.envoy[en.Service.Proxy.DestinationServiceID]
		},
	}
	if e.token != "" {
		secret, ok := env.Token(e.token)
		if !ok {
			return fmt.Errorf("expect reachability: the acl-token %q has no secret yet", e.token)
		}
		prober.LeafToken = secret
	}
	if !env.External() {
		prober.Local = func(en *api.ServiceEntry) LocalCheck { return localCheck(env, en) }
	}
	var last *Result
	rounds := 0
	// The cells that did not hold in some round: a table that holds at
	// last says which cells it waited for (or which flapped).
	var disagreed []string
	// A round runs to its end even when within passes during it: the last
	// whole round is the evidence.
	cond := wait.Func("the reachability table to hold", func(context.Context) error {
		res, err := prober.Check(ctx, e.table)
		if err != nil {
			return wait.Fatal(WithLogs(err, spec.AgentName))
		}
		last, rounds = res, rounds+1
		if failing := res.Failing(); len(failing) > 0 {
			for _, c := range failing {
				if !slices.Contains(disagreed, c.Pair.String()) {
					disagreed = append(disagreed, c.Pair.String())
				}
			}
			return fmt.Errorf("%d of %d cells do not hold", len(failing), len(res.Cells))
		}
		return nil
	})
	err = wait.For(ctx, cond, wait.Options{Timeout: e.within, MinInterval: 50 * time.Millisecond, MaxInterval: 500 * time.Millisecond})
	if last == nil {
		return err
	}
	env.Table(append([]string{Legend}, last.Render()...), tableCells(last))
	failing := last.Failing()
	if err == nil && len(failing) == 0 {
		env.Notef("%s hold at every passing instance (%s; %s); evidence: %s", plural(len(last.Cells), "cell"), last.Instances(), pluralRounds(rounds), last.Levels())
		env.Notef("decided by Consul: %s", last.DecidedBy())
		if len(disagreed) > 0 {
			env.Notef("before the round that held, %s did not: %s", plural(len(disagreed), "cell"), strings.Join(disagreed, ", "))
		}
		if env.External() {
			env.Notef("an existing cluster's: who holds its listeners and backends is not checked from here (they run on its machines)")
		}
		return nil
	}
	var lines []string
	for _, c := range failing {
		lines = append(lines, "  "+cellFailure(c))
	}
	// The sidecars of the failing destinations logged their side of it
	// (the built-in proxy logs each authorization it denies, and why).
	logs := []string{}
	for _, c := range failing {
		for _, o := range c.Observed {
			id, _, _ := strings.Cut(o.Instance, "@")
			for _, name := range []string{spec.SidecarProcess(c.Destination), spec.SidecarProcess(id)} {
				if !slices.Contains(logs, name) {
					logs = append(logs, name)
				}
			}
		}
	}
	if len(logs) == 0 {
		logs = append(logs, spec.AgentName)
	}
	return WithLogs(fmt.Errorf("the reachability table does not hold after %s (%s): %d of %d cells:\n%s",
		e.within, pluralRounds(rounds), len(failing), len(last.Cells), strings.Join(lines, "\n")), logs...)
}

func pluralRounds(n int) string { return plural(n, "round") + " of probes" }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// cellFailure names a cell that does not hold, why, and its evidence.
func cellFailure(c Cell) string {
	return fmt.Sprintf("%s: %s -- %s", c.Pair, strings.Join(c.Problems(), "; "), c.Evidence())
}

// tableCells are the result's cells as the report's test cases.
func tableCells(r *Result) []TableCell {
	out := make([]TableCell, 0, len(r.Cells))
	for _, c := range r.Cells {
		tc := TableCell{Name: c.Pair.String(), Passed: len(c.Problems()) == 0, Detail: c.Evidence()}
		if !tc.Passed {
			tc.Detail = strings.Join(c.Problems(), "; ") + " -- " + tc.Detail
		}
		out = append(out, tc)
	}
	return out
}

// localCheck says who listens behind an instance of a mesh the scenario
// started: on the instance's public listener, and on its backend (the
// sidecar's local service).
func localCheck(env Env, en *api.ServiceEntry) LocalCheck {
	node := ""
	if en.Node != nil {
		node = en.Node.Node
	}
	at := onCatalogNode(env, node)
	var lc LocalCheck
	lc.ListenerHolder, lc.ListenerForeign = listenerHolder(at, instanceAddr(en))
	if p := en.Service.Proxy; p != nil && p.LocalServicePort != 0 {
		b := backendOf(at, p)
		lc.BackendAddr, lc.BackendHolder, lc.BackendForeign = b.Addr, b.Holder, b.Foreign
	}
	return lc
}
