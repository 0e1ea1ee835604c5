package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/scenario-tool/scenario/proc"
	"github.com/scenario-tool/scenario/steps"
)

// The environment policy: what each process the run starts is given of
// the caller's environment and of the mesh (its Consul variables, token,
// working directory), chosen by its role.

// consulClientVars are the variables through which Consul's CLI and its
// Go API client (api.DefaultConfig, which api.NewClient reads again)
// choose the agent they talk to (CONSUL_HTTP_ADDR), as whom
// (CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_AUTH), over what
// (CONSUL_HTTP_SSL and _SSL_VERIFY, CONSUL_CACERT, CONSUL_CAPATH,
// CONSUL_CLIENT_CERT and _KEY, CONSUL_TLS_SERVER_NAME), in which namespace
// and partition, and, for consul connect envoy, the agent's gRPC port
// (CONSUL_GRPC_*). The caller's are about the caller's cluster: a process
// aimed at the scenario's own agent must not get them, or the caller's
// environment decides what the scenario claims. CONSUL_HTTP_TOKEN_FILE,
// for one, wins over the CONSUL_HTTP_TOKEN the runner sets: a sidecar
// given a service's token ran as the management token the caller's file
// held, and a scenario claiming that each sidecar runs with its own
// identity passed while false.
var consulClientVars = []string{
	"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_AUTH",
	"CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY", "CONSUL_CACERT", "CONSUL_CAPATH",
	"CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY", "CONSUL_TLS_SERVER_NAME",
	"CONSUL_NAMESPACE", "CONSUL_PARTITION",
	"CONSUL_GRPC_ADDR", "CONSUL_GRPC_CACERT", "CONSUL_GRPC_CAPATH",
}

// Whose Consul identity a process of the scenario acts with.
const (
	// asCommand: a user command (run, exec). Against the scenario's own
	// agent it gets the agent's token, or the caller's CONSUL_HTTP_TOKEN
	// when set (a user may run commands as themselves), and no other of
	// the caller's Consul variables; against an existing cluster (run
	// --agent), the caller's variables are how to reach that cluster and
	// are all kept.
	asCommand = iota
	// asRunner: a process acting as the runner chooses, whatever the
	// caller's environment says: a sidecar (with its step's token, else
	// the agent's), or a consul command the runner runs itself
	// (config-entry).
	asRunner
)

func (s *session) commandEnv(node string) (string, []string) {
	return s.workDir, s.processEnv(node, asCommand, "")
}

// processEnv is the environment of a process on node: the caller's, with
// the scenario's agent, tokens, nodes and consul. token, when set, is the
// one the process acts with instead of the agent's.
func (s *session) processEnv(node string, as int, token string) []string {
	env := os.Environ()
	set := func(key, value string) { env = withVar(env, key, value) }
	s.mu.Lock()
	agentToken, addr := "", ""
	if a, _ := s.agentOf(node); a != nil {
		agentToken, addr = a.cfg.Token, a.cfg.Address
	}
	// The tokens acl-token steps made, for commands that need one:
	// SCENARIO_TOKEN_WEB_TOKEN for web-token.
	for name, secret := range s.tokens {
		set("SCENARIO_TOKEN_"+envName(name), secret)
	}
	s.mu.Unlock()
	callerToken := os.Getenv("CONSUL_HTTP_TOKEN")
	switch {
	case as == asRunner:
		env = withoutVars(env, consulClientVars...)
	case !s.external:
		// The scenario's own agent: the caller's variables are about
		// another cluster. Their CONSUL_HTTP_TOKEN alone is kept, used
		// as is, so that a user may run commands as themselves; their
		// token file goes, or it would win over that token.
		env = withoutVars(env, slices.DeleteFunc(slices.Clone(consulClientVars), func(v string) bool { return v == "CONSUL_HTTP_TOKEN" })...)
		if callerToken != "" {
			agentToken = ""
		}
	case callerToken != "":
		// The existing cluster's token is the caller's, already there.
		agentToken = ""
	}
	if addr != "" {
		set("CONSUL_HTTP_ADDR", addr)
	}
	if token == "" {
		token = agentToken
	}
	if token != "" {
		s.redactor.learn(token)
		set("CONSUL_HTTP_TOKEN", token)
		// A token file would win over it.
		env = withoutVars(env, "CONSUL_HTTP_TOKEN_FILE")
	}
	if n, ok := s.node(node); ok {
		// A command on a node knows where it is: to bind the node's
		// address, say.
		set("SCENARIO_NODE", node)
		set("SCENARIO_NODE_ADDR", n.Addr().String())
	}
	// Every node's address, for commands that reach another node:
	// SCENARIO_NODE_APP2_ADDR for app2.
	for _, name := range s.cluster.Nodes {
		if n, ok := s.node(name); ok {
			set("SCENARIO_NODE_"+envName(name)+"_ADDR", n.Addr().String())
		}
	}
	if dir := s.consulDir(); dir != "" {
		set("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return env
}

// envName is name as a part of an environment variable's name:
// upper case, with - and . as _.
func envName(name string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// consulDir is a folder whose `consul` is the scenario's consul binary,
// for commands' PATH: the binary's own folder when it is called consul,
// else a link in the run's log folder (bin/consul-1.14.11 beside a
// bin/consul of another version: a CLI of one version against an agent of
// another fails in ways that test nothing).
func (s *session) consulDir() string {
	if s.consulBin == "" {
		return ""
	}
	bin, err := filepath.Abs(s.consulBin)
	if err != nil {
		return ""
	}
	if filepath.Base(bin) == "consul" {
		return filepath.Dir(bin)
	}
	dir := filepath.Join(s.RunDir(), ".bin")
	link := filepath.Join(dir, "consul")
	if target, err := os.Readlink(link); err == nil && target == bin {
		return dir
	}
	if err := os.MkdirAll(dir, proc.DirMode); err != nil {
		return filepath.Dir(bin)
	}
	_ = os.Remove(link)
	if err := os.Symlink(bin, link); err != nil {
		return filepath.Dir(bin)
	}
	return dir
}

// environment is the environment and working directory ("": the
// runner's) of a process of role on node; token, when set, is its step's.
func (s *session) environment(node string, role steps.Role, token string) (env []string, dir string) {
	switch role {
	case steps.RoleAgent:
		// The agent is the runner's: what it runs (script checks, watch
		// handlers) inherits its environment and must reach it, not the
		// caller's cluster or identity.
		return withoutVars(os.Environ(), consulClientVars...), ""
	case steps.RoleSidecar:
		// A sidecar gets the mesh as the runner chooses: its step's
		// token, else the agent's (when ACLs are on).
		return s.processEnv(node, asRunner, token), ""
	default:
		// A user command (run) gets the mesh and runs beside the scenario.
		return s.processEnv(node, asCommand, token), s.workDir
	}
}

// withoutVars is env without the variables named.
func withoutVars(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, name)
	})
}

// withVar is env with key set to value.
func withVar(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}
