package steps

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"gopkg.in/yaml.v3"

	"github.com/scenario-tool/scenario/scenariofile/spec"
)

// A stand-in mesh for the probe: a CA, leaves with SPIFFE URIs, and TLS
// servers that behave as the listeners a truth table meets. Only Go: no
// Consul, no sidecar.
type testMesh struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	roots *api.CARootList
}

func newTestMesh(t *testing.T) *testMesh {
	ca, caKey, caPEM := newCA(t, "Consul CA")
	return &testMesh{ca: ca, caKey: caKey,
		roots: &api.CARootList{TrustDomain: trustDomain, Roots: []*api.CARoot{{Name: "Consul CA", Active: true, RootCertPEM: caPEM}}}}
}

func (m *testMesh) leaf(t *testing.T, service string) tls.Certificate {
	cert, key := newLeaf(t, m.ca, m.caKey, "spiffe://"+trustDomain+"/ns/default/dc/dc1/svc/"+service)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// serverKind is how a listener treats a client.
type serverKind int

const (
	builtinProxy serverKind = iota // refuses clients other than web in the handshake, echoes the others
	laxServer                      // asks for no client certificate, echoes everyone
	noTickets                      // accepts everyone, echoes, but sends no session ticket
	closesAfter                    // accepts everyone, then closes on the first bytes (Envoy's L4 RBAC, or a backend that closes)
	envoy403                       // accepts everyone, answers Envoy's L7 RBAC 403
	silentServer                   // accepts everyone and never answers (no ticket either)
)

// serve starts a listener presenting service's certificate.
func (m *testMesh) serve(t *testing.T, service string, kind serverKind, maxVersion uint16) string {
	t.Helper()
	cfg := &tls.Config{
		Certificates: []tls.Certificate{m.leaf(t, service)},
		ClientAuth:   tls.RequireAnyClientCert,
		MaxVersion:   maxVersion,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			if kind == builtinProxy && !strings.HasSuffix(c.URIs[0].Path, "/svc/web") {
				return errors.New("connect: authz denied")
			}
			return nil
		},
	}
	switch kind {
	case laxServer:
		cfg.ClientAuth, cfg.VerifyPeerCertificate = tls.NoClientCert, nil
	case noTickets, silentServer:
		cfg.SessionTicketsDisabled = true
	}
	return acceptEach(t, tls.NewListener(listenLocal(t), cfg), func(_ int, c net.Conn) {
		defer c.Close()
		if err := c.(*tls.Conn).Handshake(); err != nil {
			return
		}
		buf := make([]byte, 4096)
		switch kind {
		case silentServer:
			_, _ = io.Copy(io.Discard, c)
			return
		case closesAfter:
			_, _ = c.Read(buf)
			return
		case envoy403:
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.1 403 Forbidden\r\ncontent-length: 19\r\ncontent-type: text/plain\r\nserver: envoy\r\n\r\nRBAC: access denied"))
			return
		}
		for {
			n, err := c.Read(buf)
			if n > 0 {
				_, _ = c.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	})
}

func (m *testMesh) probe(t *testing.T, source, destination, addr string, send []byte, envoy bool) (Verdict, string, string) {
	t.Helper()
	pr := Probe{Dial: (&net.Dialer{}).DialContext, Cert: m.leaf(t, source), Roots: m.roots, Destination: destination,
		Send: send, Envoy: envoy, Timeout: 500 * time.Millisecond}
	return pr.Run(context.Background(), addr)
}

// Each shape a listener can show gets the verdict the evidence supports,
// at the handshake and with a round trip: allow only on an accepted
// certificate, deny only on a refusal, and unknown for everything else.
func TestProbeVerdictsFollowTheListenersEvidence(t *testing.T) {
	m := newTestMesh(t)
	send := []byte("hello\n")
	for _, c := range []struct {
		name          string
		kind          serverKind
		version       uint16
		source        string
		presents      string // the identity the listener presents
		send          []byte
		envoy         bool
		verdict       Verdict
		level, detail string
	}{
		{"the built-in proxy refuses api", builtinProxy, 0, "api", "socat", nil, false, Deny, LevelRefused, "bad certificate"},
		{"the built-in proxy refuses api on a round trip", builtinProxy, 0, "api", "socat", send, false, Deny, LevelRefused, "bad certificate"},
		{"the built-in proxy accepts web at the handshake", builtinProxy, 0, "web", "socat", nil, false, Allow, LevelHandshake, "session ticket"},
		{"the built-in proxy accepts web on a round trip", builtinProxy, 0, "web", "socat", send, false, Allow, LevelRoundTrip, `answered "hello\n"`},
		{"TLS 1.2: a refusal in the handshake", builtinProxy, tls.VersionTLS12, "api", "socat", nil, false, Deny, LevelRefused, "bad certificate"},
		{"TLS 1.2: a completed handshake accepts", builtinProxy, tls.VersionTLS12, "web", "socat", nil, false, Allow, LevelHandshake, "TLS 1.2 handshake completed"},
		{"a lax server lets api in", laxServer, 0, "api", "socat", send, false, Allow, LevelRoundTrip, "asked for no client certificate (it lets any TLS client in) and answered"},
		{"a lax server lets api in at the handshake", laxServer, 0, "api", "socat", nil, false, Allow, LevelHandshake, "asked for no client certificate"},
		{"another identity presented", builtinProxy, 0, "web", "db", send, false, Unknown, "", "not socat's"},
		{"no ticket: the handshake alone shows nothing", noTickets, 0, "web", "socat", nil, false, Unknown, "", "neither refused the certificate nor sent a session ticket"},
		{"no ticket, but a round trip", noTickets, 0, "web", "socat", send, false, Allow, LevelRoundTrip, "answered"},
		{"a close after the handshake is not a deny", closesAfter, 0, "web", "socat", send, false, Unknown, "", "closed the connection with no reply"},
		{"a close after the handshake is Envoy's L4 deny", closesAfter, 0, "web", "socat", send, true, Deny, LevelEnvoyL4, "Envoy's L4 RBAC"},
		{"Envoy's 403 is its L7 deny", envoy403, 0, "web", "socat", []byte("GET / HTTP/1.1\r\nHost: socat\r\n\r\n"), true, Deny, LevelEnvoyL7, "RBAC: access denied"},
		{"a 403 from a sidecar that is not Envoy is the backend's answer", envoy403, 0, "web", "socat", []byte("GET / HTTP/1.1\r\n\r\n"), false, Allow, LevelRoundTrip, "403"},
		{"silence is no answer", silentServer, 0, "web", "socat", send, false, Unknown, "", "sent nothing back"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := m.serve(t, c.presents, c.kind, c.version)
			v, level, detail := m.probe(t, c.source, "socat", addr, c.send, c.envoy)
			if v != c.verdict || level != c.level || !strings.Contains(detail, c.detail) {
				t.Errorf("got %s [%s] %q, want %s [%s] with %q", v, level, detail, c.verdict, c.level, c.detail)
			}
		})
	}
	t.Run("nothing listens", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		if v, _, detail := m.probe(t, "web", "socat", addr, send, false); v != Unknown || !strings.Contains(detail, "does not accept connections") {
			t.Errorf("got %s %q", v, detail)
		}
	})
}

