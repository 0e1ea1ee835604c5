package steps

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// A probe that ends with no reply proves nothing by itself: a deny, a dead
// backend, a backend that closes at once and a broken path all look the
// same to the client. Evidence gathers, independently of the probe, what
// the mesh itself says about the path SOURCE -> DESTINATION:
//
//   - the agent's authorization decision for the source's identity
//     (/v1/agent/connect/authorize), with the intention that decided it;
//   - an mTLS handshake to each destination sidecar's public listener with
//     the source's own leaf certificate, which the built-in proxy refuses
//     with a TLS "bad certificate" alert when its authz call is denied;
//   - whether the destination's backend (the sidecar's local service) has
//     a listening socket, and whose.

// Evidence is what the runner found out about one source -> destination path.
type Evidence struct {
	Source, Destination string

	// Authorized and Reason are the agent's decision for the source's
	// certificate URI; AuthzErr is set when it could not be asked.
	Authorized bool
	Reason     string
	AuthzErr   error

	// Handshakes says how each destination sidecar treated the source's
	// certificate.
	Handshakes []Handshake
	// Backends says, per destination sidecar, whether its local service
	// listens. BackendsUnchecked says why they were not looked at (the
	// mesh of an existing cluster: its backends run elsewhere).
	Backends          []Backend
	BackendsUnchecked string
}

// Handshake is the outcome of an mTLS handshake with the source's identity.
type Handshake struct {
	Addr    string // the destination sidecar's public listener
	Outcome HandshakeOutcome
	Detail  string
}

// HandshakeOutcome classifies a handshake.
type HandshakeOutcome int

const (
	// RefusedByAuthz: the TLS alert "bad certificate" after our
	// certificate was sent, which is what the proxy's authz denial does.
	RefusedByAuthz HandshakeOutcome = iota
	// Accepted: the connection stayed open to the backend.
	Accepted
	// ClosedBeforeTLS: the proxy closed the connection before any TLS
	// record; the built-in proxy does this when its local service does not
	// accept (it dials the service before the handshake).
	ClosedBeforeTLS
	// ClosedAfterTLS: the handshake completed (the certificate was
	// accepted) and then the connection ended: the backend closed it.
	ClosedAfterTLS
	// Unreachable: nothing accepted the TCP connection (the sidecar is
	// down, although the catalog may still list it).
	Unreachable
	// OtherFailure: anything else (a different alert, a timeout).
	OtherFailure
)

// Backend is a destination sidecar's local service, as registered.
type Backend struct {
	Addr    string
	Holder  string // the scenario's process that listens there; "" when none does
	Foreign string // a process the scenario did not start that listens there
}

