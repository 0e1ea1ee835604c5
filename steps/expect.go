package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// expectType is the expect step.
var expectType = Typed(Type{
	Name:    "expect",
	Cluster: Reads(),
	Summary: "asserts: bytes, a close or silence (open, nothing back) on a connection; a fresh probe (dialled again until it holds or within passes); " +
		"a denial proven by the mesh (the probe ends with no reply, the agent's authorization names the deciding intention, " +
		"the destination sidecar refuses the source's certificate, the backend is up); an intention decision; " +
		"the mesh's truth table (who may reach whom: Consul's prediction against every instance's sidecar, and the declared table); " +
		"that a sidecar presents its service's SPIFFE certificate, chained to the active CA root, " +
		"and refuses plaintext; that a process listens on loopback only; " +
		"that an instance, or every instance of a service, is passing, warning or critical in the health catalog, naming the checks that decided",
	Example: `- expect: {to: web/socat, send: "hello\n", reply: "hello\n", within: 10s}`,
	// Bounded by within; the step timeout only guards against a stuck dial.
}, buildExpect)

// ExpectSpec is the value of an expect step: one of its forms, chosen by
// the key present (cert, loopback-only, intention, health, reachability,
// to), else a look at a connection.
type ExpectSpec struct {
	Cert      *ExpectCertSpec         `form:"cert" doc:"that a sidecar presents its service's SPIFFE certificate, chained to the active CA root, and refuses plaintext"`
	Loopback  *ExpectLoopbackSpec     `form:"loopback-only" doc:"that a process and its family (its group, and what it started that left the group) listen on loopback addresses only, TCP and UDP"`
	Intention *ExpectIntentionSpec    `form:"intention" formname:"on an intention" doc:"the agent's decision for an intention"`
	Health    *ExpectHealthSpec       `form:"health" formname:"on health" doc:"an instance's health, or every instance's of a service, as the health catalog gives it, with the checks that decided"`
	Reach     *ExpectReachabilitySpec `form:"reachability" formname:"reachability" doc:"the mesh's truth table: every source against every destination, Consul's authorization against what each passing instance does with the source's leaf certificate, and against the declared table when given"`
	Probe     *ExpectProbeSpec        `form:"to" formname:"with to (a probe)" doc:"a fresh connection, dialled again until the outcome holds or within passes"`
	Conn      *ExpectConnSpec         `form:"" formname:"on a connection" doc:"what comes back on a connection a send opened"`
}

// ExpectCertSpec is expect's cert form.
type ExpectCertSpec struct {
	Cert   string        `key:"cert,required" shape:"SERVICE" doc:"the service whose sidecar's certificate to check"`
	Within spec.Duration `key:"within" doc:"retry until the presented leaf chains to the active root (after a CA rotation)"`
}

// ExpectLoopbackSpec is expect's loopback-only form.
type ExpectLoopbackSpec struct {
	LoopbackOnly string `key:"loopback-only,required" shape:"PROCESS" doc:"a process the scenario started (a run name, agent, sidecar/SERVICE)"`
}

// ExpectIntentionSpec is expect's intention form.
type ExpectIntentionSpec struct {
	Intention IntentionSpec                `key:"intention,required" doc:"the intention source -> destination to ask the agent about"`
	Allowed   bool                         `key:"allowed,required" doc:"whether the agent must authorize it"`
	Within    spec.Optional[spec.Duration] `key:"within" default:"5s" doc:"how long the decision may take to hold; it is then watched as long as that took when the other decision came first, and at least 500ms when within is given: the other decision then fails the step"`
}

