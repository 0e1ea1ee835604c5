package steps

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// sendType is the send step.
var sendType = Typed(Type{
	Name:    "send",
	Cluster: Reads(),
	Summary: "opens a TCP connection (or uses the named open one) and writes data; replies are read in the background for later expects",
	Example: `- send: {to: web/socat, data: "hello\n", conn: long-lived}`,
	Timeout: 10 * time.Second,
}, buildSend)

// SendSpec is the value of a send step: to opens a connection, conn alone
// writes on an open one.
type SendSpec struct {
	To   *Target `key:"to" doc:"where to connect: SERVICE/UPSTREAM (that service's upstream listener, looked up on the agent) or host:port"`
	Data *string `key:"data" doc:"the bytes to write"`
	Conn *string `key:"conn" shape:"NAME" doc:"names the connection: the one to open with to (default: named after the step), or the open one to write on"`
	// HeldBy turns the note about who holds a bare address into a claim.
	HeldBy *string `key:"held-by" shape:"PROCESS" doc:"with to: HOST:PORT, the process the scenario started (a run name, agent, sidecar/SERVICE) whose family must hold the listener there, else the step fails naming the holder"`
}

type send struct {
	target Target
	data   string
	conn   string
	open   bool // dial a new connection rather than write on conn
	heldBy string
}

func buildSend(d *spec.Decoder, val *SendSpec, f *spec.Fields) Step {
	v := f.At()
	s := &send{data: deref(val.Data), conn: deref(val.Conn)}
	switch {
	case val.To != nil:
		s.open = true
		s.target = *val.To
		s.conn = d.OpenConn(s.conn, v)
		if val.HeldBy != nil {
			s.heldBy = *val.HeldBy
			if s.target.Addr == "" && s.target.Service != "" {
				d.Errorf(f.KeyOf(&val.HeldBy), "send.held-by is for to: HOST:PORT; to: SERVICE/UPSTREAM is checked to be that service's sidecar already")
			} else if s.heldBy != "" {
				d.Use(spec.KindProcess, s.heldBy, f.NodeOf(&val.HeldBy))
			}
		}
	case val.Conn != nil:
		if val.HeldBy != nil {
			d.Errorf(f.KeyOf(&val.HeldBy), "send.held-by goes with to: HOST:PORT (the connection it opens)")
		}
		if val.Data == nil {
			d.Errorf(v, "send on connection %q needs data to write", s.conn)
		}
		if d.Use(spec.KindConn, s.conn, f.NodeOf(&val.Conn)) {
			d.SetLastConn(s.conn)
		}
	default:
		d.Errorf(v, "send needs to (where to connect) or conn (an open connection to write on)")
	}
	return s
}

func (s *send) String() string {
	where := "on " + s.conn
	if s.open {
		where = "to " + s.target.String()
	}
	if s.data == "" {
		return "open " + where
	}
	return fmt.Sprintf("%s %s", Quote([]byte(s.data)), where)
}

func (s *send) Run(ctx context.Context, env Env) error {
	if s.open {
		from := s.target.From(env)
		addr, err := s.target.Resolve(ctx, from)
		if err != nil {
			return err
		}
		c, err := from.Dial(ctx, "tcp", addr)
		if err != nil {
			return WithLogs(fmt.Errorf("connecting to %s (%s): %w", s.target, addr, err), s.target.Processes()...)
		}
		env.AddConn(s.conn, NewConn(c, s.target.String()))
		if s.target.Addr != "" {
			// A bare address says nothing of who answers it: the notes
			// do, and held-by makes it a claim.
			ours, foreign := listenerHolder(from, addr)
			switch {
			case s.heldBy != "":
				if err := heldBy(from, addr, s.heldBy); err != nil {
					return err
				}
				env.Notef("%s is held by %s", addr, ours)
			case ours != "":
				env.Notef("%s is held by %s", addr, ours)
			case foreign != "":
				env.Notef("%s is held by %s, which this scenario did not start", addr, foreign)
			}
		}
	}
	if s.data == "" {
		return nil
	}
	c, err := env.Conn(s.conn)
	if err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(deadline)
	}
	if _, err := c.Write([]byte(s.data)); err != nil {
		return WithLogs(fmt.Errorf("writing to %s: %w", c.Target, err), s.target.Processes()...)
	}
	return nil
}

