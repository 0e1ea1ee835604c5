package steps

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// The mesh's truth table: for each source identity and destination
// service, what Consul predicts (the agent's /v1/agent/connect/authorize,
// which is what the built-in proxy asks), what each passing instance of
// the destination does when the runner, holding the source's leaf
// certificate, dials its public listener, and, when given, what the user
// declared. Shared by expect: {reachability: ...} and `scenario audit`.
//
// An observation is a verdict only with evidence from the destination's
// own listener: deny when it refused the source's certificate, allow when
// it accepted it (in the handshake, or with bytes back from a round trip).
// Anything else (no answer, another identity presented, a close) is
// unknown, which never agrees with anything.

// Verdict is a cell's allow or deny, or unknown when the data plane showed
// neither.
type Verdict string

const (
	Allow   Verdict = "allow"
	Deny    Verdict = "deny"
	Unknown Verdict = "unknown"
)

// Levels of evidence an observation has.
const (
	// LevelRoundTrip: the instance accepted the certificate and bytes came
	// back through it.
	LevelRoundTrip = "round trip"
	// LevelHandshake: the instance accepted the certificate in the TLS
	// handshake (TLS 1.3: it sent a session ticket, which a Go server
	// sends only once it has verified the client's certificate; TLS 1.2:
	// it finished the handshake); no application bytes were sent. The
	// built-in proxy authorizes in the handshake, so for it this is the
	// authorization; Envoy authorizes after it.
	LevelHandshake = "handshake"
	// LevelRefused: the instance refused the certificate with the TLS alert
	// "bad certificate", which the built-in proxy (and a Connect-native
	// Go service) sends when its authorization fails.
	LevelRefused = "refused in the handshake"
	// LevelEnvoyL4: an Envoy sidecar accepted the certificate and closed
	// the connection with no reply on the first bytes, as its L4 RBAC
	// filter does. Not tested here: there is no Envoy on this machine.
	LevelEnvoyL4 = "closed after the handshake (Envoy L4 RBAC)"
	// LevelEnvoyL7: an Envoy sidecar answered HTTP 403 "RBAC: access
	// denied", as its L7 RBAC filter does. Not tested here.
	LevelEnvoyL7 = "HTTP 403 (Envoy L7 RBAC)"
)

// Pair is one cell's source and destination.
type Pair struct{ Source, Destination string }

func (p Pair) String() string { return p.Source + " -> " + p.Destination }

// Table is what to check: every source against every destination, and
// the declared verdicts (none for the undeclared form).
type Table struct {
	Sources, Destinations []string
	Declared              map[Pair]Verdict
}

// Pairs lists the cells, row by row.
func (t Table) Pairs() []Pair {
	var out []Pair
	for _, s := range t.Sources {
		for _, d := range t.Destinations {
			out = append(out, Pair{s, d})
		}
	}
	return out
}

// Prediction is the agent's authorization of a cell.
type Prediction struct {
	Authorized bool
	Reason     string // Consul's own words
	Err        error  // the agent could not be asked
}

// Verdict is the prediction as a verdict.
func (p Prediction) Verdict() Verdict {
	switch {
	case p.Err != nil:
		return Unknown
	case p.Authorized:
		return Allow
	}
	return Deny
}

var intentionReason = regexp.MustCompile(`^Matched (L4|L7) intention: (?:\S+/)?(\S+) => (?:\S+/)?(\S+) \((?:ID: \S+, )?Precedence: (\d+), (?:Action: (\w+)|Permissions: (\d+))\)$`)