// ExpectProbeSpec is expect's probe form.
type ExpectProbeSpec struct {
	To            string                       `key:"to,required" shape:"SERVICE/UPSTREAM|HOST:PORT|SERVICE" doc:"SERVICE/UPSTREAM (that service's upstream listener) or host:port; with from, the destination service"`
	From          string                       `key:"from" shape:"SERVICE" doc:"probe as a Connect-native client with this service's certificate, dialling to's sidecars directly"`
	Send          string                       `key:"send" doc:"the bytes to write"`
	Reply         *string                      `key:"reply" oneof:"outcome" doc:"exactly these bytes come back, then nothing more for quiet"`
	ReplyPrefix   *string                      `key:"reply-prefix" oneof:"outcome" doc:"the reply starts with these bytes"`
	ReplyMatches  *spec.Pattern                `key:"reply-matches" oneof:"outcome" doc:"a regular expression over what came back once quiet"`
	Closed        *bool                        `key:"closed" oneof:"outcome" const:"true" doc:"the connection ends with no reply bytes (a deny, a dead or closing backend)"`
	Denied        *bool                        `key:"denied" oneof:"outcome" const:"true" doc:"the mesh's authorization refused the connection, proven by the agent, the destination sidecar and the backend (to: SERVICE/UPSTREAM or from only)"`
	Within        spec.Optional[spec.Duration] `key:"within" default:"5s" doc:"how long the probe may take to hold; it is then watched as long as that took when the opposite outcome came first, and at least 500ms when within is given: the opposite outcome (a reply to closed or denied, a connection ended with no reply to a reply) then fails the step"`
	Quiet         spec.Optional[spec.Duration] `key:"quiet" default:"50ms" doc:"how long no more bytes may come after reply or reply-matches"`
	Times         int                          `key:"times" min:"1" default:"1" doc:"how many new connections in a row must hold"`
	OthersAllowed bool                         `key:"others-allowed" doc:"go on past other outcomes (another instance's reply, a close from a path still changing) until the expected one comes, before and after it first holds; with times, the run must also be longer than the mix of outcomes before it could make by chance"`
	Wire          string                       `key:"wire" enum:"encrypted,plaintext" doc:"on a scenario's nodes: capture every node's links during the probe; encrypted passes only if the probe's own connection crossed to another node as TLS between Connect proxies, every other flow that crossed was TLS between the scenario's proxies or its agents' own, and the probe's bytes appear nowhere in clear (a failure keeps the capture as wire-N.pcap); plaintext only if it crossed in clear (a control)"`
}

// ExpectConnSpec is expect's connection form.
type ExpectConnSpec struct {
	Conn         *string                      `key:"conn" shape:"NAME" doc:"the connection (default: the one the last send used)"`
	Reply        *string                      `key:"reply" oneof:"outcome" doc:"exactly these bytes come next, then nothing more for quiet"`
	ReplyPrefix  *string                      `key:"reply-prefix" oneof:"outcome" doc:"these bytes come next; the rest stays for the next expect"`
	ReplyMatches *spec.Pattern                `key:"reply-matches" oneof:"outcome" doc:"a regular expression over what came, once quiet; what it matched is taken"`
	Closed       *bool                        `key:"closed" oneof:"outcome" const:"true" doc:"the connection ends with no more bytes"`
	Silent       *spec.Duration               `key:"silent" oneof:"outcome" doc:"for this long from the step's start, nothing comes and the connection stays open (a proxy still dialling a black-holed destination, a stalled path); takes no within"`
	Within       spec.Optional[spec.Duration] `key:"within" default:"5s" doc:"how long the outcome may take"`
	Quiet        spec.Optional[spec.Duration] `key:"quiet" default:"50ms" doc:"how long no more bytes may come after reply or reply-matches"`
}

// DefaultWithin is how long an expectation may take to hold.
const DefaultWithin = 5 * time.Second

// DefaultQuiet is how long no further bytes may arrive after an exact
// reply (or a reply-matches match) for it to count: a service that answers
// "hello" and then " ERROR-500\n" must not pass reply: "hello". Measured
// with `bench quiet` (a backend making two back-to-back writes, through
// both built-in proxies, 2 cores at load 5): median 5µs, p99 2.3ms, max
// 31-52ms over 1000 probes. 50ms covers the tail seen under that load at a
// cost of 50ms per exact reply; `quiet:` changes it per expect.
const DefaultQuiet = 50 * time.Millisecond

// probeAttemptLimit bounds one probe attempt, so that a connection that
// neither answers nor closes is given up and dialled afresh.
const probeAttemptLimit = time.Second