// Target is where traffic goes: a service's upstream listener, named
// SERVICE/UPSTREAM and looked up on the agent, or a literal host:port.
type Target struct {
	Service, Upstream string
	// Datacenter picks, among upstreams of one name, the one to that
	// datacenter (SERVICE/UPSTREAM@DC); empty for the only one, or the
	// local one.
	Datacenter string
	Addr       string
	// Native: the runner itself is a Connect-native client with Service's
	// identity, dialling Upstream's sidecars directly (no source sidecar).
	Native bool
}

// readTarget reads n as SERVICE/UPSTREAM or host:port, checked by the
// book (spec.Decoder.Target).
func readTarget(d *spec.Decoder, n *yaml.Node, what string) Target {
	r := d.Target(n, what)
	return Target{Service: r.Service, Upstream: r.Upstream, Datacenter: r.Datacenter, Addr: r.Addr}
}

func (t Target) String() string {
	switch {
	case t.Addr != "":
		return t.Addr
	case t.Native:
		return fmt.Sprintf("%s as %s (Connect-native)", t.Upstream, t.Service)
	}
	if t.Datacenter != "" {
		return t.Service + "/" + t.Upstream + "@" + t.Datacenter
	}
	return t.Service + "/" + t.Upstream
}

// Processes are those whose logs explain a failure to reach the target.
func (t Target) Processes() []string {
	switch {
	case t.Addr != "":
		return nil
	case t.Native:
		return []string{spec.SidecarProcess(t.Upstream)}
	}
	return []string{spec.SidecarProcess(t.Service), spec.SidecarProcess(t.Upstream)}
}

// Resolve returns the host:port to dial. For SERVICE/UPSTREAM it also
// checks that the listener there belongs to the scenario's sidecar of that
// service: another process on the same port (a stale one, another
// service's sidecar, a plain echo server) would answer in its place.
func (t Target) Resolve(ctx context.Context, env Env) (string, error) {
	if t.Addr != "" {
		host, port, _ := net.SplitHostPort(t.Addr)
		if ip, ok := env.NodeAddr(host); ok {
			return net.JoinHostPort(ip.String(), port), nil // HOST is a node's name
		}
		return t.Addr, nil
	}
	client, err := env.Consul()
	if err != nil {
		return "", err
	}
	proxy, err := SidecarOf(ctx, client, t.Service)
	if err != nil {
		return "", err
	}
	u, err := spec.PickUpstream(proxy.Proxy.Upstreams, t.Upstream, t.Datacenter)
	if err != nil {
		return "", fmt.Errorf("the sidecar of %s: %w", t.Service, err)
	}
	if u.LocalBindPort == 0 {
		return "", fmt.Errorf("the sidecar of %s has no local_bind_port for its upstream %q", t.Service, t.Upstream)
	}
	addr := net.JoinHostPort(spec.BindHost(u.LocalBindAddress), strconv.Itoa(u.LocalBindPort))
	if err := t.ownedBySidecar(ctx, env, proxy, addr); err != nil {
		return "", err // fatal when someone else holds it; a new upstream opens a moment after its registration
	}
	return addr, nil
}

// ownedBySidecar checks, with the condition sidecar readiness uses, that
// the listener on addr belongs to the process group of the sidecar this
// scenario started for proxy's service. Another holder is fatal; nothing
// listening yet is not.
func (t Target) ownedBySidecar(ctx context.Context, env Env, proxy *api.AgentService, addr string) error {
	var sc *proc.Process
	for _, ref := range []string{t.Service, proxy.Proxy.DestinationServiceID, proxy.Proxy.DestinationServiceName} {
		if p, ok := env.Process(spec.SidecarProcess(ref)); ok {
			sc = p
			break
		}
	}
	if sc == nil && env.External() {
		// An existing cluster's sidecar: it must be shown to be that
		// cluster's sidecar of the service, not merely a Connect proxy.
		client, err := env.Consul()
		if err != nil {
			return err
		}
		return proveClusterProxy(ctx, env, client, proxy, addr)
	}
	if sc == nil {
		return wait.Fatal(fmt.Errorf("no sidecar of %s runs in this scenario, so nothing of the mesh listens on %s for %s (start it with `sidecar: %s` first)",
			t.Service, addr, t, t.Service))
	}
	return Inside(env, wait.Listening(addr, sc.Name, sc.Pid())).Check(ctx)
}

