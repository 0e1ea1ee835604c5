package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// sidecarType is the sidecar step.
var sidecarType = Typed(Type{
	Name:    "sidecar",
	Cluster: OwnClusterOnly("the cluster's sidecars are already running, and a second one would take their ports"),
	OnNode:  true,
	Summary: "starts the sidecar proxy of a registered service and waits until its own process group holds its public and upstream listeners and its service is passing in the health catalog; a port already held by another process fails at once, naming it; consecutive sidecars come up together",
	Example: `- sidecar: web`,
	// A sidecar's default TCP check first runs at a random moment in its
	// 10 s interval, so readiness can legitimately take that long.
	Timeout: 60 * time.Second,
}, buildSidecar)

// SidecarSpec is the value of a sidecar step; `sidecar: web` is
// {service: web}.
type SidecarSpec struct {
	Service string `key:"service,required,shorthand" shape:"SERVICE" doc:"the registered service whose sidecar to start: an instance's ID, or the name of a service with one instance"`
	Proxy   string `key:"proxy" enum:"builtin,envoy" default:"builtin" doc:"which proxy runs the sidecar"`
	Token   string `key:"token" shape:"TOKEN-NAME" doc:"the proxy's ACL token: this acl-token's secret instead of the scenario's (under ACLs, its service's identity)"`
}

type sidecar struct {
	service  string // as written: a service ID or a service name
	id, name string // the instance it resolved to when the file was read
	proxy    string
	token    string // an acl-token's name, or ""
	// aliases are the sidecar's alias checks as registered, by check ID
	aliases map[string]aliasTarget
}

// resolveInstance finds the one instance ref names (its ID, or the name
// of a service with a single instance) and checks it has a sidecar.
func resolveInstance(d *spec.Decoder, at *yaml.Node, ref string) (id, name string) {
	ins := d.Instances(ref)
	switch {
	case len(ins) > 1:
		d.Errorf(at, "sidecar: service %q has %d instances (IDs %s); name one by its ID, like `sidecar: %s`", ref, len(ins), spec.InstanceIDs(ins), ins[0].ID())
		return "", ""
	case len(ins) == 0:
		return ref, ref
	case !ins[0].HasSidecar() && !d.HasProxyFor(ins[0].ID(), ins[0].Reg.Name):
		d.Errorf(at, "sidecar: service %q was registered without connect.sidecar_service, so it has no sidecar to start", ref)
	}
	return ins[0].ID(), ins[0].Reg.Name
}

func buildSidecar(d *spec.Decoder, val *SidecarSpec, f *spec.Fields) Step {
	d.NeedAgent(f.At(), "sidecar")
	s := &sidecar{service: val.Service, proxy: val.Proxy, token: val.Token}
	if s.token != "" {
		d.Use(spec.KindToken, s.token, f.NodeOf(&val.Token))
	}
	if s.proxy == "envoy" {
		if _, err := exec.LookPath("envoy"); err != nil {
			d.Errorf(f.NodeOf(&val.Proxy), "sidecar.proxy: envoy is not installed (no envoy in PATH); install Envoy or use proxy: builtin")
		}
	}
	if s.service == "" {
		return nil
	}
	at := f.NodeOf(&val.Service)
	if d.Use(spec.KindService, s.service, at) {
		if s.id, s.name = resolveInstance(d, at, s.service); s.id != "" {
			d.ClaimSidecar(s.id, spec.SidecarProcess(s.service), s.proxy == "envoy", at)
			if in, ok := d.InstanceByID(s.id); ok && in.HasSidecar() {
				s.aliases = aliasTargetsOf(d.ChecksOf(in.SidecarID()))
			} else if proxyID := d.ProxyFor(s.id, s.name); proxyID != "" {
				// A proxy registered as its own service: its alias checks
				// follow whatever its registration says, not necessarily
				// its destination.
				s.aliases = aliasTargetsOf(d.ChecksOf(proxyID))
			}
		}
	}
	d.Define(spec.KindProcess, spec.SidecarProcess(s.service), at)
	return s
}

func (s *sidecar) String() string {
	label := s.service
	if s.id != "" && s.id != s.name {
		label = fmt.Sprintf("%s (service %s, ID %s)", s.service, s.name, s.id)
	}
	if s.proxy != "builtin" {
		return fmt.Sprintf("%s (%s)", label, s.proxy)
	}
	return label
}

// Beside: a sidecar's start needs only the agent and its own
// registration, so consecutive sidecars come up together, and beside the
// services they front: a proxy dials its local service only when a
// connection comes, so a service still coming up delays nothing of it.
func (s *sidecar) Beside(pending Step) bool {
	switch pending.(type) {
	case *sidecar, *run:
		return true
	}
	return false
}

// BesideStarting: a sidecar's Start asks the agent about its own
// registration, checks its own ports and starts its proxy; it needs
// nothing of another sidecar's Start, or of a run's (the proxy dials its
// service only when a connection comes).
func (s *sidecar) BesideStarting(starting Step) bool {
	switch starting.(type) {
	case *sidecar, *run:
		return true
	}
	return false
}

