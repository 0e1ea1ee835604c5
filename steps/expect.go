package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/wait"
)

func init() {
	Register(Type{
		Name: "expect",
		Summary: "asserts: bytes or a close on a connection; a fresh probe (dialled again until it holds or within passes); " +
			"an intention decision; that a sidecar presents its service's SPIFFE certificate, chained to the active CA root, " +
			"and refuses plaintext; that a process listens on loopback only",
		Fields: "{conn, reply} | {conn, closed: true} | {to, send, reply} | {to, send, closed: true} | " +
			"{intention: {source, destination}, allowed} (these take within, default 5s) | " +
			"{cert: SERVICE} | {loopback-only: PROCESS}",
		Example: `- expect: {to: web/socat, send: "hello\n", reply: "hello\n", within: 10s}`,
		// Bounded by within; the step timeout only guards against a stuck dial.
		Decode: decodeExpect,
		Schema: object(false, nil, props{
			"conn": str(), "to": str(), "send": str(), "reply": str(), "closed": boolean(),
			"intention": object(false, []string{"source", "destination"}, props{"source": str(), "destination": str()}),
			"allowed":   boolean(), "within": duration(), "cert": str(), "loopback-only": str(),
		}),
	})
}

// DefaultWithin is how long an expectation may take to hold.
const DefaultWithin = 5 * time.Second

// probeAttemptLimit bounds one probe attempt, so that a connection that
// neither answers nor closes is given up and dialled afresh.
const probeAttemptLimit = time.Second

type expect struct {
	within time.Duration
	// one of the three forms
	conn      string
	probe     *Target
	intention *api.IntentionCheck
	// the outcome expected
	send    string
	reply   []byte
	closed  bool
	allowed bool
}

// expectKeys are every key of every form of expect.
var expectKeys = []string{"conn", "to", "send", "reply", "closed", "intention", "allowed", "within", "cert", "loopback-only"}

func decodeExpect(d *Decoder, v *yaml.Node) Step {
	f := d.Fields(v, "expect", expectKeys...)
	if !f.OK {
		return nil
	}
	// only reports the keys that the form does not take.
	only := func(form string, allowed ...string) {
		for _, k := range expectKeys {
			if f.Has(k) && !slices.Contains(allowed, k) {
				d.Errorf(f.Key(k), "expect %s does not take %q", form, k)
			}
		}
	}
	switch {
	case f.Has("cert"):
		only("cert", "cert")
		d.NeedAgent(v, "expect cert")
		svc, _ := d.String(f.Node("cert"), "expect.cert")
		if svc != "" {
			d.Use(KindProcess, "sidecar/"+svc, f.Node("cert"))
		}
		return &expectCert{service: svc}
	case f.Has("loopback-only"):
		only("loopback-only", "loopback-only")
		name, _ := d.String(f.Node("loopback-only"), "expect.loopback-only")
		if name != "" {
			d.Use(KindProcess, name, f.Node("loopback-only"))
		}
		return &expectLoopbackOnly{name: name}
	}
	e := &expect{within: f.Duration("within", DefaultWithin)}
	if d.IntentionChanged && !f.Has("within") && !f.Has("conn") && (f.Has("to") || f.Has("intention")) {
		d.Warnf(v, "expect after an intention change has no within: the mesh is only eventually consistent, "+
			"so say how long it may take (the default is %s)", DefaultWithin)
	}
	switch {
	case f.Has("intention"):
		only("on an intention", "intention", "allowed", "within")
		e.intention = decodeIntentionRef(d, f.Node("intention"), "expect.intention")
		if !f.Require(v, "allowed") {
			return nil
		}
		e.allowed, _ = f.Bool("allowed")
		d.NeedAgent(v, "expect intention")
		return e
	case f.Has("to"):
		only("with to (a probe)", "to", "send", "reply", "closed", "within")
		t := d.Target(f.Node("to"), "expect.to")
		e.probe = &t
		e.send = f.String("send")
	default:
		only("on a connection", "conn", "reply", "closed", "within")
		e.conn = f.String("conn")
		if e.conn == "" && !f.Has("conn") {
			e.conn = d.LastConn()
			if e.conn == "" {
				d.Errorf(v, "expect has no connection to look at: give it to (a fresh probe) or conn, or put a send before it")
			}
		} else {
			d.Use(KindConn, e.conn, f.Node("conn"))
		}
	}
	switch {
	case f.Has("reply") && f.Has("closed"):
		d.Errorf(f.Key("closed"), "expect takes reply or closed, not both")
	case f.Has("reply"):
		e.reply = []byte(f.String("reply"))
		if len(e.reply) == 0 {
			d.Errorf(f.Node("reply"), "expect.reply is empty; to expect no reply bytes use closed: true")
		}
	case f.Has("closed"):
		closed, ok := f.Bool("closed")
		e.closed = closed
		if ok && !closed {
			d.Errorf(f.Node("closed"), "expect.closed: false asserts nothing; expect a reply instead")
		}
	default:
		d.Errorf(v, "expect needs reply (the bytes that must come back) or closed: true")
	}
	return e
}

func decodeIntentionRef(d *Decoder, n *yaml.Node, what string) *api.IntentionCheck {
	f := d.Fields(n, what, "source", "destination")
	f.Require(n, "source", "destination")
	return &api.IntentionCheck{Source: f.String("source"), Destination: f.String("destination"), SourceType: api.IntentionSourceConsul}
}

