package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-tool/scenario/internal/testenv"
)

// aclFileToken is the management token acl.hcl gives the agent in
// TestACLsEnabledOnlyByAConfigFileInArgsAreTheRunners.
const aclFileToken = "7a0f3c2e-9d4b-4e1a-8c6f-2b5d7e9a1c34"

// ACLs enabled only by a -config-file in start-agent.args (relative to the
// scenario file), with a default deny and a management token: the runner
// reads them as the agent does, so its registrations and sidecars carry
// the token, the deny is the default's, and one allow opens the way.
// Before, the runner knew no token and every registration was refused.
func TestACLsEnabledOnlyByAConfigFileInArgsAreTheRunners(t *testing.T) {
	needMesh(t)
	dir := t.TempDir()
	writeScenario(t, dir, "acl.hcl", `acl {
  enabled        = true
  default_policy = "deny"
  tokens {
    initial_management = "`+aclFileToken+`"
    agent              = "`+aclFileToken+`"
  }
}
`)
	consulD := filepath.Join(repoRoot, "consul.d")
	file := writeScenario(t, dir, "acl-from-file.yaml", `name: acl-from-file
steps:
  - start-agent: {args: [-config-file, acl.hcl, -hcl, 'performance { rpc_hold_timeout = "1s" }']}
  - register: `+filepath.Join(consulD, "socat.json")+`
  - register: `+filepath.Join(consulD, "web.json")+`
  - run: {name: socat, command: "socat TCP-LISTEN:8181,bind=127.0.0.1,reuseaddr,fork EXEC:cat", ready: 127.0.0.1:8181}
  - sidecar: socat
  - sidecar: web
  - name: with no intention, web is denied by default
    expect: {to: web/socat, send: "web\n", denied: true, within: 10s}
  - set-intention: {source: web, destination: socat, action: allow}
  - name: one allow opens web -> socat
    expect: {to: web/socat, send: "web\n", reply: "web\n", within: 10s}
  - name: the CLI agrees, with the scenario's token
    exec: {command: "consul intention check web socat", stdout: "Allowed"}
`)
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
	outputHas(t, "output", r.stdout, "--- PASS acl-from-file")
	if strings.Contains(r.stdout+r.stderr, aclFileToken) {
		t.Errorf("the token of the config file was printed:\n%s%s", r.stdout, r.stderr)
	}
	log, err := os.ReadFile(filepath.Join(r.logs, "acl-from-file", "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The agent was given the file by its absolute path: it runs in the
	// runner's directory, not the scenario's.
	if header, _, _ := strings.Cut(string(log), "\n"); !strings.Contains(header, "-config-file "+filepath.Join(dir, "acl.hcl")) {
		t.Errorf("the agent's command line does not give it %s: %s", filepath.Join(dir, "acl.hcl"), header)
	}
}

// leave_on_terminate = true given by a -config-dir in start-agent.args
// makes the client leave at cleanup while the server still runs to hear
// it: the runner neither turns the leave off (its own -hcl would win over
// any config file) nor stops the server beside the client.
func TestLeaveOnTerminateFromAConfigDirInArgsMakesTheClientLeave(t *testing.T) {
	needMesh(t, namespaces, testenv.Program("curl"))
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "leave"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeScenario(t, dir, "leave/leave.hcl", "leave_on_terminate = true\n")
	file := writeScenario(t, dir, "leave-from-dir.yaml", `name: leave-from-dir
nodes: [server, app1]
steps:
  - {start-agent: {dev: true}, node: server}
  - {start-agent: {args: [-config-dir, leave]}, node: app1}
  - name: the client runs with leave_on_terminate, as its config dir says
    node: app1
    exec: {command: "curl -sf http://127.0.0.1:8500/v1/agent/self", stdout: '"LeaveOnTerm": ?true'}
`)
	r := scenario(t, "run", file)
	r.mustExit(t, 0)
	log, err := os.ReadFile(filepath.Join(r.logs, "leave-from-dir", "server", "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "EventMemberLeave: app1") {
		t.Errorf("the server never heard app1 leave: it was stopped first, or app1 did not leave\n%s", log)
	}
}