// Denied reports whether every piece of evidence agrees that the mesh's
// authorization refused the path, and says why not otherwise.
func (ev *Evidence) Denied() error {
	var problems []string
	switch {
	case ev.AuthzErr != nil:
		problems = append(problems, fmt.Sprintf("the agent's authorization of %s -> %s could not be read: %v", ev.Source, ev.Destination, ev.AuthzErr))
	case ev.Authorized:
		problems = append(problems, fmt.Sprintf("the mesh authorizes %s -> %s (%s)", ev.Source, ev.Destination, ev.Reason))
	}
	if len(ev.Handshakes) == 0 {
		problems = append(problems, fmt.Sprintf("no passing sidecar of %s was found in the catalog to confirm the refusal", ev.Destination))
	}
	for _, h := range ev.Handshakes {
		if h.Outcome != RefusedByAuthz {
			problems = append(problems, fmt.Sprintf("the sidecar of %s on %s %s", ev.Destination, h.Addr, h.Detail))
		}
	}
	for _, b := range ev.Backends {
		switch {
		case b.Holder == "" && b.Foreign != "":
			problems = append(problems, fmt.Sprintf("the backend of %s (%s) is %s, which this scenario did not start", ev.Destination, b.Addr, b.Foreign))
		case b.Holder == "":
			problems = append(problems, fmt.Sprintf("the backend of %s (%s) is down: nothing listens there, so a close cannot be told from a dead backend", ev.Destination, b.Addr))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Summary says in one line what the evidence shows.
func (ev *Evidence) Summary() string {
	var parts []string
	switch {
	case ev.AuthzErr != nil:
		parts = append(parts, "authorization unknown: "+ev.AuthzErr.Error())
	case ev.Authorized:
		parts = append(parts, "authorized: "+ev.Reason)
	default:
		parts = append(parts, "denied: "+ev.Reason)
	}
	for _, h := range ev.Handshakes {
		parts = append(parts, fmt.Sprintf("%s's sidecar on %s %s", ev.Destination, h.Addr, h.Detail))
	}
	for _, b := range ev.Backends {
		if b.Holder == "" {
			parts = append(parts, fmt.Sprintf("backend %s: nothing listens", b.Addr))
		} else {
			parts = append(parts, fmt.Sprintf("backend %s up (%s)", b.Addr, b.Holder))
		}
	}
	if ev.BackendsUnchecked != "" {
		parts = append(parts, ev.BackendsUnchecked)
	}
	return strings.Join(parts, "; ")
}

// Cause names, for a connection that ended with no reply, what the
// evidence says ended it.
func (ev *Evidence) Cause() string {
	for _, b := range ev.Backends {
		if b.Holder == "" {
			return fmt.Sprintf("backend down (nothing listens on %s)", b.Addr)
		}
	}
	for _, h := range ev.Handshakes {
		if h.Outcome == Unreachable {
			return fmt.Sprintf("%s's sidecar on %s is down (%s), though the catalog lists it", ev.Destination, h.Addr, h.Detail)
		}
	}
	if ev.AuthzErr == nil && !ev.Authorized {
		return "denied by " + ev.Reason
	}
	for _, h := range ev.Handshakes {
		switch h.Outcome {
		case ClosedBeforeTLS:
			return fmt.Sprintf("reset before TLS by %s's sidecar (%s): its local service did not accept", ev.Destination, h.Addr)
		case ClosedAfterTLS:
			return fmt.Sprintf("closed by %s's backend after the mesh let it through (%s)", ev.Destination, h.Addr)
		}
	}
	if ev.AuthzErr == nil && ev.Authorized {
		return fmt.Sprintf("not a denial: the mesh authorizes %s -> %s (%s), so the backend or the path closed it", ev.Source, ev.Destination, ev.Reason)
	}
	return "unknown"
}

// Gather collects the evidence for the path behind target (SERVICE/UPSTREAM).
func Gather(ctx context.Context, env Env, target Target) (*Evidence, error) {
	if target.Service == "" {
		return nil, fmt.Errorf("%s is an address, not SERVICE/UPSTREAM: there is no mesh identity to check", target)
	}
	if target.Native {
		return GatherPath(ctx, env, target.Service, target.Upstream)
	}
	client, err := env.Consul()
	if err != nil {
		return nil, err
	}
	source, err := SidecarOf(ctx, client, target.Service)
	if err != nil {
		return nil, err
	}
	// The upstream the probe dialled (Target.Resolve picks the same way).
	upstream, err := spec.PickUpstream(source.Proxy.Upstreams, target.Upstream, target.Datacenter)
	if err != nil {
		return nil, fmt.Errorf("the sidecar of %s: %w", target.Service, err)
	}
	switch {
	case upstream.DestinationType == api.UpstreamDestTypePreparedQuery:
		return nil, fmt.Errorf("upstream %q of %s is a prepared query: its destination service is not known in advance", target.Upstream, target.Service)
	case upstream.DestinationPeer != "" || upstream.DestinationNamespace != "" || upstream.DestinationPartition != "":
		return nil, fmt.Errorf("upstream %q of %s leads to another peer, namespace or partition; the runner gathers evidence about its own datacenters' services only", target.Upstream, target.Service)
	}
	dst := env
	if dc := upstream.Datacenter; dc != "" {
		// The destination's datacenter judges the path: ask an agent there.
		node, ok := agentIn(env.Cluster(), dc)
		if !ok {
			return nil, fmt.Errorf("upstream %q of %s leads to datacenter %s, where this scenario runs no agent to ask", target.Upstream, target.Service, dc)
		}
		dst = env.On(node)
	}
	return gatherPath(ctx, env, dst, source.Proxy.DestinationServiceName, upstream.DestinationName)
}

// agentIn names a node whose agent belongs to datacenter: a server first.
func agentIn(c spec.Cluster, datacenter string) (string, bool) {
	for _, server := range []bool{true, false} {
		for _, a := range c.Agents {
			if a.Datacenter == datacenter && a.Server == server {
				return a.Node, true
			}
		}
	}
	return "", false
}

// GatherPath collects the evidence for the identity source reaching the
// service destination.
func GatherPath(ctx context.Context, env Env, source, destination string) (*Evidence, error) {
	return gatherPath(ctx, env, env, source, destination)
}

// gatherPath asks src's agent for the source's leaf and dst's agent (in
// the destination's datacenter) for the decision and the destination's
// sidecars, which it dials from src's node.
func gatherPath(ctx context.Context, src, dst Env, source, destination string) (*Evidence, error) {
	env := src
	client, err := src.Consul()
	if err != nil {
		return nil, err
	}
	dstClient, err := dst.Consul()
	if err != nil {
		return nil, err
	}
	ev := &Evidence{Source: source, Destination: destination}
	q := (&api.QueryOptions{}).WithContext(ctx)
	// The questions are independent, and so are the sidecars: asked side
	// by side, a deny's evidence costs its slowest answer, not their sum.
	var (
		wg                sync.WaitGroup
		leaf              *api.LeafCert
		roots             *api.CARootList
		entries           []*api.ServiceEntry
		leafErr, rootsErr error
		healthErr         error
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if leaf, _, leafErr = client.Agent().ConnectCALeaf(ev.Source, q); leafErr != nil {
			return
		}
		authz, err := dstClient.Agent().ConnectAuthorize(&api.AgentAuthorizeParams{Target: ev.Destination, ClientCertURI: leaf.ServiceURI})
		if err != nil {
			ev.AuthzErr = err
		} else {
			ev.Authorized, ev.Reason = authz.Authorized, authz.Reason
		}
	}()
	go func() { defer wg.Done(); roots, _, rootsErr = client.Agent().ConnectCARoots(q) }()
	go func() {
		defer wg.Done()
		entries, _, healthErr = dstClient.Health().Connect(ev.Destination, "", true, q)
	}()
	wg.Wait()
	switch {
	case leafErr != nil:
		return nil, WithLogs(fmt.Errorf("getting %s's leaf certificate from the agent: %w", ev.Source, leafErr), spec.AgentName)
	case rootsErr != nil:
		return nil, WithLogs(fmt.Errorf("reading the Connect CA roots: %w", rootsErr), spec.AgentName)
	case healthErr != nil:
		return nil, WithLogs(fmt.Errorf("looking up the sidecars of %s: %w", ev.Destination, healthErr), spec.AgentName)
	}
	// Each backend is looked at before any handshake: the built-in proxy
	// dials its local service when a connection comes, even one it then
	// refuses, and a backend that a connection kills must not be seen
	// alive. This runs after the probe's connection closed, so "the
	// backend was up" holds for the moment of the deny.
	for _, e := range entries {
		switch {
		case dst.External():
			ev.BackendsUnchecked = "the backends of an existing cluster's sidecars run on its machines, not checked here"
		case e.Service.Proxy != nil && e.Service.Proxy.LocalServicePort != 0:
			ev.Backends = append(ev.Backends, backendOf(onCatalogNode(dst, e.Node.Node), e.Service.Proxy))
		}
	}
	// The handshakes, one per destination sidecar, side by side.
	ev.Handshakes = make([]Handshake, len(entries))
	for i, e := range entries {
		addr := net.JoinHostPort(dialHost(e.Service.Address, e.Node.Address), strconv.Itoa(e.Service.Port))
		wg.Add(1)
		go func() { defer wg.Done(); ev.Handshakes[i] = handshakeAs(ctx, env, addr, leaf, roots, ev.Destination) }()
	}
	wg.Wait()
	return ev, nil
}

func dialHost(addr, nodeAddr string) string {
	switch addr {
	case "", "0.0.0.0", "::":
		if nodeAddr != "" {
			return nodeAddr
		}
		return "127.0.0.1"
	}
	return addr
}

// backendOf finds who listens on a sidecar's local service address. Only a
// process the scenario started counts as the backend: a stray listener
// there would make a dead backend look alive.
func backendOf(env Env, p *api.AgentServiceConnectProxyConfig) Backend {
	host := p.LocalServiceAddress
	if host == "" {
		host = "127.0.0.1"
	}
	b := Backend{Addr: net.JoinHostPort(host, strconv.Itoa(p.LocalServicePort))}
	b.Holder, b.Foreign = listenerHolder(env, b.Addr)
	return b
}

// backendProcesses names the processes this scenario started that serve
// the destination of a SERVICE/UPSTREAM target: whoever listens on each of
// its sidecars' local service address, on the sidecar's node. Their logs
// explain a probe that failed behind the mesh (a backend that crashed on
// its input). Best effort: nil when the catalog cannot say.
func backendProcesses(ctx context.Context, env Env, t Target) []string {
	if t.Service == "" || t.Native {
		return nil
	}
	client, err := env.Consul()
	if err != nil {
		return nil
	}
	source, err := SidecarOf(ctx, client, t.Service)
	if err != nil {
		return nil
	}
	u, err := spec.PickUpstream(source.Proxy.Upstreams, t.Upstream, t.Datacenter)
	if err != nil || (u.DestinationType != "" && u.DestinationType != api.UpstreamDestTypeService) {
		return nil
	}
	proxies, _, err := client.Catalog().Connect(u.DestinationName, "", (&api.QueryOptions{Datacenter: u.Datacenter}).WithContext(ctx))
	if err != nil {
		return nil
	}
	var names []string
	for _, p := range proxies {
		if p.ServiceProxy == nil {
			continue
		}
		at := env
		if _, ok := env.NodeAddr(p.Node); ok {
			at = env.On(p.Node)
		}
		host := p.ServiceProxy.LocalServiceAddress
		if host == "" {
			host = "127.0.0.1"
		}
		ours, _ := listenerHolder(at, net.JoinHostPort(host, strconv.Itoa(p.ServiceProxy.LocalServicePort)))
		if name, _, _ := strings.Cut(ours, ", "); name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// listenerHolder says who listens on addr in env's node: ours names a
// process the scenario started (with the holder's pid and command), else
// foreign describes a holder the scenario did not start; both are empty
// when nothing listens there.
func listenerHolder(env Env, addr string) (ours, foreign string) {
	tcp, err := wait.ResolveTCP(addr)
	if err != nil {
		return "", ""
	}
	if env, err = receiver(env, tcp.IP); err != nil {
		return "", ""
	}
	// The listeners that take the connections, as the kernel picks them;
	// a foreign one among them is named before any of ours.
	var found []sockets.Listener
	_ = env.Inside(func() error { found, _ = sockets.Taking(tcp); return nil })
	for _, l := range found {
		for _, h := range sockets.Holders(l.Inode) {
			if name := env.OwnerOf(h.PID, h.PGID); name != "" {
				if ours == "" {
					ours = fmt.Sprintf("%s, %s", name, h)
				}
				continue
			}
			foreign = h.String()
		}
	}
	if foreign != "" {
		return "", foreign
	}
	return ours, ""
}

// DialNative connects to a passing sidecar of destination as a
// Connect-native client with source's identity (its leaf certificate from
// the agent), picking one at random as the built-in proxy does, and checks
// that the sidecar presents destination's certificate. An authorization
// refusal arrives later, as a TLS alert on the first read.
func DialNative(ctx context.Context, env Env, source, destination string) (net.Conn, string, error) {
	client, err := env.Consul()
	if err != nil {
		return nil, "", err
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	leaf, _, err := client.Agent().ConnectCALeaf(source, q)
	if err != nil {
		return nil, "", WithLogs(fmt.Errorf("getting %s's leaf certificate from the agent: %w", source, err), spec.AgentName)
	}
	roots, _, err := client.Agent().ConnectCARoots(q)
	if err != nil {
		return nil, "", WithLogs(fmt.Errorf("reading the Connect CA roots: %w", err), spec.AgentName)
	}
	entries, _, err := client.Health().Connect(destination, "", true, q)
	if err != nil {
		return nil, "", WithLogs(fmt.Errorf("looking up the sidecars of %s: %w", destination, err), spec.AgentName)
	}
	if len(entries) == 0 {
		return nil, "", fmt.Errorf("no passing sidecar of %s in the catalog", destination)
	}
	e := entries[rand.IntN(len(entries))]
	addr := net.JoinHostPort(dialHost(e.Service.Address, e.Node.Address), strconv.Itoa(e.Service.Port))
	cfg, err := clientTLS(leaf, roots, destination)
	if err != nil {
		return nil, addr, err
	}
	raw, err := env.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, addr, fmt.Errorf("could not connect to %s's sidecar on %s: %w", destination, addr, err)
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, addr, fmt.Errorf("the TLS handshake with %s's sidecar on %s: %w", destination, addr, err)
	}
	return conn, addr, nil
}

// clientTLS is a Connect client's TLS configuration: source's leaf, and the
// server verified against Consul's roots and destination's SPIFFE identity.
func clientTLS(leaf *api.LeafCert, roots *api.CARootList, destination string) (*tls.Config, error) {
	cert, err := tls.X509KeyPair([]byte(leaf.CertPEM), []byte(leaf.PrivateKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("the leaf certificate does not parse: %w", err)
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // verified below, as Connect does
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			var chain []*x509.Certificate
			for _, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				chain = append(chain, c)
			}
			return VerifyServiceCert(chain, roots, destination)
		},
	}, nil
}

// handshakeAs dials a destination sidecar's public listener with the
// source's leaf certificate and classifies what happens.
func handshakeAs(ctx context.Context, env Env, addr string, leaf *api.LeafCert, roots *api.CARootList, destination string) Handshake {
	h := Handshake{Addr: addr, Outcome: OtherFailure}
	cfg, err := clientTLS(leaf, roots, destination)
	if err != nil {
		h.Detail = "could not be tried: " + err.Error()
		return h
	}
	var serverErr error
	verify := cfg.VerifyPeerCertificate
	cfg.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		serverErr = verify(raw, chains)
		return serverErr
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	raw, err := env.Dial(ctx, "tcp", addr)
	if err != nil {
		h.Outcome, h.Detail = Unreachable, "does not accept connections: "+err.Error()
		return h
	}
	conn := tls.Client(raw, cfg)
	if err = conn.HandshakeContext(ctx); err != nil {
		conn.Close()
	} else {
		defer conn.Close()
		// In TLS 1.3 the server judges the client's certificate after the
		// client has finished its side of the handshake: a refusal arrives
		// as an alert on the first read.
		deadline, _ := ctx.Deadline()
		_ = conn.SetReadDeadline(deadline)
		_, err = conn.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			h.Outcome, h.Detail = Accepted, "accepted the source's certificate (the connection stayed open)"
			return h
		}
		if err == nil {
			h.Outcome, h.Detail = Accepted, "accepted the source's certificate (bytes came back)"
			return h
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			h.Outcome, h.Detail = ClosedAfterTLS, "accepted the source's certificate, then the connection ended ("+DescribeEnd(err)+"): the backend closed it"
			return h
		}
	}
	switch {
	case serverErr != nil:
		h.Detail = "presented a certificate that is not " + destination + "'s: " + serverErr.Error()
	case err != nil && strings.Contains(err.Error(), "bad certificate"):
		h.Outcome, h.Detail = RefusedByAuthz, "refused the source's certificate (TLS alert: bad certificate)"
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		h.Outcome, h.Detail = ClosedBeforeTLS, "closed the connection before or during TLS ("+DescribeEnd(err)+"); the built-in proxy does this when its local service does not accept"
	default:
		h.Detail = fmt.Sprintf("failed otherwise: %v", err)
	}
	return h
}