type expect struct {
	within time.Duration
	// one of the three forms
	conn      string
	probe     *Target
	intention *api.IntentionCheck
	// the outcome expected: one of
	send        string
	reply       []byte         // exactly these bytes, then quiet
	replyPrefix []byte         // these bytes first; the rest is left on the connection
	replyMatch  *regexp.Regexp // what came back, once quiet, matches
	closed      bool           // ends with no reply bytes
	silent      time.Duration  // nothing comes and it stays open this long
	denied      bool           // closed, and the mesh's authorization refused it
	allowed     bool
	quiet       time.Duration
	// othersAllowed lets a probe go on past wrong replies (another
	// instance answering, say) until the expected one comes.
	othersAllowed bool
	// times is how many fresh probes in a row must hold (default 1): with
	// instances picked at random per connection, "every new connection
	// goes to a" needs many.
	times int
	// wire is what the probe's bytes must look like on the cables
	// between nodes: WireEncrypted or WirePlaintext ("" for no claim).
	wire string
	// eventual: the claim gives within, saying the mesh is converging to
	// it; it is watched settling for at least SettleFloor.
	eventual bool
}

func buildExpect(d *spec.Decoder, val *ExpectSpec, f *spec.Fields) Step {
	v := f.At()
	switch {
	case val.Cert != nil:
		d.NeedAgent(v, "expect cert")
		if svc := val.Cert.Cert; svc != "" {
			d.Use(spec.KindProcess, spec.SidecarProcess(svc), f.NodeOf(&val.Cert.Cert))
		}
		return &expectCert{service: val.Cert.Cert, within: time.Duration(val.Cert.Within)}
	case val.Loopback != nil:
		if name := val.Loopback.LoopbackOnly; name != "" {
			d.Use(spec.KindProcess, name, f.NodeOf(&val.Loopback.LoopbackOnly))
		}
		return &expectLoopbackOnly{name: val.Loopback.LoopbackOnly}
	case val.Health != nil:
		return buildExpectHealth(d, val.Health, f)
	}
	// A probe goes through proxies that learn of a change eventually; an
	// intention check reads the servers, at once where they are the
	// scenario's own, in one datacenter.
	eventualWithoutWithin := val.Probe != nil && !val.Probe.Within.Set || val.Reach != nil && !val.Reach.Within.Set ||
		val.Intention != nil && !val.Intention.Within.Set && !d.IntentionChecksReadTheirWrites()
	if d.IntentionsChanged() && eventualWithoutWithin {
		d.Warnf(v, "expect after an intention change has no within: the mesh is only eventually consistent, "+
			"so say how long it may take (the default is %s)", DefaultWithin)
	}
	if val.Reach != nil {
		return buildReachability(d, val.Reach, f)
	}
	e := &expect{}
	var o outcomeSpec
	switch {
	case val.Intention != nil:
		in := val.Intention
		e.within, e.quiet = time.Duration(in.Within.Value), DefaultQuiet
		e.eventual = in.Within.Set
		e.intention = &api.IntentionCheck{Source: in.Intention.Source, Destination: in.Intention.Destination, SourceType: api.IntentionSourceConsul}
		d.WarnUnregistered(f.NodeOf(&in.Intention), "expect.intention", in.Intention.Source, in.Intention.Destination)
		e.allowed = in.Allowed
		d.NeedAgent(v, "expect intention")
		return e.held()
	case val.Probe != nil:
		p := val.Probe
		e.within, e.quiet = time.Duration(p.Within.Value), time.Duration(p.Quiet.Value)
		e.eventual = p.Within.Set
		if p.From != "" {
			// The runner as a Connect-native client with from's identity:
			// to is the destination service, reached at its sidecars.
			d.NeedAgent(v, "expect from")
			if p.To != "" {
				d.Use(spec.KindService, p.To, f.NodeOf(&p.To))
			}
			e.probe = &Target{Service: p.From, Upstream: p.To, Native: true}
			// A Connect-native identity needs no registration; intentions
			// may name it.
			d.Define(spec.KindIdentity, e.probe.Service, f.NodeOf(&p.From))
		} else {
			t := readTarget(d, f.NodeOf(&p.To), "expect.to")
			e.probe = &t
		}
		e.send, e.times, e.othersAllowed = p.Send, p.Times, p.OthersAllowed
		o = outcomeSpec{p.Reply, p.ReplyPrefix, p.ReplyMatches, p.Closed, p.Denied, &p.Quiet}
		if p.Wire != "" {
			e.wire = p.Wire
			switch {
			case len(d.Nodes()) < 2:
				d.Errorf(f.NodeOf(&p.Wire), "expect.wire: evidence from the wire needs a scenario with two nodes or more (the capture is of the cables between them)")
			case len(e.send) < minWireMarker:
				d.Errorf(f.NodeOf(&p.Wire), "expect.wire needs send of %d bytes or more: the capture looks for them in clear, and a shorter one could occur in ciphertext by chance", minWireMarker)
			}
		}
	default:
		c := val.Conn
		e.within, e.quiet = time.Duration(c.Within.Value), time.Duration(c.Quiet.Value)
		e.conn = deref(c.Conn)
		if c.Conn == nil {
			e.conn = d.LastConn()
			if e.conn == "" {
				d.Errorf(v, "expect has no connection to look at: give it to (a fresh probe) or conn, or put a send before it")
			}
		} else {
			d.Use(spec.KindConn, e.conn, f.NodeOf(&c.Conn))
		}
		o = outcomeSpec{c.Reply, c.ReplyPrefix, c.ReplyMatches, c.Closed, nil, &c.Quiet}
		if c.Silent != nil {
			e.silent = time.Duration(*c.Silent) // positive: spec.Duration checks it
			if c.Within.Set {
				d.Errorf(f.KeyOf(&c.Within), "expect.silent takes no within: the connection must stay silent and open for all of silent")
			}
		}
	}
	switch {
	case o.reply != nil:
		e.reply = []byte(*o.reply)
		if len(e.reply) == 0 {
			d.Errorf(f.NodeOf(o.reply), "expect.reply is empty; to expect no reply bytes use closed: true")
		}
	case o.replyPrefix != nil:
		e.replyPrefix = []byte(*o.replyPrefix)
		if len(e.replyPrefix) == 0 {
			d.Errorf(f.NodeOf(o.replyPrefix), "expect.reply-prefix is empty, which asserts nothing")
		}
	case o.replyMatches != nil:
		e.replyMatch = o.replyMatches.Regexp
	case o.closed != nil:
		e.closed = *o.closed
		if !e.closed && isBool(f.NodeOf(o.closed)) {
			d.Errorf(f.NodeOf(o.closed), "expect.closed: false asserts nothing; expect a reply instead")
		}
		if e.closed && d.IntentionsChanged() && e.probe != nil && e.probe.Service != "" {
			d.Warnf(f.KeyOf(o.closed), "closed: true after an intention change passes for a dead or closing backend too; "+
				"use denied: true to have the mesh prove the deny")
		}
	case o.denied != nil:
		e.denied = *o.denied
		switch {
		case !e.denied && isBool(f.NodeOf(o.denied)):
			d.Errorf(f.NodeOf(o.denied), "expect.denied: false asserts nothing; expect a reply instead")
		case e.probe != nil && e.probe.Addr != "":
			d.Errorf(f.NodeOf(&val.Probe.To), "expect.denied needs to: SERVICE/UPSTREAM (a mesh path whose identities the runner can check), not the address %s", e.probe.Addr)
		case e.probe != nil && e.probe.Service != "" && !e.probe.Native:
			for _, in := range d.Instances(e.probe.Service) {
				if u, err := spec.PickUpstream(in.Upstreams(), e.probe.Upstream, e.probe.Datacenter); err == nil && u.DestinationType == api.UpstreamDestTypePreparedQuery {
					d.Errorf(f.NodeOf(&val.Probe.To), "expect.denied: the upstream %s of %s is a prepared query, which picks its destination per connection, so the runner cannot name the service whose authorization refused it; use closed: true, and expect intention for the decision", e.probe.Upstream, e.probe.Service)
					break
				}
			}
		}
	}
	if o.quiet != nil && o.quiet.Set && e.reply == nil && e.replyMatch == nil {
		d.Errorf(f.KeyOf(o.quiet), "expect.quiet applies to reply and reply-matches only")
	}
	return e.held()
}