func (e *expect) String() string {
	var outcome string
	switch {
	case e.intention != nil:
		verdict := "denied"
		if e.allowed {
			verdict = "allowed"
		}
		return fmt.Sprintf("intention %s -> %s %s", e.intention.Source, e.intention.Destination, verdict)
	case e.closed:
		outcome = "closes with no reply"
	default:
		outcome = "replies " + Quote(e.reply)
	}
	if e.probe != nil {
		if e.send != "" {
			return fmt.Sprintf("%s to %s %s", Quote([]byte(e.send)), e.probe, outcome)
		}
		return fmt.Sprintf("%s %s", e.probe, outcome)
	}
	return fmt.Sprintf("connection %s %s", e.conn, outcome)
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
	var got bool
	cond := wait.Func("the intention decision", func(ctx context.Context) error {
		allowed, _, err := client.Connect().IntentionCheck(e.intention, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return err
		}
		if got = allowed; got != e.allowed {
			return fmt.Errorf("allowed is %t", got)
		}
		return nil
	})
	if err := wait.For(ctx, cond, wait.Options{Timeout: e.within, Alive: aliveAll(env, AgentName)}); err != nil {
		return WithLogs(fmt.Errorf("expected %s -> %s allowed: %t, got %w", e.intention.Source, e.intention.Destination, e.allowed, err), AgentName)
	}
	return nil
}

func (e *expect) runConn(ctx context.Context, env Env) error {
	c, err := env.Conn(e.conn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.within)
	defer cancel()
	var verdict error
	waitErr := c.Await(ctx, func(rcv []byte, ended error) (int, bool) {
		consumed, done, err := e.judge(rcv, ended)
		verdict = err
		return consumed, done
	})
	if waitErr != nil && verdict == nil {
		verdict = errors.New("nothing decided")
	}
	if waitErr != nil || verdict != nil {
		return e.failure(fmt.Sprintf("on connection %s to %s", e.conn, c.Target), verdict, waitErr != nil)
	}
	return nil
}

// judge decides from what a connection returned so far. done with a nil
// error is success; not done means wait for more.
func (e *expect) judge(rcv []byte, ended error) (consumed int, done bool, err error) {
	if e.closed {
		switch {
		case len(rcv) > 0:
			return 0, true, fmt.Errorf("got reply %s", Quote(rcv))
		case ended != nil:
			return 0, true, nil
		}
		return 0, false, errors.New("the connection is still open, no reply")
	}
	switch {
	case len(rcv) >= len(e.reply) && bytes.Equal(rcv[:len(e.reply)], e.reply):
		return len(e.reply), true, nil
	case !HasPrefixOf(rcv, e.reply) && !bytes.HasPrefix(rcv, e.reply):
		return 0, true, fmt.Errorf("got %s", Quote(rcv))
	case ended != nil:
		if len(rcv) == 0 {
			return 0, true, fmt.Errorf("connection %s with no reply", DescribeEnd(ended))
		}
		return 0, true, fmt.Errorf("got only %s, then the connection was %s", Quote(rcv), DescribeEnd(ended))
	}
	if len(rcv) == 0 {
		return 0, false, errors.New("no reply, the connection is still open")
	}
	return 0, false, fmt.Errorf("got only %s so far", Quote(rcv))
}

func (e *expect) failure(where string, got error, timedOut bool) error {
	want := "reply " + Quote(e.reply)
	if e.closed {
		want = "the connection to close with no reply"
	}
	msg := fmt.Sprintf("expected %s %s; %v", want, where, got)
	if timedOut {
		msg += fmt.Sprintf(" (after %s)", e.within)
	}
	var procs []string
	if e.probe != nil {
		procs = e.probe.Processes()
	}
	return WithLogs(errors.New(msg), procs...)
}

func (e *expect) runProbe(ctx context.Context, env Env) error {
	attempts := 0
	var last error
	var addr string
	cond := wait.Func("a probe", func(ctx context.Context) error {
		var err error
		if addr == "" {
			// The upstream's address is fixed by its registration.
			if addr, err = e.probe.Resolve(ctx, env); err != nil {
				addr = ""
			}
		}
		if err == nil {
			attempts++
			err = e.attempt(ctx, addr)
		}
		// An attempt cut short by the deadline says nothing about the
		// mesh; the previous attempt's outcome is the evidence.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		return err
	})
	err := wait.For(ctx, cond, wait.Options{
		Timeout:     e.within,
		MaxInterval: 100 * time.Millisecond,
		Alive:       aliveAll(env, e.probe.Processes()...),
	})
	if err == nil {
		return nil
	}
	if !isTimeout(err) || last == nil {
		return WithLogs(err, e.probe.Processes()...)
	}
	where := fmt.Sprintf("from %s (%d attempts)", e.probe, attempts)
	return e.failure(where, last, true)
}

func isTimeout(err error) bool {
	var te *wait.TimeoutError
	return errors.As(err, &te)
}

// attempt dials afresh, writes, and judges what comes back.
func (e *expect) attempt(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeAttemptLimit)
	defer cancel()
	var dialer net.Dialer
	raw, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("could not connect to %s: %w", addr, err)
	}
	// Never half-close: the built-in proxy drops the whole connection when
	// the client shuts down its write side, before the reply is read.
	c := NewConn(raw, addr)
	defer c.Close()
	if e.send != "" {
		if _, err := c.Write([]byte(e.send)); err != nil {
			return fmt.Errorf("writing to %s: %w", addr, err)
		}
	}
	var verdict error
	waitErr := c.Await(ctx, func(rcv []byte, ended error) (int, bool) {
		_, done, err := e.judge(rcv, ended)
		verdict = err
		return 0, done
	})
	if waitErr != nil && verdict == nil {
		verdict = errors.New("nothing came back")
	}
	return verdict
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