// Explain says what decided the prediction: the intention and its
// precedence, or Consul's default and why it is what it is.
func (p Prediction) Explain() string {
	if p.Err != nil {
		return "the agent's authorization could not be read: " + p.Err.Error()
	}
	if m := intentionReason.FindStringSubmatch(p.Reason); m != nil {
		if m[1] == "L7" {
			return fmt.Sprintf("L7 intention %s => %s (precedence %s, %s permissions), which Consul's authorize counts as deny; Envoy decides per request", m[2], m[3], m[4], m[6])
		}
		return fmt.Sprintf("intention %s => %s %s (precedence %s)", m[2], m[3], strings.ToLower(m[5]), m[4])
	}
	if p.Reason == "Default behavior configured by ACLs" {
		if p.Authorized {
			return "no intention matches: Consul's default, allow (ACLs are off, or acl default_policy is allow)"
		}
		return "no intention matches: Consul's default, deny (acl default_policy is deny)"
	}
	return p.Reason
}

// Observation is what one instance of the destination did with the
// source's certificate.
type Observation struct {
	Instance string  `json:"instance"` // the instance's service ID and node
	Addr     string  `json:"addr"`     // its public listener
	Verdict  Verdict `json:"verdict"`
	Level    string  `json:"level,omitempty"` // how much evidence: one of the Level constants ("" for unknown)
	Detail   string  `json:"detail"`
}

func (o Observation) String() string {
	s := fmt.Sprintf("%s on %s %s", o.Instance, o.Addr, o.Detail)
	if o.Level != "" {
		s += " [" + o.Level + "]"
	}
	return s
}

// Cell is one source against one destination.
type Cell struct {
	Pair
	Declared   Verdict // "" when not declared
	Predicted  Prediction
	Observed   []Observation // one per passing instance of the destination
	NotProbed  string        // why the source could not be probed ("" when it was)
	Stranger   bool          // the catalog has no service of the source's name
	NoInstance string        // why the destination had no instance to dial ("" when it had)
}

// Seen is the cell's observed verdict: the instances' common verdict, or
// split when they disagree.
func (c Cell) Seen() (v Verdict, split bool) {
	if c.NotProbed != "" || len(c.Observed) == 0 {
		return Unknown, false
	}
	v = c.Observed[0].Verdict
	for _, o := range c.Observed[1:] {
		if o.Verdict != v {
			return Unknown, true
		}
	}
	return v, false
}