// isBool reports whether n is a YAML boolean (a wrong type was reported
// already).
func isBool(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" }

// outcomeSpec is what a probe or a connection must show: the one of
// these that was written (nil when left out), and its quiet. They point
// into the form decoded, so that f.NodeOf finds their keys.
type outcomeSpec struct {
	reply, replyPrefix *string
	replyMatches       *spec.Pattern
	closed, denied     *bool
	quiet              *spec.Optional[spec.Duration]
}

func (e *expect) String() string {
	if e.intention != nil {
		verdict := "denied"
		if e.allowed {
			verdict = "allowed"
		}
		return fmt.Sprintf("intention %s -> %s %s", e.intention.Source, e.intention.Destination, verdict)
	}
	outcome := e.outcome()
	if e.times > 1 {
		outcome += fmt.Sprintf(", %d new connections in a row", e.times)
	}
	if e.probe != nil {
		if e.send != "" {
			return fmt.Sprintf("%s to %s %s", Quote([]byte(e.send)), e.probe, outcome)
		}
		return fmt.Sprintf("%s %s", e.probe, outcome)
	}
	return fmt.Sprintf("connection %s %s", e.conn, outcome)
}

// outcome says the expected outcome in words, for the step's label.
func (e *expect) outcome() string {
	switch {
	case e.denied:
		return "is denied by the mesh"
	case e.closed:
		return "closes with no reply"
	case e.silent > 0:
		return fmt.Sprintf("stays open with nothing back for %s", e.silent)
	case e.replyPrefix != nil:
		return "replies starting with " + Quote(e.replyPrefix)
	case e.replyMatch != nil:
		return fmt.Sprintf("replies matching %q", e.replyMatch)
	}
	return "replies " + Quote(e.reply)
}

// want says the expected outcome in words, after "expected".
func (e *expect) want() string {
	switch {
	case e.denied:
		return "the mesh to deny the connection"
	case e.closed:
		return "the connection to close with no reply"
	case e.silent > 0:
		return fmt.Sprintf("the connection to stay open with nothing back for %s", e.silent)
	case e.replyPrefix != nil:
		return "a reply starting with " + Quote(e.replyPrefix)
	case e.replyMatch != nil:
		return fmt.Sprintf("a reply matching %q", e.replyMatch)
	}
	return "reply " + Quote(e.reply)
}

func (e *expect) Run(ctx context.Context, env Env) error {
	switch {
	case e.intention != nil:
		return e.runIntention(ctx, env)
	case e.probe != nil:
		return e.runProbe(ctx, env)
	}
	return e.runConn(ctx, env)
}

func (e *expect) runIntention(ctx context.Context, env Env) error {
	client, err := env.Consul()
	if err != nil {
		return err
	}
	start := time.Now()
	var firstHold time.Time
	var counts settleCounts
	// check asks for the decision once: nil when it is the claimed one,
	// the contrary error once the claimed one has been seen.
	check := func(ctx context.Context) error {
		allowed, _, err := client.Connect().IntentionCheck(e.intention, (&api.QueryOptions{}).WithContext(ctx))
		switch {
		case err != nil:
			return err
		case allowed == e.allowed && firstHold.IsZero():
			firstHold = time.Now()
			counts.untilFirst = firstHold.Sub(start)
		case allowed == e.allowed:
			counts.holdsAfter++
		case !firstHold.IsZero():
			return wait.Fatal(counts.contrary(fmt.Errorf("allowed is %t", allowed), time.Since(firstHold), "checks"))
		default:
			counts.contraryBefore++
			return fmt.Errorf("allowed is %t", allowed)
		}
		return nil
	}
	err = wait.For(ctx, wait.Func("the intention decision", check), wait.Options{Timeout: e.within, Alive: aliveAll(env, spec.AgentName)})
	if err == nil {
		// The settle window, as for a probe.
		window := settleWindow(e.eventual, e.within, counts.untilFirst, counts.contraryBefore)
		if settled := firstHold.Add(window); time.Now().Before(settled) {
			settleWindowBegins(ctx)
			confirm := wait.Func("the decision to stay", func(ctx context.Context) error {
				final := !time.Now().Before(settled)
				if err := check(ctx); err != nil || final {
					return err
				}
				return fmt.Errorf("held %d times since it first held, watching until %s after", counts.holdsAfter, window)
			})
			err = wait.For(ctx, confirm, wait.Options{Timeout: window + e.within, MinInterval: settleInterval, MaxInterval: settleInterval,
				Alive: aliveAll(env, spec.AgentName)})
		}
		if window > 0 {
			counts.watched = time.Since(firstHold)
		}
	}
	if err != nil {
		return WithLogs(fmt.Errorf("expected %s -> %s allowed: %t, got %w", e.intention.Source, e.intention.Destination, e.allowed, err), spec.AgentName)
	}
	if note := counts.note("checks", e.within); note != "" {
		env.Notef("%s", note)
	}
	return nil
}

func (e *expect) runConn(ctx context.Context, env Env) error {
	c, err := env.Conn(e.conn)
	if err != nil {
		return err
	}
	start := time.Now()
	if e.silent > 0 {
		if why := e.observeSilence(ctx, c, start); why != nil {
			return e.failure(fmt.Sprintf("on connection %s to %s", e.conn, c.Target), why, false, time.Since(start))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.within)
	defer cancel()
	verdict, decided := e.observe(ctx, c, true)
	if !decided || verdict != nil {
		return e.failure(fmt.Sprintf("on connection %s to %s", e.conn, c.Target), verdict, !decided, time.Since(start))
	}
	return nil
}

// observeSilence watches c until e.silent has passed since start: a byte
// or the connection's end fails it at once.
func (e *expect) observeSilence(ctx context.Context, c *Conn, start time.Time) error {
	window, cancel := context.WithDeadline(ctx, start.Add(e.silent))
	defer cancel()
	var why error
	_ = c.Await(window, func(rcv []byte, ended error) (int, bool) {
		after := time.Since(start).Round(time.Millisecond)
		switch {
		case len(rcv) > 0:
			why = fmt.Errorf("got %s after %s", Quote(rcv), after)
		case ended != nil:
			why = fmt.Errorf("the connection was %s after %s, with nothing back", DescribeEnd(ended), after)
		}
		return 0, why != nil
	})
	if why == nil && ctx.Err() != nil {
		// The step's own deadline, not silence, ended the watch.
		return fmt.Errorf("the step ended after %s, before %s of silence could be seen: %w",
			time.Since(start).Round(time.Millisecond), e.silent, context.Cause(ctx))
	}
	return why
}

// needsQuiet says whether a match counts only once no more bytes follow.
func (e *expect) needsQuiet() bool { return e.reply != nil || e.replyMatch != nil }

// observe waits on c until the expectation holds or fails. decided is
// false when ctx ended first; verdict then says what was seen. When consume
// is set, the bytes the expectation matched are taken off the connection.
func (e *expect) observe(ctx context.Context, c *Conn, consume bool) (why error, decided bool) {
	for {
		var v verdict
		var consumed int
		waitErr := c.Await(ctx, func(rcv []byte, ended error) (int, bool) {
			v, consumed, why = e.judge(rcv, ended)
			return 0, v != pending
		})
		if waitErr != nil {
			if why == nil {
				why = errors.New("nothing came back")
			}
			return why, false
		}
		if v == fails {
			return why, true
		}
		if e.needsQuiet() {
			// Holds so far: it counts once the connection stays quiet.
			quiet, cancel := context.WithTimeout(ctx, e.quiet)
			grew := false
			_ = c.Await(quiet, func(rcv []byte, ended error) (int, bool) {
				grew = len(rcv) > consumed
				return 0, grew || ended != nil
			})
			cancel()
			if ctx.Err() != nil {
				return fmt.Errorf("the reply came, but the time ran out before %s of quiet", e.quiet), false
			}
			if grew {
				continue // judge again with everything that came
			}
		}
		if consume {
			c.Consume(consumed)
		}
		return nil, true
	}
}

// failure says what was expected and what came instead, with the logs of
// the probe's sidecars and of backends (the processes serving a failed
// probe's destination, found at failure time).
func (e *expect) failure(where string, got error, timedOut bool, elapsed time.Duration, backends ...string) error {
	msg := fmt.Sprintf("expected %s %s; %v", e.want(), where, got)
	if timedOut {
		// Cut short (a process died) or the whole within.
		msg += fmt.Sprintf(" (after %s)", min(elapsed, e.within).Round(time.Millisecond))
	}
	var procs []string
	if e.probe != nil {
		procs = append(e.probe.Processes(), backends...)
	}
	return WithLogs(errors.New(msg), procs...)
}

// aliveAll fails as soon as one of the named running processes has died.
func aliveAll(env Env, names ...string) func() error {
	return func() error {
		for _, n := range names {
			if p, ok := env.Process(n); ok {
				if err := p.Alive(); err != nil {
					return err
				}
			}
		}
		return nil
	}
}
