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
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// Consul's health status is the result of each check's last run: a TCP
// check every 10 s still says passing for up to 10 s after its target
// died, and a check declared passing says so before its first run. A
// claim that an instance is passing therefore rests on evidence about the
// instance now, where there is some: a check that leaves an output each
// run and has none has not run (its passing is declared, no evidence); a
// check with a target (the one its last run's output names, else as the
// scenario registered it, or the sidecar's registered address for
// Consul's default sidecar check) must have its target answered now by a
// live process the scenario started, as a probe's backend must. A TTL,
// script, Docker or OS-service check has nothing the runner can test, nor
// has a check of unknown target: the note says its status is Consul's
// word only (with, for a TTL check, what the book knows beside Consul's
// last note); an alias check's evidence is that of what it follows.

// healthEvidence is what the evidence of one instance says: notes for a
// claim that holds, and what contradicts Consul's status ("" if nothing).
type healthEvidence struct {
	notes    []string
	contrary []string
	interval time.Duration // the longest interval of the contrary checks
	// unrun are checks whose passing is their declared status: Consul has
	// not run them yet; unrunInterval is the longest of their intervals.
	unrun         []string
	unrunInterval time.Duration
	foreign       bool // a contrary target is answered by a process the scenario did not start
	// For a critical claim: whether a critical check of the instance (or
	// its node) was observed so, and the critical ones Consul has not run
	// yet, whose critical is only the status every check starts with.
	criticalSeen  bool
	criticalUnrun []string
}

// foreignError is a check's target answered by a process the scenario
// did not start.
type foreignError struct{ error }