func (s *sidecar) Start(ctx context.Context, env Env) (func(context.Context) error, error) {
	client, err := env.Consul()
	if err != nil {
		return nil, err
	}
	ref := s.service
	if s.id != "" {
		ref = s.id
	}
	proxy, err := SidecarOf(ctx, client, ref)
	if err != nil {
		return nil, err
	}
	bin, err := env.ConsulBinary()
	if err != nil {
		return nil, err
	}
	addr := env.AgentAddress()
	// -sidecar-for takes the service ID, which the agent confirmed.
	forID := proxy.Proxy.DestinationServiceID
	argv := []string{bin, "connect", "proxy", "-sidecar-for", forID, "-http-addr", addr}
	if s.proxy == "envoy" {
		argv = []string{bin, "connect", "envoy", "-sidecar-for", forID, "-http-addr", addr,
			"-admin-bind", "127.0.0.1:0"}
	}
	name := spec.SidecarProcess(s.service)
	// The ports the proxy will bind are fixed by its registration: a
	// process already listening there would take its traffic.
	listeners := proxyListeners(proxy)
	if err := env.Inside(func() error { return wait.Free(listeners...) }); err != nil {
		return nil, WithoutLogs(fmt.Errorf("the sidecar of %s cannot start: %w", s.service, err))
	}
	secret, err := tokenFor(env, s.token)
	if err != nil {
		return nil, err
	}
	p, err := env.Start(name, argv, StartOption{Token: secret, Role: RoleSidecar, Disposable: true})
	if err != nil {
		return nil, err
	}
	agent, _ := env.Process(spec.AgentName)
	alive := func() error {
		if err := p.Alive(); err != nil {
			return err
		}
		return agent.Alive()
	}
	// Ready to carry traffic: the public mTLS listener and every upstream
	// listener are open and belong to this proxy's process group (not to
	// a stale or foreign process on the same port), the agent has the
	// sidecar passing, its alias checks saying what the services they
	// follow say (an alias starts at its declared status), and then the catalog reports
	// the sidecar passing (other sidecars only route to passing
	// instances): the agent read first, so that a catalog still showing
	// an alias's declared status is not taken for its computed one.
	publicAddr := listeners[0]
	owned := func(addr string) wait.Condition {
		return wait.Func(name+" to listen on "+addr, func(ctx context.Context) error {
			return Inside(env, wait.Listening(addr, name, p.Pid())).Check(ctx)
		})
	}
	public := owned(publicAddr)
	conds := []wait.Condition{public}
	for _, addr := range listeners[1:] {
		conds = append(conds, owned(addr))
	}
	conds = append(conds, agentPassing(client, proxy.ID, s.aliases),
		passing(client, proxy.Service, proxy.ID, proxy.Proxy.DestinationServiceID))
	ready := wait.All(conds...)
	return func(ctx context.Context) error {
		err := wait.For(ctx, ready, wait.Options{Alive: alive, Timeout: stuckProxyAfter, MaxInterval: readinessPoll})
		var timedOut *wait.TimeoutError
		if errors.As(err, &timedOut) && ctx.Err() == nil {
			if s.proxy == "builtin" && public.Check(ctx) != nil {
				// The built-in proxy sometimes waits up to ten minutes for
				// its certificate before opening its public listener
				// (hashicorp/consul#12319); a new one starts at once.
				env.Notef("the built-in proxy had not opened its public listener after %s; restarted it once "+
					"(a known Consul issue: hashicorp/consul#12319); %s", stuckProxyAfter, leafEvidence(client, proxy.Proxy.DestinationServiceName))
				if err := env.Stop(name); err != nil {
					return err
				}
				if p, err = env.Start(name, argv, StartOption{Token: secret, Role: RoleSidecar, Disposable: true}); err != nil {
					return err
				}
			}
			err = wait.For(ctx, ready, wait.Options{Alive: alive, MaxInterval: readinessPoll})
		}
		if err != nil {
			return WithLogs(fmt.Errorf("sidecar of %s not ready: %w\n%s", s.service, err, leafEvidence(client, proxy.Proxy.DestinationServiceName)), name, spec.AgentName)
		}
		// The proxy hands every connection to its local service: a process
		// the scenario did not start must not be the one answering there.
		if b := backendOf(env, proxy.Proxy); proxy.Proxy.LocalServicePort != 0 && b.Holder == "" && b.Foreign != "" {
			return WithoutLogs(fmt.Errorf("the sidecar of %s hands connections to %s, where %s listens, which this scenario did not start; stop it, or start the service with a run step",
				s.service, b.Addr, b.Foreign))
		}
		return nil
	}, nil
}

// stuckProxyAfter is how long a built-in proxy may take to open its public
// listener before it is taken to be stuck; it normally takes 0.1-0.4 s.
const stuckProxyAfter = 5 * time.Second