// From is the environment a probe of t dials from, in a scenario with
// nodes: the node where the sidecar of SERVICE runs (whose upstream
// listener is on that node's loopback); for HOST:PORT the step's node, or
// the node HOST names. On the host it is env.
func (t Target) From(env Env) Env {
	switch {
	case len(env.Cluster().Nodes) == 0:
		return env
	case t.Addr != "":
		if env.Node() != "" {
			return env
		}
		host, _, _ := net.SplitHostPort(t.Addr)
		if _, ok := env.NodeAddr(host); ok {
			return env.On(host)
		}
		return env
	case t.Native:
		return env
	}
	if node, ok := env.NodeOf(spec.SidecarProcess(t.Service)); ok {
		return env.On(node)
	}
	// No sidecar of the service runs: the node whose agent has it
	// registered still says where it would be (the first agent may not
	// know the service at all, and would say so, which misleads).
	for _, node := range env.Cluster().Nodes {
		on := env.On(node)
		client, err := on.Consul()
		if err != nil {
			continue
		}
		if _, err := SidecarOf(context.Background(), client, t.Service); err == nil {
			return on
		}
	}
	return env
}

// onCatalogNode is env on the scenario's node of that name (the Consul node
// a catalog entry names), or env itself on the host.
func onCatalogNode(env Env, node string) Env {
	if slices.Contains(env.Cluster().Nodes, node) {
		return env.On(node)
	}
	return env
}

// isConnectProxy says whether h is `consul connect proxy` or Envoy, by the
// executable the kernel ran (/proc/PID/exe, which a process cannot set)
// and, for consul, its subcommand: a command line alone can say anything.
func isConnectProxy(h sockets.Process) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", h.PID))
	if err != nil {
		return false
	}
	base := filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
	args := strings.Fields(h.Command)
	switch {
	case base == "envoy":
		return true
	case base == "consul" || strings.HasPrefix(base, "consul-"):
		return len(args) >= 3 && args[1] == "connect" && (args[2] == "proxy" || args[2] == "envoy")
	}
	return false
}

// heldBy checks that the listener that takes connections env's node
// opens to addr (in the namespace that has addr: env's own, or another
// node's) belongs to the family of the process the scenario started as
// name: its process group, its cgroup, what it started wherever it went.
func heldBy(env Env, addr, name string) error {
	p, ok := env.Process(name)
	if !ok {
		return fmt.Errorf("held-by: %q is not running", name)
	}
	tcp, err := wait.ResolveTCP(addr)
	if err != nil {
		return err
	}
	if env, err = receiver(env, tcp.IP); err != nil {
		return fmt.Errorf("held-by: %w", err)
	}
	// The listeners that take connections to addr as the kernel picks
	// them: every one must be the family's (a twin of another's with
	// SO_REUSEPORT takes some of them, a more specific one takes all).
	var taking []sockets.Listener
	if err := env.Inside(func() (err error) { taking, err = sockets.Taking(tcp); return err }); err != nil {
		return err
	}
	if len(taking) == 0 {
		return fmt.Errorf("held-by: expected %s to hold the listener on %s, but nothing listens there (the connection went to a listener that has gone)", name, addr)
	}
	family := p.Family()
	var foreign []string
	for _, l := range taking {
		ours := false
		for _, h := range sockets.Holders(l.Inode) {
			if slices.Contains(family, h.PID) || p.Owns(h.PID, h.PGID) {
				ours = true
			} else {
				foreign = append(foreign, fmt.Sprintf("%s on %s", h, l.Addr))
			}
		}
		if !ours && len(foreign) == 0 {
			foreign = append(foreign, "a socket no process holds any more, on "+l.Addr.String())
		}
	}
	if len(foreign) > 0 {
		return WithoutLogs(fmt.Errorf("held-by: expected %s to hold the listener that takes connections to %s, but %s holds one", name, addr, strings.Join(foreign, "; ")))
	}
	return nil
}