// evidenceOf gathers the evidence about h's checks, an alias's being
// those of what it follows, to any depth; followed holds the instances
// ("node/id"; "node/" for a node's own checks) already on the path, so
// that a cycle of aliases ends.
func (e *expectHealth) evidenceOf(ctx context.Context, env Env, client *api.Client, h healthOf, followed map[string]bool) healthEvidence {
	var ev healthEvidence
	if followed == nil {
		followed = map[string]bool{}
	}
	followed[h.node+"/"+h.id] = true
	defer delete(followed, h.node+"/"+h.id)
	own := 0
	for _, c := range h.checks {
		if c.ServiceID == h.id && c.CheckID != "serfHealth" {
			own++
		}
	}
	if own == 0 && e.status == api.HealthPassing && h.id != "" {
		ev.notes = append(ev.notes, fmt.Sprintf("%s has no check of its own: Consul counts it passing whatever runs, so nothing was tested", h.id))
	}
	local, localErr := e.agentChecks(ctx, env, h)
	if localErr != nil {
		ev.notes = append(ev.notes, fmt.Sprintf("%s on node %s: %v; the catalog's outputs are read instead", h.id, h.node, localErr))
	}
	for _, c := range h.checks {
		// The agent that runs a check has its last run's output at once;
		// the catalog gets an output that changed without the status up
		// to check_update_interval (5 m) later.
		if a, ok := local[c.CheckID]; ok && a.ServiceID == c.ServiceID {
			if a.Status != c.Status && e.status == api.HealthPassing && c.Status == api.HealthPassing {
				ev.contrary = append(ev.contrary, fmt.Sprintf("check %s: the agent that runs it has it %s now, which the catalog has yet to get: %q", c.CheckID, a.Status, clip(a.Output)))
				continue
			}
			withOutput := *c
			withOutput.Output = a.Output
			c = &withOutput
			if a.Interval != "" {
				h.intervals[c.CheckID] = shortDuration(a.Interval)
			}
		}
		// The node's own checks count in the instance's status too; its
		// gossip (serfHealth) is Consul's to judge.
		if c.CheckID == "serfHealth" || c.ServiceID != h.id && c.ServiceID != "" {
			if c.CheckID == "serfHealth" && c.Status == api.HealthCritical {
				ev.criticalSeen = true // the node failed, as serf saw it
			}
			continue
		}
		var def *api.AgentServiceCheck
		defaultSidecar, noRedirects := false, false
		if rc, ok := e.checks[spec.CheckKey{Node: h.bookNode, ID: c.CheckID}]; ok && !h.unknown && rc.Service == c.ServiceID {
			def, defaultSidecar, noRedirects = rc.Def, rc.DefaultSidecar, rc.DisableRedirects
		}
		label := fmt.Sprintf("%s %q", c.CheckID, c.Name)
		if c.CheckID == c.Name || c.Name == "" {
			label = c.CheckID
		}
		// A check registered on its own (a config file's check block, say)
		// has no type in Consul's answer: its definition's, when known.
		typ := c.Type
		if typ == "" && def != nil {
			typ = typeOfDefinition(def)
		}
		kind := typ // as messages name it
		if c.ServiceID == "" {
			kind = "node's " + orUnknown(typ)
		}
		interval := h.intervals[c.CheckID]
		if interval == "" && def != nil {
			interval = def.Interval
		}
		if e.status == api.HealthCritical && c.Status == api.HealthCritical {
			if neverRan(c, typ) {
				ev.criticalUnrun = append(ev.criticalUnrun, label)
				if d, err := time.ParseDuration(interval); err == nil {
					ev.unrunInterval = max(ev.unrunInterval, d)
				}
			} else {
				ev.criticalSeen = true
			}
		}
		unrun := e.status == api.HealthPassing && notRunYet(c, typ)
		if unrun {
			every := ""
			if interval != "" {
				every = " (every " + interval + ")"
			}
			ev.unrun = append(ev.unrun, fmt.Sprintf("Consul has not run its %s check %s%s yet: its passing is the status the registration declared, no observation", kind, label, every))
			if d, err := time.ParseDuration(interval); err == nil {
				ev.unrunInterval = max(ev.unrunInterval, d)
			}
		}
		switch typ {
		case "tcp", "http", "grpc", "h2ping", "udp":
			if e.status != api.HealthPassing {
				continue
			}
			target, how := checkTarget(typ, def, defaultSidecar, h.addr)
			// Consul's last run names the target it tested: the check's
			// definition as Consul has it, whatever re-registered it since
			// the scenario's register step (an exec, the API). Which of the
			// two is newer cannot be told (Consul keeps a re-registered
			// check's last output), so where both are known each must be
			// answered now.
			type look struct {
				target, how string
				def         *api.AgentServiceCheck
				noRedirects bool
			}
			looks := []look{{target, how, def, noRedirects}}
			if ran, method, ok := targetInOutput(typ, c.Output); ok && ran != target {
				ranDef := def
				if typ == "http" {
					// The rest of the definition is not known: the request
					// is Consul's with its method and URL only.
					ranDef = &api.AgentServiceCheck{HTTP: ran, Method: method}
				}
				if target == "" {
					looks = []look{{ran, " (the target Consul's last run of it names; its definition is not among the scenario's registrations)", ranDef, false}}
				} else {
					looks[0].how = fmt.Sprintf(" (as the scenario registered it; Consul's last run of it names %s: the check was registered again, before or after that run)", ran)
					looks = append(looks, look{ran, fmt.Sprintf(" (the target Consul's last run of it names, not %s as the scenario registered it: the check was registered again, before or after that run)", target), ranDef, false})
				}
			}
			if env.External() {
				ev.notes = append(ev.notes, fmt.Sprintf("%s (%s) not tested: an existing cluster's processes run on its machines, so its passing is Consul's word", label, strings.TrimSpace(typ+" "+looks[len(looks)-1].target)))
				continue
			}
			if looks[0].target == "" && unrun {
				continue
			}
			if looks[0].target == "" {
				ev.notes = append(ev.notes, fmt.Sprintf("%s: a %s check whose definition is not among the scenario's registrations on node %s (added by an exec step or the HTTP API, say), so its target is unknown: its passing is Consul's word only (nothing tested)", label, kind, h.node))
				continue
			}
			for _, l := range looks {
				got, err := answered(ctx, onCatalogNode(env, h.node), typ, l.def, l.noRedirects, l.target)
				if err != nil {
					every := ""
					if interval != "" {
						every = " (every " + interval + ")"
					}
					ev.contrary = append(ev.contrary, fmt.Sprintf("%s check %s%s tests %s%s, where %v", kind, label, every, l.target, l.how, err))
					var fe foreignError
					ev.foreign = ev.foreign || errors.As(err, &fe)
					if d, err := time.ParseDuration(interval); err == nil {
						ev.interval = max(ev.interval, d)
					}
					break
				}
				if protocol := protocolOf[typ]; protocol != "" {
					// Only the connection is tested: that the process speaks the
					// protocol is Consul's word, from its run (rule: a declared
					// passing, never run, is no evidence at all).
					got += fmt.Sprintf("; a connection was accepted only: %s is Consul's word, from its last run", protocol)
				}
				ev.notes = append(ev.notes, fmt.Sprintf("%s tests %s%s: %s", label, l.target, l.how, got))
			}
		case "ttl":
			n := label + ": a TTL check, whose status is Consul's word only (nothing to test)"
			// The book knows the scenario's check steps only: an exec or
			// the API may have set it since. Consul's output is the last
			// update's note.
			out := strings.TrimSpace(c.Output)
			u, ok := e.ttlSet[spec.CheckKey{Node: h.bookNode, ID: c.CheckID}]
			switch {
			case ok && !h.unknown && u.Status == c.Status && u.Note == out:
				n += fmt.Sprintf("; the last check step of this scenario to set it set it %s, at %s, with the note Consul has (%q), though something else may have set it so since", u.Status, u.Pos, out)
			case ok && !h.unknown:
				n += fmt.Sprintf("; the last check step of this scenario to set it set it %s, at %s, with the note %q, but Consul has it %s with the note %q: something else (an exec step, the API) set it since", u.Status, u.Pos, u.Note, c.Status, out)
			case out != "":
				n += fmt.Sprintf("; no check step of this scenario set it; Consul has the note %q from its last update", out)
			default:
				n += "; no check step of this scenario set it"
			}
			ev.notes = append(ev.notes, n)
		case "alias":
			switch {
			case e.status != api.HealthPassing:
				ev.notes = append(ev.notes, fmt.Sprintf("%s: an alias check, Consul's word only", label))
				continue
			case def == nil:
				ev.notes = append(ev.notes, fmt.Sprintf("%s: an alias check whose definition is not among the scenario's registrations, Consul's word only (what it follows is unknown)", label))
				continue
			}
			// Consul's alias follows the service (or, with no service, the
			// node's own checks) on its own agent's node, or on alias_node
			// through the catalog; the node's own checks count either way.
			node := h.node
			if def.AliasNode != "" {
				node = def.AliasNode
			}
			what := def.AliasService
			if what == "" {
				what = "node " + node + "'s own checks"
			} else if node != h.node {
				what += " on node " + node
			}
			if followed[node+"/"+def.AliasService] {
				ev.notes = append(ev.notes, fmt.Sprintf("%s follows %s, which the aliases followed so far lead from: a cycle, Consul's word only", label, what))
				continue
			}
			sub, err := followedHealth(ctx, client, node, def.AliasService, node != h.node)
			if err != nil {
				ev.notes = append(ev.notes, fmt.Sprintf("%s: an alias check of %s, Consul's word only (%v)", label, what, err))
				continue
			}
			sub.bookNode, sub.unknown = h.bookNode, h.unknown
			if node != h.node {
				// Another node's definitions are its own: the scenario's
				// node of that name, none on an agent it did not start.
				sub.bookNode, sub.unknown = node, !e.onNodes
			}
			more := e.evidenceOf(ctx, env, client, sub, followed)
			for _, n := range more.notes {
				ev.notes = append(ev.notes, fmt.Sprintf("%s follows %s, whose %s", label, what, n))
			}
			for _, c := range more.contrary {
				ev.contrary = append(ev.contrary, fmt.Sprintf("alias check %s follows %s, whose %s", label, what, c))
			}
			for _, u := range more.unrun {
				ev.unrun = append(ev.unrun, fmt.Sprintf("alias check %s follows %s, where %s", label, what, u))
			}
			ev.interval = max(ev.interval, more.interval)
			ev.unrunInterval = max(ev.unrunInterval, more.unrunInterval)
			ev.foreign = ev.foreign || more.foreign
		default:
			ev.notes = append(ev.notes, fmt.Sprintf("%s: a %s check the agent runs, whose status is Consul's word only (nothing the runner can test)", label, orUnknown(typ)))
		}
	}
	if e.status == api.HealthCritical && !ev.criticalSeen && len(ev.criticalUnrun) > 0 {
		// Every check starts critical: one Consul has not run says
		// nothing yet, as a declared passing does not.
		ev.unrun = append(ev.unrun, fmt.Sprintf("Consul has not run its check %s yet: its critical is the status every check starts with, no observation",
			strings.Join(ev.criticalUnrun, ", ")))
	}
	return ev
}