// leafEvidence says whether the agent can hand out the service's leaf
// certificate: the built-in proxy opens its public listener only once it
// has one, so this tells a stuck proxy from a stuck agent.
func leafEvidence(client *api.Client, service string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	leaf, _, err := client.Agent().ConnectCALeaf(service, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Sprintf("the agent gave no leaf certificate for %s within 3s: %v", service, err)
	}
	return fmt.Sprintf("the agent does serve a leaf certificate for %s (%s, valid until %s), so the proxy had what it needed from the agent",
		service, leaf.ServiceURI, leaf.ValidBefore.Format(time.RFC3339))
}

// SidecarOf finds the registered sidecar proxy of a service instance on
// the agent: ref is the instance's service ID, or the name of a service
// with one instance (several are an error that lists their IDs).
func SidecarOf(ctx context.Context, client *api.Client, ref string) (*api.AgentService, error) {
	services, err := client.Agent().ServicesWithFilterOpts("", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, WithLogs(fmt.Errorf("listing the agent's services: %w", err), spec.AgentName)
	}
	var byName []*api.AgentService
	for _, svc := range services {
		if svc.Kind != api.ServiceKindConnectProxy || svc.Proxy == nil {
			continue
		}
		if svc.Proxy.DestinationServiceID == ref {
			return svc, nil
		}
		if svc.Proxy.DestinationServiceName == ref {
			byName = append(byName, svc)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return nil, fmt.Errorf("service %q has no sidecar proxy registered on the agent; register it with \"connect\": {\"sidecar_service\": {}}", ref)
	}
	var ids []string
	for _, svc := range byName {
		ids = append(ids, svc.Proxy.DestinationServiceID)
	}
	sort.Strings(ids)
	return nil, fmt.Errorf("service %q has %d instances with a sidecar on the agent (IDs %s); name one by its ID", ref, len(ids), strings.Join(ids, ", "))
}

// proxyListeners are the addresses the built-in proxy binds for a sidecar
// registration, as connect/proxy does: the public listener on the proxy
// service's address (every address when it has none) and port, then each
// upstream's local bind address (127.0.0.1 by default) and port.
func proxyListeners(proxy *api.AgentService) []string {
	public := proxy.Address
	if public == "" {
		public = "0.0.0.0"
	}
	out := []string{net.JoinHostPort(public, strconv.Itoa(proxy.Port))}
	for _, u := range proxy.Proxy.Upstreams {
		if u.LocalBindPort == 0 || u.LocalBindSocketPath != "" {
			continue
		}
		host := u.LocalBindAddress
		if host == "" {
			host = "127.0.0.1"
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(u.LocalBindPort)))
	}
	return out
}

func publicHost(svc *api.AgentService) string {
	if svc.Address != "" && svc.Address != "0.0.0.0" && svc.Address != "::" {
		return svc.Address
	}
	return "127.0.0.1"
}

// passing holds when the service instance id is passing in the catalog. It
// uses Consul's blocking queries, so it returns as soon as health changes.
// The error names each check of the sidecar or of its service that is
// not passing, with its output: the alias check only says it follows.
func passing(client *api.Client, service, id, parentID string) wait.Condition {
	var index uint64
	var last error // what the catalog last said, kept when a wait is cut short
	var lastStatus string
	return wait.Func(fmt.Sprintf("%s to be passing in the health catalog", id), func(ctx context.Context) error {
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
		entries, meta, err := client.Health().Service(service, "", false, q)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				if lastStatus != "" {
					// Check outputs change without a catalog change: the
					// agent's latest say why.
					fresh, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					return fmt.Errorf("health is %s%s", lastStatus, failingChecks(fresh, client, id, parentID))
				}
				if last != nil {
					return last
				}
				return errors.New("not passing yet")
			}
			return err
		}
		index = meta.LastIndex
		for _, e := range entries {
			if e.Service.ID != id {
				continue
			}
			if st := e.Checks.AggregatedStatus(); st != api.HealthPassing {
				lastStatus = st
				last = fmt.Errorf("health is %s%s", st, failingChecks(ctx, client, id, parentID))
				return last
			}
			lastStatus = ""
			return nil
		}
		lastStatus, last = "", errors.New("not in the catalog yet")
		return last
	})
}

// agentPassing holds when the agent has the sidecar id passing, its
// alias checks saying what the checks they follow say (agentNotPassing).
func agentPassing(client *api.Client, id string, targets map[string]aliasTarget) wait.Condition {
	var last error // what the agent last said, kept when a read is cut short
	return wait.Func(fmt.Sprintf("%s to be passing on the agent", id), func(ctx context.Context) error {
		off, err := agentNotPassing(ctx, client, id, targets)
		switch {
		case err != nil && ctx.Err() != nil && last != nil:
			return last
		case err != nil:
			return err
		case off != "":
			last = fmt.Errorf("%s", off)
			return last
		}
		return nil
	})
}

// failingChecks describes the agent's checks of the given service IDs that
// are not passing, with their output.
func failingChecks(ctx context.Context, client *api.Client, ids ...string) string {
	checks, err := client.Agent().ChecksWithFilterOpts("", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return ""
	}
	return describeChecks(checks, ids...)
}

// Graph marks the instance's sidecar as started.
func (s *sidecar) Graph(g *Graph) {
	id := s.id
	if id == "" {
		id = s.service
	}
	g.markSidecarUp(id)
}
