package runner

import (
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// callerConsulEnv sets, as a caller's shell might, every Consul client
// variable, aimed at another cluster and identity.
func callerConsulEnv(t *testing.T) {
	t.Helper()
	for _, v := range consulClientVars {
		t.Setenv(v, "caller-"+strings.ToLower(v))
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Which of the caller's Consul variables each process keeps: a process
// acting as the runner (a sidecar, config-entry's consul) none, with the
// step's token or the agent's; a user command none but the caller's
// CONSUL_HTTP_TOKEN (theirs to use), else the agent's token; the same
// command against an existing cluster (run --agent) all of them.
func TestProcessEnvironments(t *testing.T) {
	const mgmt, step = "mgmt-5b7d3f0a-1c2e", "step-0c1d2e3f4a5b"
	newSession := func(external bool) *session {
		return &session{redactor: newRedactor(), external: external,
			agents: map[string]*agentState{"": {cfg: &api.Config{Address: "127.0.0.1:8500", Token: mgmt}}}}
	}
	only := func(env map[string]string, want map[string]string) []string {
		var wrong []string
		for _, v := range consulClientVars {
			if env[v] != want[v] {
				wrong = append(wrong, v+"="+env[v]+" (want "+want[v]+")")
			}
		}
		return wrong
	}
	callerConsulEnv(t)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	own := map[string]string{"CONSUL_HTTP_ADDR": "127.0.0.1:8500", "CONSUL_HTTP_TOKEN": mgmt}
	for name, c := range map[string]struct {
		env  []string
		want map[string]string
	}{
		"sidecar with a token":   {newSession(false).processEnv("", asRunner, step), map[string]string{"CONSUL_HTTP_ADDR": "127.0.0.1:8500", "CONSUL_HTTP_TOKEN": step}},
		"sidecar":                {newSession(false).processEnv("", asRunner, ""), own},
		"command":                {newSession(false).processEnv("", asCommand, ""), own},
		"command, existing clus": {newSession(true).processEnv("", asCommand, ""), nil},
	} {
		want := c.want
		if want == nil {
			// All the caller's, but the address (--agent's) and the token
			// (the caller's CONSUL_HTTP_TOKEN is empty: the agent's).
			want = map[string]string{}
			for _, v := range consulClientVars {
				want[v] = "caller-" + strings.ToLower(v)
			}
			want["CONSUL_HTTP_ADDR"], want["CONSUL_HTTP_TOKEN"], want["CONSUL_HTTP_TOKEN_FILE"] = "127.0.0.1:8500", mgmt, ""
		}
		if wrong := only(envMap(c.env), want); len(wrong) > 0 {
			t.Errorf("%s: %s", name, strings.Join(wrong, ", "))
		}
	}

	// The caller's own CONSUL_HTTP_TOKEN: kept for commands, alone; never
	// for a sidecar.
	t.Setenv("CONSUL_HTTP_TOKEN", "callers-token")
	cmd := envMap(newSession(false).processEnv("", asCommand, ""))
	if wrong := only(cmd, map[string]string{"CONSUL_HTTP_ADDR": "127.0.0.1:8500", "CONSUL_HTTP_TOKEN": "callers-token"}); len(wrong) > 0 {
		t.Errorf("command with the caller's token: %s", strings.Join(wrong, ", "))
	}
	side := envMap(newSession(false).processEnv("", asRunner, ""))
	if wrong := only(side, own); len(wrong) > 0 {
		t.Errorf("sidecar with the caller's token set: %s", strings.Join(wrong, ", "))
	}
}