// targetInOutput is the target a passing check's output names, as
// Consul's checks write it (agent/checks/check.go): "TCP connect ADDR:
// Success", "UDP connect ADDR: Success", "gRPC check ADDR[/SERVICE]:
// success", "HTTP METHOD URL: STATUS Output: BODY". An H2 ping's names
// none.
func targetInOutput(typ, output string) (target, method string, ok bool) {
	cut := func(prefix, suffix string) (string, bool) {
		rest, found := strings.CutPrefix(output, prefix)
		if !found {
			return "", false
		}
		target, _, found = strings.Cut(rest, suffix)
		return target, found && target != ""
	}
	switch typ {
	case "tcp":
		target, ok = cut("TCP connect ", ": Success")
	case "udp":
		target, ok = cut("UDP connect ", ": Success")
	case "grpc":
		target, ok = cut("gRPC check ", ": success")
		target, _, _ = strings.Cut(target, "/")
	case "http":
		rest, _ := strings.CutPrefix(output, "HTTP ")
		var hasMethod, hasStatus bool
		method, rest, hasMethod = strings.Cut(rest, " ")
		target, _, hasStatus = strings.Cut(rest, ": ")
		ok = strings.HasPrefix(output, "HTTP ") && hasMethod && hasStatus && strings.Contains(target, "://")
	}
	if !ok {
		return "", "", false
	}
	return target, method, ok
}

