package steps

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/wait"
)

// expectCert checks the mesh's identity claim for a service: its sidecar's
// public listener presents a certificate that names the service (SPIFFE)
// and chains to the agent's active Connect CA root, and it speaks no
// plaintext.
type expectCert struct {
	service string
	// within, when set, retries until the presented leaf chains to the
	// active root (after a CA rotation, sidecars get new leaves after a
	// random 0-30 s); otherwise the check is made once.
	within time.Duration
}

func (e *expectCert) String() string {
	return fmt.Sprintf("sidecar of %s presents its SPIFFE certificate and refuses plaintext", e.service)
}

// Beside: the check needs its own sidecar settled (and, behind it, its
// service: the built-in proxy dials it before the handshake), not the
// sidecars of other services still coming up.
func (e *expectCert) Beside(pending Step) bool {
	p, ok := pending.(*sidecar)
	return ok && e.service != p.service && e.service != p.id && e.service != p.name
}

func (e *expectCert) Run(ctx context.Context, env Env) error {
	// The sidecar is registered with the agent of its own node.
	if node, ok := env.NodeOf(spec.SidecarProcess(e.service)); ok && node != "" {
		env = env.On(node)
	}
	if e.within <= 0 {
		return e.check(ctx, env)
	}
	cond := wait.Func("the certificate check", func(ctx context.Context) error { return e.check(ctx, env) })
	return wait.For(ctx, cond, wait.Options{Timeout: e.within, MinInterval: 100 * time.Millisecond, MaxInterval: 500 * time.Millisecond})
}

func (e *expectCert) check(ctx context.Context, env Env) error {
	// On a scenario's nodes, the sidecar's own node has its registration
	// and reaches its listener.
	if node, ok := env.NodeOf(spec.SidecarProcess(e.service)); ok {
		env = env.On(node)
	}
	client, err := env.Consul()
	if err != nil {
		return err
	}
	proxy, err := SidecarOf(ctx, client, e.service)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(publicHost(proxy), strconv.Itoa(proxy.Port))
	roots, _, err := client.Connect().CARoots((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return WithLogs(fmt.Errorf("reading the Connect CA roots: %w", err), spec.AgentName)
	}
	chain, err := PresentedChainVia(ctx, env.Dial, addr)
	if err != nil {
		return WithLogs(err, spec.SidecarProcess(e.service))
	}
	// The identity is the service's name, also when e.service is an ID.
	if err := VerifyServiceCert(chain, roots, proxy.Proxy.DestinationServiceName); err != nil {
		return fmt.Errorf("the certificate on %s: %w", addr, err)
	}
	return plaintextRefusedVia(ctx, env.Dial, addr)
}

// PresentedChain completes a TLS handshake far enough to see the server's
// certificates. The listener also wants a client certificate, which we do
// not have; the server's chain arrives before that matters.
func PresentedChain(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	return PresentedChainVia(ctx, (&net.Dialer{}).DialContext, addr)
}

// Dial opens a connection: a net.Dialer's, or one from a scenario's node.
type Dial func(ctx context.Context, network, addr string) (net.Conn, error)

// PresentedChainVia is PresentedChain over connections from dial.
func PresentedChainVia(ctx context.Context, dial Dial, addr string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	cfg := &tls.Config{
		// Verification is done below against Consul's own CA, not the
		// system roots; this only records what was presented.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			for _, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				chain = append(chain, c)
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := dial(ctx, "tcp", addr)
	if err == nil {
		conn := tls.Client(raw, cfg)
		err = conn.HandshakeContext(ctx)
		conn.Close()
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("no certificate presented on %s: %w (the built-in proxy dials its local service before "+
			"the TLS handshake and drops the connection when the service does not answer: is it running?)", addr, err)
	}
	return chain, nil
}

// VerifyServiceCert checks that chain's leaf names service in SPIFFE form
// under the CA's trust domain and chains to the active root.
func VerifyServiceCert(chain []*x509.Certificate, roots *api.CARootList, service string) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	leaf := chain[0]
	var active *api.CARoot
	for _, r := range roots.Roots {
		if r.Active {
			active = r
		}
	}
	if active == nil {
		return errors.New("the agent has no active Connect CA root")
	}
	if err := checkSPIFFE(leaf.URIs, roots.TrustDomain, service); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(active.RootCertPEM)) {
		return errors.New("the active root's PEM does not parse")
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("does not chain to the active Connect CA root %q: %w", active.Name, err)
	}
	return nil
}

func checkSPIFFE(uris []*url.URL, trustDomain, service string) error {
	var seen []string
	for _, u := range uris {
		seen = append(seen, u.String())
		if u.Scheme == "spiffe" && strings.EqualFold(u.Host, trustDomain) && strings.HasSuffix(u.Path, "/svc/"+service) {
			return nil
		}
	}
	if len(seen) == 0 {
		return fmt.Errorf("has no SPIFFE URI; want spiffe://%s/.../svc/%s", trustDomain, service)
	}
	return fmt.Errorf("names %s, not spiffe://%s/.../svc/%s", strings.Join(seen, ", "), trustDomain, service)
}

// plaintextRefused sends plain bytes to the mTLS listener: at most a TLS
// alert may come back, never application bytes.
func plaintextRefused(ctx context.Context, addr string) error {
	return plaintextRefusedVia(ctx, (&net.Dialer{}).DialContext, addr)
}

func plaintextRefusedVia(ctx context.Context, dial Dial, addr string) error {
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to %s in plain TCP: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("hello in plaintext\n")); err != nil {
		return nil // refused outright
	}
	got, _ := io.ReadAll(io.LimitReader(conn, 4096))
	if len(got) == 0 || isTLSAlert(got) {
		return nil
	}
	return fmt.Errorf("a plain-TCP client got application bytes back from %s: %s", addr, Quote(got))
}

// isTLSAlert reports whether b is one TLS alert record (content type 21).
func isTLSAlert(b []byte) bool {
	return len(b) >= 5 && b[0] == 21 && b[1] == 3 && len(b) <= 5+int(b[3])<<8+int(b[4])
}
