package runner

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/scenario-tool/scenario/scenariofile/spec"
	"github.com/scenario-tool/scenario/steps"
)

// testEnvsSecret is the token test-envs makes.
const testEnvsSecret = "b5b4d046-9265-673f-817f-416fa5d98ff6"

func init() {
	// test-token makes a token; test-envs starts an "agent" and a sidecar
	// with it that print their environment, and then a partial line with
	// the secret cut to 20 bytes, and end.
	testTypes = append(testTypes, funcType("test-token", func(ctx context.Context, env steps.Env) error {
		env.SetToken("web-token", testEnvsSecret)
		return nil
	}))
	testTypes = append(testTypes, testType("test-envs", 5*time.Second, func() steps.Step {
		return funcStep{label: "test-envs", run: func(ctx context.Context, env steps.Env) error {
			for _, start := range []struct {
				name string
				opts []steps.StartOption
			}{{spec.AgentName, []steps.StartOption{{Role: steps.RoleAgent}}}, {spec.SidecarProcess("web"), []steps.StartOption{{Token: testEnvsSecret, Role: steps.RoleSidecar}}}} {
				p, err := env.Start(start.name, []string{"/bin/sh", "-c", `env; printf 'SecretID: %.20s' ` + testEnvsSecret}, start.opts...)
				if err != nil {
					return err
				}
				<-p.Done()
			}
			return nil
		}}
	}))
}

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

// The agent the runner starts inherits none of the caller's Consul
// variables; a sidecar's only the runner's; and what processes print
// reaches their logs redacted, as what exec's commands print does, a
// partial last line and a secret cut short included.
func TestProcessesAndLogsUnderACallersEnvironment(t *testing.T) {
	const secret = testEnvsSecret
	callerConsulEnv(t)
	t.Setenv("CONSUL_HTTP_TOKEN", "")
	src := "name: s\nsteps:\n  - test-token: {}\n" +
		"  - exec: {command: 'echo \"token is $SCENARIO_TOKEN_WEB_TOKEN\"; printf \"%.12s\" \"$SCENARIO_TOKEN_WEB_TOKEN\"'}\n" +
		"  - test-envs: {}\n"
	// The processes of the last step end by themselves: the run fails for
	// it, which is not what this test looks at.
	res, out := runSource(t, src, context.Background())
	logs := res.LogsDir
	for _, name := range []string{"agent.log", "sidecar-web.log", "exec.log"} {
		data, err := os.ReadFile(filepath.Join(logs, name))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		text := string(data)
		if piece := longestPiece(text, secret); len(piece) >= minPiece {
			t.Errorf("%s shows %q of the secret:\n%s", name, piece, text)
		}
		if !strings.Contains(text, Redacted) {
			t.Errorf("%s has nothing redacted:\n%s", name, text)
		}
		if name == "exec.log" {
			continue
		}
		env := map[string]string{}
		for _, line := range strings.Split(text, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONSUL_") {
				env[k] = v
			}
		}
		for _, v := range consulClientVars {
			_, has := env[v]
			// No agent was started: no address.
			if want := name == "sidecar-web.log" && v == "CONSUL_HTTP_TOKEN"; has != want {
				t.Errorf("%s: %s set: %v, want %v", name, v, has, want)
			}
		}
		if !slices.Contains(strings.Split(text, "\n"), "SecretID: "+Redacted) {
			t.Errorf("%s: the partial last line is not there, redacted:\n%s", name, text)
		}
	}
	if strings.Contains(out, secret[:minPiece]) {
		t.Errorf("the report shows the secret:\n%s", out)
	}
}

// A process's environment follows its typed role, whatever its name: the
// agent gets none of the caller's Consul variables, a sidecar the
// runner's choice, a command the caller's token and the scenario's
// folder.
func TestProcessEnvironmentFollowsTheRole(t *testing.T) {
	const mgmt = "mgmt-5b7d3f0a-1c2e"
	s := &session{redactor: newRedactor(), workDir: "/scenario-dir",
		agents: map[string]*agentState{"": {cfg: &api.Config{Address: "127.0.0.1:8500", Token: mgmt}}}}
	callerConsulEnv(t)
	t.Setenv("CONSUL_HTTP_TOKEN", "callers-token")
	agent, agentDir := s.environment("", steps.RoleAgent, "")
	for _, v := range consulClientVars {
		if _, ok := envMap(agent)[v]; ok {
			t.Errorf("the agent's environment has %s", v)
		}
	}
	sidecar, sidecarDir := s.environment("", steps.RoleSidecar, "")
	if got := envMap(sidecar)["CONSUL_HTTP_TOKEN"]; got != mgmt {
		t.Errorf("a sidecar's token is %q, want the agent's", got)
	}
	command, commandDir := s.environment("", steps.RoleCommand, "")
	if got := envMap(command)["CONSUL_HTTP_TOKEN"]; got != "callers-token" {
		t.Errorf("a command's token is %q, want the caller's", got)
	}
	if agentDir != "" || sidecarDir != "" || commandDir != "/scenario-dir" {
		t.Errorf("working dirs: agent %q, sidecar %q, command %q; only a command runs in the scenario's folder", agentDir, sidecarDir, commandDir)
	}
}