// protocolOf is what a check of a type asks beyond a connection, which
// the evidence does not ask.
var protocolOf = map[string]string{"grpc": "its gRPC health answer (SERVING)", "h2ping": "its HTTP/2 ping answer"}

// leavesOutput are the check types whose every run sets an Output
// (agent/checks/check.go, alias.go: "TCP connect ADDR: Success", "HTTP
// GET URL: 200 OK Output: ...", "gRPC check ADDR: success", "HTTP2 ping
// was successful", "UDP connect ADDR: Success", "All checks passing.").
// A TTL check's output is its last update's note and a script may print
// nothing: an empty output says nothing of them.
var leavesOutput = map[string]bool{"tcp": true, "http": true, "grpc": true, "h2ping": true, "udp": true, "alias": true}

// notRunYet says whether c's passing is the status its registration
// declared, Consul not having run it yet: a check that always leaves an
// output has none.
func notRunYet(c *api.HealthCheck, typ string) bool {
	return c.Status == api.HealthPassing && neverRan(c, typ)
}

// neverRan says whether c, of a type whose every run leaves an output,
// has none: Consul has not run it, and its status is the one it was
// registered with (passing when declared so, critical by default).
func neverRan(c *api.HealthCheck, typ string) bool {
	return leavesOutput[typ] && strings.TrimSpace(c.Output) == ""
}

// typeOfDefinition is the type Consul gives a check of definition def
// (structs.CheckType's Type).
func typeOfDefinition(def *api.AgentServiceCheck) string {
	every := def.Interval != "" && def.Interval != "0" && def.Interval != "0s"
	switch {
	case def.GRPC != "" && every:
		return "grpc"
	case def.HTTP != "" && every:
		return "http"
	case def.TTL != "" && def.TTL != "0s":
		return "ttl"
	case def.TCP != "" && every:
		return "tcp"
	case def.UDP != "" && every:
		return "udp"
	case def.AliasService != "" || def.AliasNode != "":
		return "alias"
	case len(def.Args) > 0 && def.DockerContainerID != "" && every:
		return "docker"
	case len(def.Args) > 0:
		return "script"
	case def.H2PING != "" && every:
		return "h2ping"
	}
	return ""
}