func observed(vs ...Verdict) []Observation {
	var out []Observation
	for i, v := range vs {
		o := Observation{Instance: "socat@app" + string(rune('1'+i)), Addr: "10.0.0.1:21000", Verdict: v}
		if v == Allow {
			o.Level = LevelRoundTrip
		}
		out = append(out, o)
	}
	return out
}

// A cell holds only when every instance shows one verdict, the same as
// Consul's and as the declared one; every other case names why.
func TestCellsHoldOnlyWhenEveryInstanceAgrees(t *testing.T) {
	allowed := Prediction{Authorized: true, Reason: "Matched L4 intention: default/web => default/socat (Precedence: 9, Action: ALLOW)"}
	denied := Prediction{Reason: "Default behavior configured by ACLs"}
	pair := Pair{"web", "socat"}
	for _, c := range []struct {
		name  string
		cell  Cell
		short string
		why   string
	}{
		{"all allow, as predicted and declared", Cell{Pair: pair, Declared: Allow, Predicted: allowed, Observed: observed(Allow, Allow)}, "allow", ""},
		{"undeclared, as predicted", Cell{Pair: pair, Predicted: denied, Observed: observed(Deny)}, "deny", ""},
		{"declared wrong", Cell{Pair: pair, Declared: Deny, Predicted: allowed, Observed: observed(Allow)}, "allow!(D:deny)", "observed allow, declared deny"},
		{"the sidecar disagrees with Consul", Cell{Pair: pair, Predicted: denied, Observed: observed(Allow)}, "allow!(P:deny)", "observed allow, predicted deny"},
		{"split", Cell{Pair: pair, Declared: Deny, Predicted: denied, Observed: observed(Deny, Allow)}, "split(allow:1,deny:1)!(P:deny D:deny)", "split: the instances disagree"},
		{"unknown never holds", Cell{Pair: pair, Predicted: denied, Observed: observed(Unknown)}, "unknown!(P:deny)", "observed unknown"},
		{"not probed never holds", Cell{Pair: pair, Declared: Deny, Predicted: denied, NotProbed: "403 (Permission denied)"}, "not-probed!", "not probed: 403"},
		{"no instance never holds", Cell{Pair: pair, Declared: Deny, Predicted: denied, NoInstance: "no passing instance of socat"}, "unknown!(P:deny D:deny)", "not observed: no passing instance"},
		{"no prediction never holds", Cell{Pair: pair, Predicted: Prediction{Err: errors.New("403")}, Observed: observed(Deny)}, "deny!(P:unknown)", "not predicted: 403"},
	} {
		t.Run(c.name, func(t *testing.T) {
			problems := strings.Join(c.cell.Problems(), "; ")
			if got := c.cell.Short(); got != c.short {
				t.Errorf("short %q, want %q", got, c.short)
			}
			if (c.why == "") != (problems == "") || !strings.Contains(problems, c.why) {
				t.Errorf("problems %q, want %q", problems, c.why)
			}
		})
	}
}

