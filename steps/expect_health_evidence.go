package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// Consul's health status is the result of each check's last run: a TCP
// check every 10 s still says passing for up to 10 s after its target
// died. A claim that an instance is passing therefore rests on evidence
// about the instance now, where there is some: a check with a target (a
// TCP, HTTP, gRPC, H2 ping or UDP address as the scenario registered it,
// or the sidecar's registered address for Consul's default sidecar check)
// must have its target answered now by a live process the scenario
// started, as a probe's backend must. A TTL, script, Docker or OS-service
// check has nothing the runner can test, nor has a check whose
// definition the scenario did not register (an exec step's): the note
// says its status is Consul's word only (with, for a TTL check, where a
// check step last set it); an alias check's evidence is that of the
// checks it follows.

// healthEvidence is what the evidence of one instance says: notes for a
// claim that holds, and what contradicts Consul's status ("" if nothing).
type healthEvidence struct {
	notes    []string
	contrary []string
	interval time.Duration // the longest interval of the contrary checks
	foreign  bool          // a contrary target is answered by a process the scenario did not start
}

// foreignError is a check's target answered by a process the scenario
// did not start.
type foreignError struct{ error }

// evidenceOf gathers the evidence about h's checks (depth counts alias
// hops: an alias's followed service is looked at once, not its aliases).
func (e *expectHealth) evidenceOf(ctx context.Context, env Env, client *api.Client, h healthOf, depth int) healthEvidence {
	var ev healthEvidence
	own := 0
	for _, c := range h.checks {
		if c.ServiceID == h.id {
			own++
		}
	}
	if own == 0 && e.status == api.HealthPassing {
		ev.notes = append(ev.notes, fmt.Sprintf("%s has no check of its own: Consul counts it passing whatever runs, so nothing was tested", h.id))
	}
	for _, c := range h.checks {
		if c.ServiceID != h.id {
			continue // the node's own (serfHealth): Consul's gossip
		}
		var def *api.AgentServiceCheck
		defaultSidecar := false
		if rc, ok := e.checks[spec.CheckKey{Node: h.bookNode, ID: c.CheckID}]; ok && !h.unknown && rc.Service == h.id {
			def, defaultSidecar = rc.Def, rc.DefaultSidecar
		}
		label := fmt.Sprintf("%s %q", c.CheckID, c.Name)
		if c.CheckID == c.Name || c.Name == "" {
			label = c.CheckID
		}
		switch c.Type {
		case "tcp", "http", "grpc", "h2ping", "udp":
			if e.status != api.HealthPassing {
				continue
			}
			target, how := checkTarget(c.Type, def, defaultSidecar, h.addr)
			if env.External() {
				ev.notes = append(ev.notes, fmt.Sprintf("%s (%s) not tested: an existing cluster's processes run on its machines, so its passing is Consul's word", label, strings.TrimSpace(c.Type+" "+target)))
				continue
			}
			if target == "" {
				ev.notes = append(ev.notes, fmt.Sprintf("%s: a %s check whose definition is not among the scenario's registrations on node %s (added by an exec step or the HTTP API, say), so its target is unknown: its passing is Consul's word only (nothing tested)", label, c.Type, h.node))
				continue
			}
			got, err := answered(ctx, onCatalogNode(env, h.node), c.Type, def, target)
			if err != nil {
				every := ""
				if def != nil && def.Interval != "" {
					every = " (every " + def.Interval + ")"
				}
				ev.contrary = append(ev.contrary, fmt.Sprintf("%s check %s%s tests %s%s, where %v", c.Type, label, every, target, how, err))
				var fe foreignError
				ev.foreign = ev.foreign || errors.As(err, &fe)
				if def != nil {
					if d, err := time.ParseDuration(def.Interval); err == nil {
						ev.interval = max(ev.interval, d)
					}
				}
				continue
			}
			ev.notes = append(ev.notes, fmt.Sprintf("%s tests %s%s: %s", label, target, how, got))
		case "ttl":
			n := label + ": a TTL check, whose status is Consul's word only (nothing to test)"
			if u, ok := e.ttlSet[spec.CheckKey{Node: h.bookNode, ID: c.CheckID}]; ok && !h.unknown {
				n += fmt.Sprintf("; a check step of this scenario last set it %s, at %s", u.Status, u.Pos)
			} else {
				n += "; no check step of this scenario set it"
			}
			ev.notes = append(ev.notes, n)
		case "alias":
			followed := h.id
			if def != nil {
				followed = def.AliasService
			}
			if def == nil || def.AliasNode != "" || depth > 0 || e.status != api.HealthPassing {
				ev.notes = append(ev.notes, fmt.Sprintf("%s: an alias check, Consul's word only (the checks it follows are not looked at here)", label))
				continue
			}
			sub, err := followedHealth(ctx, client, h.node, followed)
			if err != nil {
				ev.notes = append(ev.notes, fmt.Sprintf("%s: an alias check of %s, Consul's word only (%v)", label, followed, err))
				continue
			}
			sub.bookNode, sub.unknown = h.bookNode, h.unknown
			more := e.evidenceOf(ctx, env, client, sub, depth+1)
			for _, n := range more.notes {
				ev.notes = append(ev.notes, fmt.Sprintf("%s follows %s, whose %s", label, followed, n))
			}
			for _, c := range more.contrary {
				ev.contrary = append(ev.contrary, fmt.Sprintf("alias check %s follows %s, whose %s", label, followed, c))
			}
			ev.interval = max(ev.interval, more.interval)
			ev.foreign = ev.foreign || more.foreign
		default:
			ev.notes = append(ev.notes, fmt.Sprintf("%s: a %s check the agent runs, whose status is Consul's word only (nothing the runner can test)", label, orUnknown(c.Type)))
		}
	}
	return ev
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// followedHealth is the service instance id on node as the catalog has
// it, for an alias check's evidence.
func followedHealth(ctx context.Context, client *api.Client, node, id string) (healthOf, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	cn, _, err := client.Catalog().Node(node, q)
	if err != nil {
		return healthOf{}, fmt.Errorf("reading node %s from the catalog: %w", node, err)
	}
	if cn == nil || cn.Services[id] == nil {
		return healthOf{}, fmt.Errorf("the catalog has no %s on node %s", id, node)
	}
	checks, _, err := client.Health().Node(node, q)
	if err != nil {
		return healthOf{}, fmt.Errorf("reading node %s's checks: %w", node, err)
	}
	svc := cn.Services[id]
	h := healthOf{id: id, node: node, addr: net.JoinHostPort(dialHost(svc.Address, cn.Node.Address), fmt.Sprint(svc.Port))}
	for _, c := range checks {
		if c.ServiceID == id {
			h.checks = append(h.checks, c)
		}
	}
	return h, nil
}

// checkTarget is the address a check of kind typ tests, from its
// definition as the scenario registered it; for Consul's default sidecar
// check, the sidecar's registered address, which is its target. It is ""
// when the definition is unknown (a check added by an exec step, say):
// the instance's address is then no evidence, the check's real target
// being anywhere.
func checkTarget(typ string, def *api.AgentServiceCheck, defaultSidecar bool, registered string) (target, how string) {
	if defaultSidecar {
		return registered, " (the sidecar's registered address, as Consul's default sidecar check)"
	}
	if def == nil {
		return "", ""
	}
	switch typ {
	case "tcp":
		target = def.TCP
	case "udp":
		target = def.UDP
	case "h2ping":
		target = def.H2PING
	case "grpc":
		target, _, _ = strings.Cut(def.GRPC, "/") // host:port/service
	case "http":
		target = def.HTTP
	}
	return target, ""
}

// answered tests target now, from at's node: a process the scenario
// started must hold the listener (or the UDP socket) there, and a TCP
// connection must be taken, or, for an HTTP check with its URL, the
// request must have a 2xx reply. It says who answered.
func answered(ctx context.Context, at Env, typ string, def *api.AgentServiceCheck, target string) (string, error) {
	addr := target
	var u *url.URL
	if typ == "http" && strings.Contains(target, "://") {
		var err error
		if u, err = url.Parse(target); err != nil {
			return "", fmt.Errorf("its URL does not parse: %v", err)
		}
		addr = hostPort(u)
	}
	if typ == "udp" {
		return udpHolder(at, addr)
	}
	ours, foreign := listenerHolder(at, addr)
	switch {
	case foreign != "":
		return "", foreignError{fmt.Errorf("%s listens, which this scenario did not start", foreign)}
	case ours == "":
		return "", fmt.Errorf("no process this scenario started listens now")
	}
	if u == nil {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		conn, err := at.Dial(ctx, "tcp", addr)
		if err != nil {
			return "", fmt.Errorf("a connection is not taken now: %v", err)
		}
		conn.Close()
		return "taken now by " + ours, nil
	}
	req, hc, err := consulHTTPCheck(ctx, at, def, target)
	if err != nil {
		return "", fmt.Errorf("the check's request cannot be made: %v", err)
	}
	method := req.Method
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s has no reply now: %v", method, target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("%s %s is answered %s now, not 2xx", method, target, resp.Status)
	}
	// A redirect elsewhere is followed, as Consul follows it; the answer
	// is then the evidence only if a process of the scenario gave it.
	if final := resp.Request.URL; final.String() != target {
		if finalAddr := hostPort(final); finalAddr != addr {
			ours, foreign = listenerHolder(at, finalAddr)
			switch {
			case foreign != "":
				return "", foreignError{fmt.Errorf("redirected to %s, %s answers, which this scenario did not start", final, foreign)}
			case ours == "":
				return "", fmt.Errorf("redirected to %s, where no process this scenario started listens now", final)
			}
		}
		return fmt.Sprintf("%s answered %s now by %s, redirected to %s", method, resp.Status, ours, final), nil
	}
	return fmt.Sprintf("%s answered %s now by %s", method, resp.Status, ours), nil
}