// agentChecks are the checks of the agent that runs h's, by check ID;
// nil when that agent is not the scenario's.
func (e *expectHealth) agentChecks(ctx context.Context, env Env, h healthOf) (map[string]checkWithInterval, error) {
	at := env
	switch {
	case h.unknown || env.External():
		return nil, nil
	case e.onNodes && !slices.Contains(env.Cluster().Nodes, h.node):
		return nil, nil
	case e.onNodes:
		at = env.On(h.node)
	}
	client, err := at.Consul()
	if err != nil {
		return nil, fmt.Errorf("no client of its agent (%v)", err)
	}
	checks := map[string]checkWithInterval{}
	if _, err := client.Raw().Query("/v1/agent/checks", &checks, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return nil, fmt.Errorf("its agent's checks cannot be read (%v)", err)
	}
	for id, c := range checks {
		if c.HealthCheck == nil {
			delete(checks, id)
		}
	}
	return checks, nil
}

// clip shortens a check's output for a message.
func clip(out string) string {
	out = strings.TrimSpace(out)
	if len(out) > 120 {
		out = out[:117] + "..."
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// followedHealth is the service instance id on node as the catalog has
// it, for an alias check's evidence: with id "", the node's own checks;
// with nodeChecks, the node's own checks beside the instance's.
func followedHealth(ctx context.Context, client *api.Client, node, id string, nodeChecks bool) (healthOf, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	cn, _, err := client.Catalog().Node(node, q)
	if err != nil {
		return healthOf{}, fmt.Errorf("reading node %s from the catalog: %w", node, err)
	}
	if cn == nil {
		return healthOf{}, fmt.Errorf("the catalog has no node %s", node)
	}
	svc := cn.Services[id]
	if id == "" {
		svc = &api.AgentService{} // the node's own checks
	}
	if svc == nil {
		return healthOf{}, fmt.Errorf("the catalog has no %s on node %s", id, node)
	}
	var raw []checkWithInterval
	if _, err := client.Raw().Query("/v1/health/node/"+url.PathEscape(node), &raw, q); err != nil {
		return healthOf{}, fmt.Errorf("reading node %s's checks: %w", node, err)
	}
	checks, intervals := splitIntervals(raw)
	h := healthOf{id: id, node: node, intervals: intervals, addr: net.JoinHostPort(dialHost(svc.Address, cn.Node.Address), fmt.Sprint(svc.Port))}
	for _, c := range checks {
		// The node's own count, as Consul's alias counts them: when they
		// are another node's than the alias's instance (whose own are
		// judged with it).
		if c.ServiceID == id && id != "" || c.ServiceID == "" && (nodeChecks || id == "") {
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
func answered(ctx context.Context, at Env, typ string, def *api.AgentServiceCheck, noRedirects bool, target string) (string, error) {
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
	req, hc, err := consulHTTPCheck(ctx, at, def, noRedirects, target)
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
// ten), unless disable_redirects (noRedirects): then a redirect is the
// answer; the check's timeout (10 s); no keep-alive.
func consulHTTPCheck(ctx context.Context, at Env, def *api.AgentServiceCheck, noRedirects bool, target string) (*http.Request, *http.Client, error) {
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
	if noRedirects {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
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
		every = fmt.Sprintf(", which runs every %s", shortDuration(s.interval.String()))
		suggest = max(2*time.Second, 3*s.interval)
	}
	return fmt.Sprintf("%s, but %s: Consul's status is stale, from the check's last run, before the change%s; "+
		"a claim about the status after a change must give Consul time to see it: add within (e.g. within: %s), and the step waits until Consul's status and the evidence agree",
		s.claim, strings.Join(s.contrary, "; "), every, shortDuration(suggest.String()))
}

// unrunError is Consul's passing that is a registration's declared
// status: a check that leaves an output when it runs has none yet.
type unrunError struct {
	claim    string
	unrun    []string
	interval time.Duration // the longest interval of those checks; 0 if unknown
}

func (u *unrunError) Error() string {
	every, suggest := "", "30s"
	if u.interval > 0 {
		every = fmt.Sprintf(" (%s)", shortDuration(u.interval.String()))
		suggest = shortDuration((u.interval + max(10*time.Second, u.interval/10)).String())
	}
	return fmt.Sprintf("%s, but %s: Consul first runs a check at a moment within its interval%s after registering it; "+
		"add within (e.g. within: %s) and the step waits until Consul has run it and the evidence agrees, or register the check with a shorter interval",
		u.claim, strings.Join(u.unrun, "; "), every, suggest)
}