// The prediction names the deciding intention and its precedence, or the
// default and why.
func TestPredictionExplainsWhatDecided(t *testing.T) {
	for reason, want := range map[string]string{
		"Matched L4 intention: default/web => default/socat (Precedence: 9, Action: DENY)":          "intention web => socat deny (precedence 9)",
		"Matched L4 intention: default/* => default/socat (ID: 1a2b, Precedence: 8, Action: ALLOW)": "intention * => socat allow (precedence 8)",
		"Matched L7 intention: default/web => default/socat (Precedence: 9, Permissions: 1)":        "L7 intention web => socat (precedence 9, 1 permissions)",
		"Default behavior configured by ACLs":                                                       "no intention matches: Consul's default, deny (acl default_policy is deny)",
	} {
		if got := (Prediction{Reason: reason}).Explain(); got != want && !strings.HasPrefix(got, want) {
			t.Errorf("%q: %q, want %q", reason, got, want)
		}
	}
	if got := (Prediction{Authorized: true, Reason: "Default behavior configured by ACLs"}).Explain(); !strings.Contains(got, "allow (ACLs are off") {
		t.Errorf("default allow: %q", got)
	}
}

func decodeTable(t *testing.T, src string) (ReachabilityTable, []error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	d := spec.NewDecoder("t.yaml")
	var r ReachabilityTable
	r.DecodeYAML(d, doc.Content[0], "reachability")
	return r, d.Errors()
}

