package steps

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-cleanhttp"
)

// AgentConfig is how the runner reaches an agent it started: plain HTTP at
// address, as token ("" without ACLs). It reads nothing from the
// environment, unlike api.DefaultConfig. Its connections are kept and
// reused, as api.DefaultConfig's are: readiness polls the agent every few
// milliseconds, and a connection a request (a dial, an accept, two
// goroutines on each side, a socket left in TIME_WAIT) takes CPU from the
// processes starting beside.
func AgentConfig(address, token string) *api.Config {
	return &api.Config{Address: address, Scheme: "http", Token: token, Transport: cleanhttp.DefaultPooledTransport()}
}

// AgentClient is a client of an agent the runner started, as cfg says
// (Address, Token, Transport) and as nothing else does. api.NewClient
// reads the caller's environment again whatever the config says: the
// caller's CONSUL_HTTP_TOKEN_FILE replaces a token equal to their
// CONSUL_HTTP_TOKEN or an empty one (and fails the client when the file
// is missing), CONSUL_NAMESPACE and CONSUL_PARTITION are added to every
// request (which a Consul CE agent refuses), and the TLS variables shape
// the HTTP client. Those are about the caller's cluster, not the
// scenario's agent, and must not decide what its steps see. So the
// client gets an HTTP client of its own (the TLS variables are then
// unused), a placeholder token that no environment holds (so none
// replaces it), and a transport that puts the real token in place of the
// placeholder and drops the namespace and partition.
func AgentClient(cfg *api.Config) (*api.Client, error) {
	transport := cfg.Transport
	if transport == nil {
		transport = cleanhttp.DefaultPooledTransport()
	}
	own := &agentTransport{base: transport, token: cfg.Token, placeholder: placeholderToken()}
	return api.NewClient(&api.Config{
		Address:    cfg.Address,
		Scheme:     "http",
		Transport:  transport,
		HttpClient: &http.Client{Transport: own},
		Token:      own.placeholder,
	})
}

// agentTransport sends a request as the runner means it, whatever
// api.NewClient took from the environment.
type agentTransport struct {
	base        http.RoundTripper
	token       string
	placeholder string
}

func (t *agentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	// A step's own token (register's token:) stays; the client's default
	// is the placeholder.
	if req.Header.Get("X-Consul-Token") == t.placeholder {
		req.Header.Del("X-Consul-Token")
		if t.token != "" {
			req.Header.Set("X-Consul-Token", t.token)
		}
	}
	// CONSUL_HTTP_AUTH is read only by api.DefaultConfig, which the
	// runner's configs do not come from: no step sends basic auth.
	req.Header.Del("Authorization")
	if q := req.URL.Query(); q.Has("ns") || q.Has("partition") {
		q.Del("ns")
		q.Del("partition")
		req.URL.RawQuery = q.Encode()
	}
	return t.base.RoundTrip(req)
}

// placeholderToken is a token no caller's environment holds.
func placeholderToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "scenario-placeholder-" + hex.EncodeToString(b)
}