// hostPort is u's host and port, the scheme's port when it has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// consulHTTPCheck is the request of an HTTP check and the client that
// makes it, as Consul's agent makes them (agent/checks/check.go
// CheckHTTP, without agent TLS for checks): the check's method (GET),
// headers, Host header as the request's host, Consul's User-Agent and
// Accept unless given, its body; TLS verified unless tls_skip_verify,
// with tls_server_name; redirects followed as Go's client does (up to
// ten); the check's timeout (10 s); no keep-alive.
func consulHTTPCheck(ctx context.Context, at Env, def *api.AgentServiceCheck, target string) (*http.Request, *http.Client, error) {
	method := def.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(def.Body))
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range def.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", consulCheckUserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/plain, text/*, */*")
	}
	timeout := 10 * time.Second
	if d, err := time.ParseDuration(def.Timeout); err == nil && d > 0 {
		timeout = d
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: at.Dial, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: def.TLSSkipVerify, ServerName: def.TLSServerName}}}
	return req, hc, nil
}

// consulCheckUserAgent is the User-Agent of Consul's HTTP checks
// (checks.UserAgent).
const consulCheckUserAgent = "Consul Health Check"

// udpHolder says which process of the scenario holds the UDP socket
// bound at addr in at's node.
func udpHolder(at Env, addr string) (string, error) {
	want, err := wait.ResolveTCP(addr)
	if err != nil {
		return "", fmt.Errorf("the address does not resolve: %v", err)
	}
	var bound []sockets.Listener
	_ = at.Inside(func() error { bound, err = sockets.UDPBound(); return nil })
	if err != nil {
		return "", fmt.Errorf("the UDP sockets cannot be read: %v", err)
	}
	var foreign string
	for _, l := range bound {
		if !l.Covers(want) {
			continue
		}
		for _, h := range sockets.Holders(l.Inode) {
			if name := at.OwnerOf(h.PID, h.PGID); name != "" {
				return fmt.Sprintf("bound now by %s, %s", name, h), nil
			}
			foreign = h.String()
		}
	}
	if foreign != "" {
		return "", foreignError{fmt.Errorf("%s holds the UDP socket, which this scenario did not start", foreign)}
	}
	return "", fmt.Errorf("no process this scenario started has a UDP socket bound there now")
}

// staleError is Consul's status contradicted by evidence about the
// instance now: the status is from a check's last run, before a change.
type staleError struct {
	claim    string
	contrary []string
	interval time.Duration // the longest interval of the checks, as registered; 0 if unknown
	foreign  bool          // a target is answered, by a process the scenario did not start
}

func (s *staleError) Error() string {
	if s.foreign {
		return fmt.Sprintf("%s, but %s: Consul's passing may be that process's doing, not the scenario's service's; stop it, or start the service with a run step",
			s.claim, strings.Join(s.contrary, "; "))
	}
	every := ""
	suggest := 10 * time.Second
	if s.interval > 0 {
		every = fmt.Sprintf(", which runs every %s", s.interval)
		suggest = max(2*time.Second, 3*s.interval)
	}
	return fmt.Sprintf("%s, but %s: Consul's status is stale, from the check's last run, before the change%s; "+
		"a claim about the status after a change must give Consul time to see it: add within (e.g. within: %s), and the step waits until Consul's status and the evidence agree",
		s.claim, strings.Join(s.contrary, "; "), every, suggest)
}