// Both forms read as the binding format says; mistakes are named where
// they are.
func TestReachabilityTableReadsBothForms(t *testing.T) {
	r, errs := decodeTable(t, "web:   {socat: allow, db: deny}\napi:   {socat: deny,  db: deny}\nrogue: {socat: deny,  db: deny}\n")
	if len(errs) > 0 || strings.Join(r.Sources, ",") != "web,api,rogue" || strings.Join(r.Destinations, ",") != "socat,db" ||
		r.Declared[Pair{"web", "socat"}] != Allow || r.Declared[Pair{"rogue", "db"}] != Deny || len(r.Declared) != 6 {
		t.Errorf("declared: %+v %v", r.Table, errs)
	}
	r, errs = decodeTable(t, "{from: [web, api, rogue], to: [socat, db]}")
	if len(errs) > 0 || strings.Join(r.Sources, ",") != "web,api,rogue" || strings.Join(r.Destinations, ",") != "socat,db" || r.Declared != nil {
		t.Errorf("undeclared: %+v %v", r.Table, errs)
	}
	// A service called from is a row like any other.
	r, errs = decodeTable(t, "from: {socat: allow}\n")
	if len(errs) > 0 || r.Sources[0] != "from" {
		t.Errorf("a source named from: %+v %v", r.Table, errs)
	}
	for src, want := range map[string]string{
		"web: {socat: permit}":             `t.yaml:1:14: reachability.web.socat: "permit" is not one of allow, deny`,
		"web: [socat]":                     "t.yaml:1:6: reachability.web must be a mapping of destinations",
		"'*': {socat: deny}":               `t.yaml:1:1: reachability: "*" is a wildcard, not an identity`,
		"{from: [web], to: [socat], x: 1}": `t.yaml:1:28: reachability: "x" beside from and to`,
		"{from: [web]}":                    "t.yaml:1:1: reachability needs to",
		"web: {socat: allow, socat: deny}": `t.yaml:1:21: reachability.web: the destination "socat" appears twice`,
		"{}":                               "t.yaml:1:1: reachability is empty",
		"{from: [web, web], to: [socat]}":  `t.yaml:1:14: reachability.from: "web" appears twice`,
	} {
		_, errs := decodeTable(t, src)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: %v, want %q", src, errs, want)
		}
	}
}

// The rendered table has a row per source and a column per destination,
// and marks each cell that does not hold.
func TestRenderDrawsRowsOfSourcesAndMarksFailures(t *testing.T) {
	allowed := Prediction{Authorized: true, Reason: "Default behavior configured by ACLs"}
	res := &Result{Table: Table{Sources: []string{"web", "rogue"}, Destinations: []string{"socat", "db"}}}
	res.Cells = []Cell{
		{Pair: Pair{"web", "socat"}, Predicted: allowed, Observed: observed(Allow)},
		{Pair: Pair{"web", "db"}, Predicted: allowed, Observed: observed(Allow, Deny)},
		{Pair: Pair{"rogue", "socat"}, Predicted: allowed, Observed: observed(Allow), Stranger: true},
		{Pair: Pair{"rogue", "db"}, Predicted: allowed, NotProbed: "no leaf"},
	}
	got := strings.Join(res.Render(), "\n")
	want := "" +
		"                  socat  db\n" +
		"web               allow  split(allow:1,deny:1)!(P:allow)\n" +
		"rogue (stranger)  allow  not-probed!"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if f := res.Failing(); len(f) != 2 || f[0].Pair != (Pair{"web", "db"}) {
		t.Errorf("failing: %+v", f)
	}
}