// Level is the cell's evidence: the levels of its instances, once each.
func (c Cell) Level() string {
	var levels []string
	for _, o := range c.Observed {
		if o.Level != "" && !contains(levels, o.Level) {
			levels = append(levels, o.Level)
		}
	}
	if len(levels) == 0 {
		return "none"
	}
	return strings.Join(levels, " + ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Problems says why the cell does not hold: nothing when the observed
// verdict agrees with the prediction and with the declared one.
func (c Cell) Problems() []string {
	if c.NotProbed != "" {
		return []string{"not probed: " + c.NotProbed}
	}
	var out []string
	seen, split := c.Seen()
	switch {
	case c.NoInstance != "":
		out = append(out, "not observed: "+c.NoInstance)
	case split:
		out = append(out, "split: the instances disagree")
	case seen == Unknown:
		out = append(out, "observed unknown: no instance's listener showed allow or deny")
	}
	if c.Predicted.Err != nil {
		out = append(out, "not predicted: "+c.Predicted.Err.Error())
	} else if seen != Unknown && seen != c.Predicted.Verdict() {
		out = append(out, fmt.Sprintf("observed %s, predicted %s", seen, c.Predicted.Verdict()))
	}
	if c.Declared != "" && seen != Unknown && seen != c.Declared {
		out = append(out, fmt.Sprintf("observed %s, declared %s", seen, c.Declared))
	}
	if c.Declared != "" && c.Predicted.Err == nil && c.Predicted.Verdict() != c.Declared && (seen == Unknown || seen == c.Declared) {
		out = append(out, fmt.Sprintf("predicted %s, declared %s", c.Predicted.Verdict(), c.Declared))
	}
	return out
}

// Short is the cell as the table shows it: the observed verdict, marked
// with ! and what it differs from.
func (c Cell) Short() string {
	if c.NotProbed != "" {
		return "not-probed!"
	}
	seen, split := c.Seen()
	s := string(seen)
	if split {
		var parts []string
		counts := map[Verdict]int{}
		for _, o := range c.Observed {
			counts[o.Verdict]++
		}
		for _, v := range []Verdict{Allow, Deny, Unknown} {
			if counts[v] > 0 {
				parts = append(parts, fmt.Sprintf("%s:%d", v, counts[v]))
			}
		}
		s = "split(" + strings.Join(parts, ",") + ")"
	}
	if len(c.Problems()) == 0 {
		return s
	}
	var marks []string
	if p := c.Predicted.Verdict(); p != seen || split {
		marks = append(marks, "P:"+string(p))
	}
	if c.Declared != "" && (c.Declared != seen || split) {
		marks = append(marks, "D:"+string(c.Declared))
	}
	if len(marks) == 0 {
		return s + "!"
	}
	return s + "!(" + strings.Join(marks, " ") + ")"
}

// Evidence says everything known about the cell in one line.
func (c Cell) Evidence() string {
	var parts []string
	if c.Declared != "" {
		parts = append(parts, "declared "+string(c.Declared))
	}
	parts = append(parts, fmt.Sprintf("predicted %s (%s)", c.Predicted.Verdict(), c.Predicted.Explain()))
	switch seen, split := c.Seen(); {
	case c.NotProbed != "":
		parts = append(parts, "not probed: "+c.NotProbed)
	case c.NoInstance != "":
		parts = append(parts, "observed unknown: "+c.NoInstance)
	default:
		word := string(seen)
		if split {
			word = "split"
		}
		var obs []string
		for _, o := range c.Observed {
			obs = append(obs, fmt.Sprintf("%s: %s", o.Verdict, o))
		}
		parts = append(parts, fmt.Sprintf("observed %s (%s)", word, strings.Join(obs, "; ")))
	}
	return strings.Join(parts, "; ")
}

// Result is a checked table.
type Result struct {
	Table Table
	Cells []Cell // row by row
	// Send is what each probe wrote (nil: judged at the handshake).
	Send []byte
}

// Cell finds a cell.
func (r *Result) Cell(p Pair) *Cell {
	for i := range r.Cells {
		if r.Cells[i].Pair == p {
			return &r.Cells[i]
		}
	}
	return nil
}

// Failing lists the cells with problems, row by row.
func (r *Result) Failing() []Cell {
	var out []Cell
	for _, c := range r.Cells {
		if len(c.Problems()) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// Instances says how many instances of each destination were dialled.
func (r *Result) Instances() string {
	n := map[string]int{}
	for _, c := range r.Cells {
		n[c.Destination] = max(n[c.Destination], len(c.Observed))
	}
	var parts []string
	for _, d := range r.Table.Destinations {
		parts = append(parts, fmt.Sprintf("%s: %d", d, n[d]))
	}
	return strings.Join(parts, ", ")
}

// DecidedBy groups the cells by what Consul says decided them.
func (r *Result) DecidedBy() string {
	const shown = 4
	cells := map[string][]string{}
	var order []string
	for _, c := range r.Cells {
		why := c.Predicted.Explain()
		if cells[why] == nil {
			order = append(order, why)
		}
		cells[why] = append(cells[why], c.Pair.String())
	}
	var parts []string
	for _, why := range order {
		list := cells[why]
		names := strings.Join(list[:min(len(list), shown)], ", ")
		if len(list) > shown {
			names += fmt.Sprintf(" and %d more", len(list)-shown)
		}
		parts = append(parts, fmt.Sprintf("%s for %s", why, names))
	}
	return strings.Join(parts, "; ")
}

// Levels says which levels of evidence the cells have, and how many of each.
func (r *Result) Levels() string {
	counts := map[string]int{}
	var order []string
	for _, c := range r.Cells {
		l := c.Level()
		if counts[l] == 0 {
			order = append(order, l)
		}
		counts[l]++
	}
	var parts []string
	for _, l := range order {
		parts = append(parts, fmt.Sprintf("%s %s", plural(counts[l], "cell"), l))
	}
	return strings.Join(parts, ", ")
}

// Render draws the table: rows are sources, columns destinations, each
// cell the observed verdict, and a mark where it differs from the
// prediction (P) or the declaration (D).
func (r *Result) Render() []string {
	if len(r.Table.Sources) == 0 || len(r.Table.Destinations) == 0 {
		return nil
	}
	header := append([]string{""}, r.Table.Destinations...)
	rows := [][]string{header}
	for _, s := range r.Table.Sources {
		label := s
		if c := r.Cell(Pair{s, r.Table.Destinations[0]}); c != nil && c.Stranger {
			label += " (stranger)"
		}
		row := []string{label}
		for _, d := range r.Table.Destinations {
			row = append(row, r.Cell(Pair{s, d}).Short())
		}
		rows = append(rows, row)
	}
	widths := make([]int, len(header))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var out []string
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			fmt.Fprintf(&b, "%-*s", widths[i], cell)
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

// Legend explains the marks of the rendered table.
const Legend = "rows: sources; columns: destinations; each cell as observed at every passing instance; ! marks a cell that does not hold, P: what Consul predicts, D: what was declared"

// Prober checks a table against a mesh: it asks one agent for the
// sources' leaf certificates, the CA roots, the destinations' passing
// instances and the authorization of each cell, and dials each instance's
// public listener with each source's certificate.
type Prober struct {
	Client *api.Client
	// LeafToken, when set, is the token the leaf certificates are asked
	// with (the client's otherwise).
	LeafToken string
	// Dial connects to an instance's public listener.
	Dial Dial
	// Send is written after the handshake and a reply awaited (a round
	// trip); nil judges each instance at the handshake only.
	Send []byte
	// Timeout bounds one probe of one instance.
	Timeout time.Duration
	// Parallel bounds the probes and questions in flight.
	Parallel int
	// Envoy says whether an instance's sidecar is Envoy, whose deny
	// shapes (a close after the handshake, HTTP 403) then count; nil
	// for none.
	Envoy func(e *api.ServiceEntry) bool
	// Local, when set, says who listens behind an instance on a mesh the
	// runner started (its public listener and its backend), for the rule
	// that only the scenario's own processes give evidence.
	Local func(e *api.ServiceEntry) LocalCheck
}

// LocalCheck is who listens behind one instance, on a mesh the runner
// started. A Holder is a process the scenario started; Foreign, one it
// did not; both empty: nothing listens.
type LocalCheck struct {
	ListenerHolder, ListenerForeign string
	BackendAddr                     string
	BackendHolder, BackendForeign   string
}

// DefaultParallel bounds the probes in flight.
const DefaultParallel = 16

// Check probes every cell once.
func (p *Prober) Check(ctx context.Context, t Table) (*Result, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	roots, _, err := p.Client.Agent().ConnectCARoots(q)
	if err != nil {
		return nil, fmt.Errorf("reading the Connect CA roots: %w", err)
	}
	parallel := p.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	do := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			fn()
		}()
	}

	// The sources' certificates and the destinations' instances.
	leaves := make(map[string]*api.LeafCert, len(t.Sources))
	leafErrs := make(map[string]error, len(t.Sources))
	entries := make(map[string][]*api.ServiceEntry, len(t.Destinations))
	entryErrs := make(map[string]error, len(t.Destinations))
	var mu sync.Mutex
	for _, s := range t.Sources {
		do(func() {
			lq := (&api.QueryOptions{Token: p.LeafToken}).WithContext(ctx)
			leaf, _, err := p.Client.Agent().ConnectCALeaf(s, lq)
			mu.Lock()
			defer mu.Unlock()
			leaves[s], leafErrs[s] = leaf, err
		})
	}
	for _, d := range t.Destinations {
		do(func() {
			es, _, err := p.Client.Health().Connect(d, "", true, q)
			sort.Slice(es, func(i, j int) bool { return instanceName(es[i]) < instanceName(es[j]) })
			mu.Lock()
			defer mu.Unlock()
			entries[d], entryErrs[d] = es, err
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Who listens behind each instance, once per check.
	local := map[*api.ServiceEntry]LocalCheck{}
	if p.Local != nil {
		for _, d := range t.Destinations {
			for _, e := range entries[d] {
				do(func() {
					lc := p.Local(e)
					mu.Lock()
					defer mu.Unlock()
					local[e] = lc
				})
			}
		}
		wg.Wait()
	}

	// A source the catalog has no service of is a stranger (with a
	// valid leaf): the table marks it.
	services, _, servicesErr := p.Client.Catalog().Services(q)
	res := &Result{Table: t, Send: p.Send}
	res.Cells = make([]Cell, 0, len(t.Sources)*len(t.Destinations))
	for _, pair := range t.Pairs() {
		c := Cell{Pair: pair, Declared: t.Declared[pair]}
		if servicesErr == nil {
			_, known := services[pair.Source]
			c.Stranger = !known
		}
		if err := leafErrs[pair.Source]; err != nil {
			c.NotProbed = fmt.Sprintf("the agent gave no leaf certificate for %s: %v", pair.Source, err)
		}
		switch es, err := entries[pair.Destination], entryErrs[pair.Destination]; {
		case err != nil:
			c.NoInstance = fmt.Sprintf("the passing instances of %s could not be listed: %v", pair.Destination, err)
		case len(es) == 0:
			c.NoInstance = fmt.Sprintf("no passing instance of %s in the catalog", pair.Destination)
		}
		res.Cells = append(res.Cells, c)
	}
	certs := map[string]tls.Certificate{}
	for s, leaf := range leaves {
		if leaf == nil {
			continue
		}
		cert, err := tls.X509KeyPair([]byte(leaf.CertPEM), []byte(leaf.PrivateKeyPEM))
		if err != nil {
			leafErrs[s] = fmt.Errorf("the leaf certificate does not parse: %w", err)
			continue
		}
		certs[s] = cert
	}
	for i := range res.Cells {
		c := &res.Cells[i]
		if err := leafErrs[c.Source]; err != nil && c.NotProbed == "" {
			c.NotProbed = fmt.Sprintf("%s's leaf certificate: %v", c.Source, err)
		}
		do(func() {
			c.Predicted = p.authorize(ctx, c.Pair, leaves[c.Source], roots, entries[c.Destination])
		})
		if c.NotProbed != "" || c.NoInstance != "" {
			continue
		}
		es := entries[c.Destination]
		c.Observed = make([]Observation, len(es))
		for j, e := range es {
			do(func() {
				lc, ok := local[e]
				c.Observed[j] = p.observe(ctx, certs[c.Source], roots, c.Destination, e, lc, ok)
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// authorize asks the agent what the built-in proxy would ask: may the
// source's certificate URI reach the destination. Without a leaf, the URI
// is the one the agent would put in it.
func (p *Prober) authorize(ctx context.Context, pair Pair, leaf *api.LeafCert, roots *api.CARootList, es []*api.ServiceEntry) Prediction {
	uri := ""
	if leaf != nil {
		uri = leaf.ServiceURI
	} else {
		dc := ""
		for _, e := range es {
			if e.Node != nil && e.Node.Datacenter != "" {
				dc = e.Node.Datacenter
				break
			}
		}
		if dc == "" {
			self, err := p.Client.Agent().Self()
			if err != nil {
				return Prediction{Err: fmt.Errorf("no leaf certificate of %s to take its URI from, and the agent's datacenter could not be read: %w", pair.Source, err)}
			}
			dc, _ = self["Config"]["Datacenter"].(string)
		}
		uri = fmt.Sprintf("spiffe://%s/ns/default/dc/%s/svc/%s", roots.TrustDomain, dc, pair.Source)
	}
	authz, err := p.Client.Agent().ConnectAuthorize(&api.AgentAuthorizeParams{Target: pair.Destination, ClientCertURI: uri})
	if err != nil {
		return Prediction{Err: err}
	}
	return Prediction{Authorized: authz.Authorized, Reason: authz.Reason}
}

func instanceName(e *api.ServiceEntry) string {
	id := e.Service.ID
	if e.Service.Proxy != nil && e.Service.Proxy.DestinationServiceID != "" {
		id = e.Service.Proxy.DestinationServiceID
	}
	if e.Node != nil {
		return id + "@" + e.Node.Node
	}
	return id
}

// instanceAddr is where an instance's public listener is.
func instanceAddr(e *api.ServiceEntry) string {
	nodeAddr := ""
	if e.Node != nil {
		nodeAddr = e.Node.Address
	}
	return net.JoinHostPort(dialHost(e.Service.Address, nodeAddr), strconv.Itoa(e.Service.Port))
}

// observe dials one instance with the source's certificate and judges
// what it does.
func (p *Prober) observe(ctx context.Context, cert tls.Certificate, roots *api.CARootList, destination string, e *api.ServiceEntry, lc LocalCheck, haveLocal bool) Observation {
	o := Observation{Instance: instanceName(e), Addr: instanceAddr(e), Verdict: Unknown}
	if haveLocal {
		switch {
		case lc.ListenerForeign != "":
			o.Detail = fmt.Sprintf("is held by %s, which the scenario did not start: its answer is no evidence", lc.ListenerForeign)
			return o
		case lc.ListenerHolder == "":
			o.Detail = "has nothing listening on it, though the catalog lists it as passing"
			return o
		}
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	envoy := p.Envoy != nil && p.Envoy(e)
	pr := Probe{Dial: p.Dial, Cert: cert, Roots: roots, Destination: destination, Send: p.Send, Envoy: envoy, Timeout: timeout}
	o.Verdict, o.Level, o.Detail = pr.Run(ctx, o.Addr)
	if !haveLocal {
		return o
	}
	o.Detail += fmt.Sprintf("; listener held by %s", lc.ListenerHolder)
	unknown := func(why string) { o.Verdict, o.Level, o.Detail = Unknown, "", o.Detail+"; but "+why }
	switch {
	case o.Verdict == Unknown:
	case e.Service.Kind == api.ServiceKindConnectProxy && !isSidecarProcess(lc.ListenerHolder):
		// The verdict is the mesh's only when the destination's own
		// sidecar gave it: another process holding a valid leaf proves
		// nothing about the sidecars.
		unknown("that is not a sidecar the scenario started, so its verdict is not the mesh's")
	case o.Level == LevelEnvoyL4 && (lc.BackendHolder == "" || lc.BackendForeign != ""):
		// Envoy closes in the same way when its backend does not answer.
		unknown(fmt.Sprintf("the backend %s is not a live process of the scenario, so a close cannot be told from a dead backend", lc.BackendAddr))
	case o.Verdict == Allow && o.Level == LevelRoundTrip:
		// The bytes must have come from a backend the scenario knows: a
		// stray echo in its place would make a path look open.
		switch {
		case lc.BackendForeign != "":
			unknown(fmt.Sprintf("the backend %s is %s, which the scenario did not start", lc.BackendAddr, lc.BackendForeign))
		case lc.BackendHolder == "" && lc.BackendAddr != "":
			unknown(fmt.Sprintf("nothing the scenario started listens on the backend %s", lc.BackendAddr))
		case lc.BackendHolder != "":
			o.Detail += fmt.Sprintf("; backend %s up (%s)", lc.BackendAddr, lc.BackendHolder)
		}
	}
	return o
}

// isSidecarProcess says whether a listener's holder, as listenerHolder
// names it ("sidecar/web, pid ..." or "app1/sidecar/web, pid ..." on a
// node), is a sidecar step's process: a run step's name has no slash.
func isSidecarProcess(holder string) bool {
	name, _, _ := strings.Cut(holder, ", ")
	return spec.IsSidecar(name) || strings.Contains(name, "/"+spec.SidecarPrefix)
}

// Probe is one connection with a source's certificate to one listener of
// a destination.
type Probe struct {
	Dial        Dial
	Cert        tls.Certificate
	Roots       *api.CARootList
	Destination string
	// Send is written after the handshake, and a reply awaited; nil
	// judges at the handshake only.
	Send []byte
	// Envoy accepts Envoy's deny shapes.
	Envoy   bool
	Timeout time.Duration
}

// ticketSignal is a TLS client session cache that never resumes (a
// resumed session would skip the certificate, and with it the server's
// authorization) and tells when the server sent a session ticket, which a
// TLS 1.3 server that asked for the client's certificate sends only after
// verifying it.
type ticketSignal struct {
	once sync.Once
	got  chan struct{}
	// onTicket runs once, when the first ticket arrives.
	onTicket func()
}

func (t *ticketSignal) Get(string) (*tls.ClientSessionState, bool) { return nil, false }
func (t *ticketSignal) Put(_ string, cs *tls.ClientSessionState) {
	if cs == nil {
		return
	}
	t.once.Do(func() {
		close(t.got)
		if t.onTicket != nil {
			t.onTicket()
		}
	})
}

func (t *ticketSignal) received() bool {
	select {
	case <-t.got:
		return true
	default:
		return false
	}
}

// rbacDenied is Envoy's answer when its HTTP RBAC filter denies a request.
var rbacDenied = []byte("RBAC: access denied")

// Run dials addr and judges what the listener does with the certificate.
func (pr Probe) Run(ctx context.Context, addr string) (v Verdict, level, detail string) {
	ctx, cancel := context.WithTimeout(ctx, pr.Timeout)
	defer cancel()
	raw, err := pr.Dial(ctx, "tcp", addr)
	if err != nil {
		return Unknown, "", "does not accept connections: " + err.Error()
	}
	var serverErr error
	// asked: the server asked for a client certificate (one that does not
	// lets any TLS client in).
	asked := false
	tickets := &ticketSignal{got: make(chan struct{})}
	cfg := &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &pr.Cert, nil
		},
		InsecureSkipVerify: true, // verified below against Consul's roots and the destination's identity
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			var chain []*x509.Certificate
			for _, der := range rawCerts {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					serverErr = err
					return err
				}
				chain = append(chain, c)
			}
			serverErr = VerifyServiceCert(chain, pr.Roots, pr.Destination)
			return serverErr
		},
		ClientSessionCache: tickets,
	}
	conn := tls.Client(raw, cfg)
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if err := conn.HandshakeContext(ctx); err != nil {
		if serverErr != nil {
			return Unknown, "", fmt.Sprintf("presented a certificate that is not %s's: %v", pr.Destination, serverErr)
		}
		return pr.ended(err, false, false, nil)
	}
	state := conn.ConnectionState()
	if !asked && pr.Send == nil {
		// Nothing to authorize: anyone may connect.
		return Allow, LevelHandshake, "asked for no client certificate: it lets any TLS client in (handshake completed; no application bytes sent)"
	}
	if pr.Send == nil {
		if state.Version < tls.VersionTLS13 {
			// In TLS 1.2 the server verifies the client's certificate before
			// its Finished: a completed handshake is its acceptance.
			return Allow, LevelHandshake, fmt.Sprintf("accepted the source's certificate (%s handshake completed)", tls.VersionName(state.Version))
		}
		// The server's verdict on the certificate comes after the client's
		// Finished: an alert, or a session ticket.
		tickets.onTicket = func() { _ = conn.SetReadDeadline(time.Now()) }
		_, err := conn.Read(make([]byte, 1))
		if tickets.received() {
			return Allow, LevelHandshake, "accepted the source's certificate (TLS 1.3: it sent a session ticket, which a server sends only once it has verified the certificate it asked for; no application bytes sent)"
		}
		return pr.ended(err, true, false, nil)
	}
	if _, err := conn.Write(pr.Send); err != nil {
		// The refusal may be waiting to be read.
		_, rerr := conn.Read(make([]byte, 1))
		if rerr != nil {
			return pr.ended(rerr, true, tickets.received(), nil)
		}
		return Unknown, "", "could not write the probe's bytes: " + err.Error()
	}
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if pr.Envoy && bytes.Contains(got, rbacDenied) && bytes.HasPrefix(got, []byte("HTTP/1.1 403")) {
			return Deny, LevelEnvoyL7, fmt.Sprintf("answered HTTP 403 %q, Envoy's L7 RBAC denial", rbacDenied)
		}
		if len(got) > 0 && !pr.mayBeRBAC(got) || len(got) > 0 && err != nil {
			what := "accepted the source's certificate"
			if !asked {
				what = "asked for no client certificate (it lets any TLS client in)"
			}
			return Allow, LevelRoundTrip, fmt.Sprintf("%s and answered %s", what, Quote(got))
		}
		if err != nil {
			return pr.ended(err, true, tickets.received(), got)
		}
	}
}

// mayBeRBAC says whether got could still become Envoy's HTTP 403 RBAC
// answer, for an Envoy sidecar: then more is read before judging.
func (pr Probe) mayBeRBAC(got []byte) bool {
	if !pr.Envoy {
		return false
	}
	status := []byte("HTTP/1.1 403")
	if len(got) < len(status) {
		return bytes.HasPrefix(status, got)
	}
	return bytes.HasPrefix(got, status) && !bytes.Contains(got, rbacDenied)
}

// ended judges a connection that ended (or stalled) without a reply: err
// is how; handshaken says the client finished its handshake, ticket that
// the server sent a session ticket (it accepted the certificate).
func (pr Probe) ended(err error, handshaken, ticket bool, got []byte) (Verdict, string, string) {
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		if op.Err.Error() == "tls: bad certificate" {
			return Deny, LevelRefused, "refused the source's certificate (TLS alert: bad certificate)"
		}
		return Unknown, "", fmt.Sprintf("sent the TLS alert %q, not the built-in proxy's refusal (bad certificate)", strings.TrimPrefix(op.Err.Error(), "tls: "))
	case errors.As(err, &ne) && ne.Timeout():
		switch {
		case !handshaken:
			return Unknown, "", fmt.Sprintf("did not finish the TLS handshake within %s", pr.Timeout)
		case pr.Send == nil:
			return Unknown, "", fmt.Sprintf("finished the handshake but neither refused the certificate nor sent a session ticket within %s: the handshake alone does not show whether it accepted it (send bytes for a round trip)", pr.Timeout)
		}
		return Unknown, "", fmt.Sprintf("accepted the connection but sent nothing back within %s", pr.Timeout)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		switch {
		case !handshaken:
			return Unknown, "", "closed the connection before or during TLS (" + DescribeEnd(err) + "); the built-in proxy does this when its local service does not accept"
		case pr.Envoy && pr.Send != nil:
			return Deny, LevelEnvoyL4, "finished the handshake, then closed the connection with no reply on the probe's bytes (" + DescribeEnd(err) + "), as Envoy's L4 RBAC does"
		case ticket:
			return Unknown, "", "accepted the source's certificate, then closed the connection with no reply (" + DescribeEnd(err) + "): the backend or the path closed it, which is neither allow nor deny"
		}
		return Unknown, "", "finished the handshake, then closed the connection with no reply (" + DescribeEnd(err) + ")"
	}
	return Unknown, "", "failed otherwise: " + err.Error()
}
