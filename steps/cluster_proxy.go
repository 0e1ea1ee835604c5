package steps

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/sockets"
	"github.com/scenario-tool/scenario/wait"
)

// On an existing cluster (run --agent) the runner started no sidecar, so
// "the process on the upstream port is a Connect proxy" says nothing of
// whose: another cluster's proxy, or another service's, can listen on the
// port the registration names, and carry the probe through a mesh that is
// not the one judged. A probe's proxy is shown to be the cluster's, and
// the service's, by what only that cluster can have given it:
//
//   - every listener that takes connections to the upstream address is
//     held by a Connect proxy (consul connect proxy or Envoy, by the
//     executable the kernel ran);
//   - the same process holds the public listener that the agent's
//     registration of the sidecar names: the listener matches the
//     registration on that agent;
//   - the leaf certificate it presents there chains to that cluster's CA
//     roots (/v1/agent/connect/ca/roots) and names the service the
//     registration is the sidecar of, in the cluster's trust domain and
//     the agent's datacenter (its SPIFFE ID).
//
// Anything else fails, naming what answered instead.

// proveClusterProxy shows that the listener on addr, the upstream listener
// of proxy (a sidecar registration read from the agent of client), belongs
// to that registration's sidecar in that cluster. Nothing listening yet
// is retried; anything else found there is fatal.
func proveClusterProxy(ctx context.Context, env Env, client *api.Client, proxy *api.AgentService, addr string) error {
	holders, err := connectProxyHolders(env.Inside, addr)
	if err != nil {
		return err
	}
	service := proxy.Proxy.DestinationServiceName
	who := describeProcesses(holders)
	public := net.JoinHostPort(publicHost(proxy), strconv.Itoa(proxy.Port))
	agent := env.AgentAddress()
	publicHolders, err := listenerHolders(env.Inside, public)
	if err != nil {
		return err
	}
	for _, h := range holders {
		if !slices.ContainsFunc(publicHolders, func(p sockets.Process) bool { return p.PID == h.PID }) {
			held := "nothing listens there"
			if len(publicHolders) > 0 {
				held = "it is held by " + describeProcesses(publicHolders)
			}
			return wait.Fatal(fmt.Errorf("the Connect proxy on %s (%s) is not the sidecar of %s that the agent at %s registers: "+
				"that registration's public listener is %s, and %s", addr, who, service, agent, public, held))
		}
	}
	chain, err := PresentedChainVia(ctx, env.Dial, public)
	if err != nil {
		return wait.Fatal(fmt.Errorf("the Connect proxy on %s (%s) cannot be shown to be the sidecar of %s of the cluster at %s: "+
			"%w; a built-in proxy presents its certificate only while its local service accepts, so run %s's service "+
			"(or probe as a Connect-native client, with expect from:)", addr, who, service, agent, err, service))
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	roots, _, err := client.Agent().ConnectCARoots(q)
	if err != nil {
		return WithLogs(fmt.Errorf("reading the Connect CA roots of the agent at %s: %w", agent, err), spec.AgentName)
	}
	self, err := client.Agent().Self()
	if err != nil {
		return WithLogs(fmt.Errorf("asking the agent at %s for its datacenter: %w", agent, err), spec.AgentName)
	}
	datacenter, _ := self["Config"]["Datacenter"].(string)
	if err := verifyClusterLeaf(chain, roots, datacenter, service); err != nil {
		return wait.Fatal(fmt.Errorf("the Connect proxy on %s (%s) is not the sidecar of %s of the cluster at %s: "+
			"the leaf it presents on %s %w", addr, who, service, agent, public, err))
	}
	return nil
}

// connectProxyHolders returns the processes that hold the listeners taking
// connections to addr, each a Connect proxy; nothing listening is an error
// to retry, any other holder a fatal one. inside runs a function in the
// network namespace to look in (Env.Inside).
func connectProxyHolders(inside func(func() error) error, addr string) ([]sockets.Process, error) {
	holders, err := listenerHolders(inside, addr)
	if err != nil {
		return nil, err
	}
	if len(holders) == 0 {
		return nil, fmt.Errorf("nothing listens on %s", addr)
	}
	var others []sockets.Process
	for _, h := range holders {
		if !isConnectProxy(h) {
			others = append(others, h)
		}
	}
	if len(others) > 0 {
		return nil, wait.Fatal(fmt.Errorf("%s is held by %s, which is not a Connect proxy (consul connect proxy or Envoy)", addr, describeProcesses(others)))
	}
	return holders, nil
}

// listenerHolders are the processes holding the listeners that take
// connections to addr in inside's network, as the kernel picks them: the
// one that opened each, not the children that inherited it. A listener
// no process can be found for (another user's, as non-root) is an error.
func listenerHolders(inside func(func() error) error, addr string) ([]sockets.Process, error) {
	tcp, err := wait.ResolveTCP(addr)
	if err != nil {
		return nil, wait.Fatal(err)
	}
	var taking []sockets.Listener
	if err := inside(func() (err error) { taking, err = sockets.Taking(tcp); return err }); err != nil {
		return nil, err
	}
	var out []sockets.Process
	for _, l := range taking {
		holders := sockets.Topmost(sockets.Holders(l.Inode))
		if len(holders) == 0 {
			return nil, wait.Fatal(fmt.Errorf("%s is held by a process this user cannot inspect (run as root to name it)", addr))
		}
		for _, h := range holders {
			if !slices.ContainsFunc(out, func(p sockets.Process) bool { return p.PID == h.PID }) {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

func describeProcesses(ps []sockets.Process) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// verifyClusterLeaf checks that chain's leaf chains to one of roots (a
// sidecar may still hold a leaf of a root being rotated out) and names
// service in the cluster's trust domain and in datacenter; the error says
// what the leaf is instead, after "the leaf it presents ...".
func verifyClusterLeaf(chain []*x509.Certificate, roots *api.CARootList, datacenter, service string) error {
	if len(chain) == 0 {
		return errors.New("is missing: no certificate")
	}
	leaf := chain[0]
	pool := x509.NewCertPool()
	var names []string
	for _, r := range roots.Roots {
		if pool.AppendCertsFromPEM([]byte(r.RootCertPEM)) {
			names = append(names, r.Name)
		}
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("(%s, issued by %q) does not chain to that cluster's CA roots (%s; trust domain %s): %v",
			spiffeIDs(leaf.URIs), leaf.Issuer.CommonName, strings.Join(names, ", "), roots.TrustDomain, err)
	}
	if err := checkSPIFFE(leaf.URIs, roots.TrustDomain, service); err != nil {
		return err
	}
	if datacenter != "" && !slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return strings.Contains(u.Path, "/dc/"+datacenter+"/svc/") }) {
		return fmt.Errorf("names %s, not datacenter %s, the agent's", spiffeIDs(leaf.URIs), datacenter)
	}
	return nil
}

func spiffeIDs(uris []*url.URL) string {
	if len(uris) == 0 {
		return "no SPIFFE ID"
	}
	parts := make([]string, len(uris))
	for i, u := range uris {
		parts[i] = u.String()
	}
	return strings.Join(parts, ", ")
}