// On a mesh the runner started, a verdict counts only when the
// destination's own sidecar gave it, and an allow only with a backend the
// scenario started: another process holding a valid leaf, or a stray
// backend, makes the instance unknown.
func TestObservationsNeedTheScenariosSidecarAndBackend(t *testing.T) {
	m := newTestMesh(t)
	addr := m.serve(t, "socat", laxServer, 0)
	host, port, _ := net.SplitHostPort(addr)
	entry := &api.ServiceEntry{Node: &api.Node{Node: "app3", Address: host}, Service: &api.AgentService{
		Kind: api.ServiceKindConnectProxy, ID: "socat-sidecar-proxy", Address: host, Port: atoi(t, port),
		Proxy: &api.AgentServiceConnectProxyConfig{DestinationServiceID: "socat", LocalServicePort: 8181}}}
	p := &Prober{Dial: (&net.Dialer{}).DialContext, Send: []byte("hi\n"), Timeout: 500 * time.Millisecond}
	sidecar := "app3/sidecar/socat, pid 1 (consul connect proxy)"
	backend := "app3/socat, pid 2 (socat)"
	observeEach(t, m, p, entry, []observationCase{
		{"the scenario's sidecar, its backend up", LocalCheck{ListenerHolder: sidecar, BackendAddr: "127.0.0.1:8181", BackendHolder: backend}, Allow, "backend 127.0.0.1:8181 up"},
		{"a process of the scenario that is no sidecar", LocalCheck{ListenerHolder: "app3/lax-sidecar, pid 3 (socat OPENSSL-LISTEN)", BackendAddr: "127.0.0.1:8181", BackendHolder: backend}, Unknown, "not a sidecar the scenario started"},
		{"a listener the scenario did not start", LocalCheck{ListenerForeign: "pid 4 (nc)"}, Unknown, "which the scenario did not start: its answer is no evidence"},
		{"nothing listens", LocalCheck{}, Unknown, "nothing listening"},
		{"a stray backend", LocalCheck{ListenerHolder: sidecar, BackendAddr: "127.0.0.1:8181", BackendForeign: "pid 5 (nc -l)"}, Unknown, "which the scenario did not start"},
		{"no backend", LocalCheck{ListenerHolder: sidecar, BackendAddr: "127.0.0.1:8181"}, Unknown, "nothing the scenario started listens on the backend"},
	})
	// Envoy closes on a dead backend as on its L4 deny: the close counts
	// only with the scenario's backend up.
	closing := m.serve(t, "socat", closesAfter, 0)
	_, port, _ = net.SplitHostPort(closing)
	entry.Service.Port = atoi(t, port)
	envoy := &Prober{Dial: p.Dial, Send: p.Send, Timeout: p.Timeout, Envoy: func(*api.ServiceEntry) bool { return true }}
	observeEach(t, m, envoy, entry, []observationCase{
		{"Envoy's close with the backend up", LocalCheck{ListenerHolder: sidecar, BackendAddr: "127.0.0.1:8181", BackendHolder: backend}, Deny, "as Envoy's L4 RBAC does"},
		{"Envoy's close with the backend down", LocalCheck{ListenerHolder: sidecar, BackendAddr: "127.0.0.1:8181"}, Unknown, "cannot be told from a dead backend"},
	})
}

// observationCase is what the local checks lc should make of api's probe
// of socat's instance.
type observationCase struct {
	name    string
	lc      LocalCheck
	verdict Verdict
	detail  string
}

// observeEach has p observe entry as api with each case's local checks,
// and checks the verdict and its detail; an unknown verdict has no level.
func observeEach(t *testing.T, m *testMesh, p *Prober, entry *api.ServiceEntry, cases []observationCase) {
	t.Helper()
	for _, c := range cases {
		o := p.observe(context.Background(), m.leaf(t, "api"), m.roots, "socat", entry, c.lc, true)
		if o.Verdict != c.verdict || !strings.Contains(o.Detail, c.detail) || (o.Verdict == Unknown) != (o.Level == "") {
			t.Errorf("%s: %s [%s] %q, want %s with %q", c.name, o.Verdict, o.Level, o.Detail, c.verdict, c.detail)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
